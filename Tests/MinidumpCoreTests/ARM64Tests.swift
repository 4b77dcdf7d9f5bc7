import Testing
@testable import MinidumpCore
import VMCoreBuilder

/// Every arm64 version and page size the reader takes: v1 and v2 (4 KiB), v3 with 4 KiB and 16 KiB.
private let layouts: [(version: UInt32, granule: ARM64DumpDescription.Granule)] = [
    (1, .size4K), (2, .size4K), (3, .size4K), (3, .size16K),
]

private func generated(_ version: UInt32, _ granule: ARM64DumpDescription.Granule, seed: UInt64 = 0) throws -> GeneratedARM64Dump {
    try generateARM64Dump(ARM64Fixture.description(version: version, granule: granule, seed: seed))
}

private func open(_ bytes: [UInt8], _ name: String = "arm64") throws -> Dump { try Dump(contents: bytes, name: name) }

/// The problem opening `bytes` throws, or nil if it opens.
private func problem(_ bytes: [UInt8]) -> DumpError.Problem? {
    do { _ = try Dump(contents: bytes, name: "x"); return nil } catch { return error.problem }
}

/// Bit 54-48 PAC signature and a TBI top byte: what a signed kernel pointer may carry.
private func tagged(_ va: UInt64, _ k: UInt64) -> UInt64 {
    k % 2 == 0 ? va ^ 0x007f_0000_0000_0000 : (va & 0x00ff_ffff_ffff_ffff) | 0x5a00_0000_0000_0000
}

@Suite struct ARM64Tests {
    @Test(arguments: layouts.indices)
    func headerAndLayoutFollowThePageSize(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let g = try generated(version, granule)
        let t = g.truth
        let dump = try open(g.bytes)
        #expect(dump.header.architecture == "arm64" && dump.header.version == version)
        #expect(dump.pageSize == granule.rawValue && dump.layout.pageSize == granule.rawValue)
        #expect(dump.layout.header.length == granule.rawValue)
        #expect(dump.layout.messageBuffer.offset.rawValue == t.msgbufOffset)
        #expect(dump.layout.dumpAvail.length == UInt64(t.dumpAvailSize))
        #expect(dump.layout.bitmap.offset.rawValue == t.bitmapOffset)
        #expect(dump.layout.pageTableMap.offset.rawValue == t.pmapOffset)
        #expect(dump.layout.data.offset.rawValue == t.dataOffset)
        #expect(dump.layout.expectedFileSize == t.fileSize && dump.fileSize == t.fileSize)
        #expect(dump.dumpedPageCount == UInt64(t.dumpedPages.count))
        #expect(dump.findings.isEmpty, "\(dump.findings)")
        let fields = Dictionary(uniqueKeysWithValues: dump.header.fields.map { ($0.name, $0.value) })
        #expect(fields["dmapphys"] == t.dmapPhys && fields["flags"] == UInt64(t.flags))
        #expect(fields["kernbase"] == t.kernbase && fields["dmapend"] == t.dmapEnd)
        #expect(dump.kernelMapRange == t.kernbase...(t.kernbase + UInt64(t.l3Map.count) * t.pageSize - 1))
        if version >= 2 {
            #expect(dump.physicalRanges.map { $0.start.rawValue..<$0.end.rawValue } == t.physicalRanges)
            #expect(dump.physicalRanges.map(\.pageCount) == t.physicalRanges.map { ($0.upperBound - $0.lowerBound) / granule.rawValue })
        } else {
            #expect(dump.physicalRanges.count == 1 && dump.physicalRanges[0].start.rawValue == 0)
        }
    }

    @Test(arguments: layouts.indices)
    func kernelMapTranslationsMatchTruthAndModel(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let ps = granule.rawValue
        let g = try generated(version, granule, seed: 7)
        let t = g.truth
        let dump = try open(g.bytes)
        let model = ARM64ReferenceModel(bytes: g.bytes)
        #expect(!t.kernelPages.isEmpty && t.kernelPages.contains { !$0.present })
        for page in t.kernelPages {
            for va in [page.va, page.va + 8, page.va + ps - 1] {
                #expect(t.physicalAddress(ofVirtual: va) == page.pa + (va - page.va))
                if page.present {
                    let tr = try dump.translate(VirtualAddress(va))
                    #expect(tr.map == .kernelMap && tr.pageSize.bytes == ps)
                    #expect(tr.physicalAddress.rawValue == page.pa + (va - page.va))
                    #expect(tr.fileOffset.rawValue == t.fileOffset(ofPhysical: page.pa + (va - page.va)))
                    #expect(Int(tr.fileOffset.rawValue) == model.fileOffset(ofVirtual: va))
                    #expect(tr.contiguousBytes == ps - (va - page.va))
                    #expect(tr.walk.mapIndex == (page.va - t.kernbase) / ps && tr.walk.pte == t.l3Map[Int((page.va - t.kernbase) / ps)])
                    #expect(tr.walk.canonicalAddress == nil)
                } else {
                    #expect(throws: TranslationError.self) { try dump.translate(VirtualAddress(va)) }
                    #expect(model.fileOffset(ofVirtual: va) == nil)
                }
            }
            if page.present {
                let read = dump.read(VirtualAddress(page.va), count: Int(ps))
                #expect(read.error == nil && read.bytes == t.bytes(atVirtual: page.va, count: Int(ps)))
            }
        }
    }

    @Test(arguments: layouts.indices)
    func directMapIsTestedFirstAndUsesDmapphys(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let ps = granule.rawValue
        let g = try generated(version, granule, seed: 3)
        let t = g.truth
        let dump = try open(g.bytes)
        let model = ARM64ReferenceModel(bytes: g.bytes)
        #expect(t.dmapPhys == ARM64Fixture.physicalRanges[0].lowerBound && t.dmapPhys != 0)
        for pa in t.dumpedPages {
            let va = t.dmapBase + pa - t.dmapPhys + 0x123
            let tr = try dump.translate(VirtualAddress(va))
            #expect(tr.map == .directMap && tr.physicalAddress.rawValue == pa + 0x123)
            #expect(tr.fileOffset.rawValue == t.fileOffset(ofPhysical: pa + 0x123))
            #expect(Int(tr.fileOffset.rawValue) == model.fileOffset(ofVirtual: va))
            #expect(dump.directMapAddress(ofPhysical: PhysicalAddress(pa)) == VirtualAddress(va - 0x123))
            #expect(dump.physicalPage(PhysicalAddress(pa)) == t.page(atPhysical: pa))
        }
        // Below dmapphys the direct map does not reach; a DMAP VA of RAM not dumped says so.
        #expect(dump.directMapAddress(ofPhysical: PhysicalAddress(t.dmapPhys - ps)) == nil)
        let hole = t.dmapBase + (ARM64Fixture.physicalRanges[0].upperBound - t.dmapPhys)
        #expect(throws: TranslationError.self) { try dump.translate(VirtualAddress(hole)) }
        #expect(model.fileOffset(ofVirtual: hole) == nil)
        // Reads across a page boundary in the direct map.
        let pa = t.msgbufPhysicalAddress
        let read = dump.read(VirtualAddress(t.dmapBase + pa - t.dmapPhys + ps - 10), count: 20)
        #expect(read.error == nil && read.bytes == t.bytes(atVirtual: t.dmapBase + pa - t.dmapPhys + ps - 10, count: 20))
    }

    @Test(arguments: layouts.indices)
    func taggedPointersAreCanonicalisedAndSaidSo(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let g = try generated(version, granule)
        let t = g.truth
        let dump = try open(g.bytes)
        let model = ARM64ReferenceModel(bytes: g.bytes)
        let vas = t.kernelPages.filter(\.present).map { $0.va + 0x40 } + [t.dmapBase + (t.msgbufPhysicalAddress - t.dmapPhys)]
        for (k, va) in vas.enumerated() {
            let tag = tagged(va, UInt64(k))
            #expect(tag != va)
            let plain = try dump.translate(VirtualAddress(va))
            let signed = try dump.translate(VirtualAddress(tag))
            #expect(signed.physicalAddress == plain.physicalAddress && signed.fileOffset == plain.fileOffset)
            #expect(signed.virtualAddress.rawValue == tag && signed.walk.canonicalAddress == VirtualAddress(va))
            #expect(model.fileOffset(ofVirtual: tag) == Int(plain.fileOffset.rawValue))
            let steps = dump.walkSteps(of: signed)
            #expect(steps.contains { $0.name.text == "canonical-va" && $0.value == va })
            #expect(!steps.contains { $0.name.text == "pde" || $0.name.text == "pt-page" })
        }
        // The fixture's panicstr holds a PAC-signed pointer: reading through it works.
        let text = dump.read(VirtualAddress(ARM64Fixture.taggedPanicStringAddress), count: 10)
        #expect(text.error == nil && text.bytes == Array(ARM64Fixture.panicString.utf8))
    }

    @Test(arguments: layouts.indices)
    func invalidAndOutsideAddressesNameTheStep(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let ps = granule.rawValue
        let g = try generated(version, granule)
        let t = g.truth
        let dump = try open(g.bytes)
        let reservedIndex = Int((0xc_0000) / ps)
        #expect(t.l3Map[reservedIndex] & 3 == 1)
        #expect(throws: TranslationError(virtualAddress: VirtualAddress(t.kernbase + 0xc_0000), reason: .mapEntryInvalid(
            index: UInt64(reservedIndex), entry: t.l3Map[reservedIndex], kind: "L3 entry")))
        {
            try dump.translate(VirtualAddress(t.kernbase + 0xc_0000))
        }
        let below: UInt64 = 0xfffe_ff00_0000_0000
        #expect(throws: TranslationError(virtualAddress: VirtualAddress(below), reason: .outsideMaps(
            kernelMap: dump.kernelMapRange, directMap: t.dmapBase...(t.dmapEnd - 1)))) { try dump.translate(VirtualAddress(below)) }
        let past = t.kernbase + UInt64(t.l3Map.count) * ps
        #expect(throws: TranslationError.self) { try dump.translate(VirtualAddress(past)) }
        // The device page outside RAM: valid entry, page in no range.
        let device = try #require(t.kernelPage(at: t.kernbase + 0x8_0000))
        #expect(device.pa == 0x0900_0000 && !device.present)
        do {
            _ = try dump.translate(VirtualAddress(device.va))
            Issue.record("the device page translated")
        } catch {
            if version >= 2 {
                #expect(error.reason == .physicalAddressOutsideRanges(PhysicalAddress(0x0900_0000)))
            } else {
                #expect(error.reason == .pageNotDumped(PhysicalAddress(0x0900_0000), bit: 0x0900_0000 / ps))
            }
        }
    }

    @Test(arguments: layouts.indices)
    func pagesStatsAndDirectMapOnlyPages(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let ps = granule.rawValue
        let g = try generated(version, granule, seed: 11)
        let t = g.truth
        let dump = try open(g.bytes)
        let pages = dump.kernelPages()
        #expect(pages.map(\.virtualAddress.rawValue) == t.kernelPages.map(\.va))
        #expect(pages.map(\.physicalAddress.rawValue) == t.kernelPages.map(\.pa))
        #expect(pages.map(\.writable) == t.kernelPages.map(\.writable))
        #expect(pages.map(\.executable) == t.kernelPages.map(\.executable))
        #expect(pages.map { $0.presentPages == 1 } == t.kernelPages.map(\.present))
        #expect(pages.allSatisfy { $0.size.bytes == ps })
        // Synthetic block entries read as writable and executable; noise bits do not leak into the PA.
        #expect(t.kernelPages.filter { $0.va >= t.kernbase + (ps * ps / 8) }.allSatisfy { $0.writable && $0.executable })
        #expect(t.kernelPages.allSatisfy { $0.pa & 0xfffc_0000_0000_0000 == 0 })
        let mapped = Set(t.kernelPages.map(\.pa))
        let directOnly = t.dumpedPages.filter { !mapped.contains($0) }
        #expect(directOnly.count > t.directMapOnlyPages.count)  // the msgbuf's pages too
        #expect(Set(t.directMapOnlyPages).isSubset(of: Set(directOnly)))
        #expect(dump.directMapOnlyPages().map(\.rawValue) == directOnly)
        let stats = dump.statistics()
        let counts = Dictionary(uniqueKeysWithValues: stats.counts.map { ($0.key, $0.value) })
        #expect(counts["direct_map_only_pages"] == UInt64(directOnly.count))
        #expect(counts["kernel_map_l3_pages"] == UInt64(t.kernelPages.count))
        #expect(counts["kernel_map_2m_pages"] == nil && counts["kernel_map_4k_pages"] == nil)
        #expect(counts["physical_bytes_dumped"] == UInt64(t.dumpedPages.count) * ps)
        #expect(counts["kernel_map_entries"] == UInt64(t.l3Map.count))
        let ranges = dump.pageRanges(includeDirectMap: true)
        let dmapRanges = ranges.filter { $0.map == .directMap }
        #expect(dmapRanges.reduce(0) { $0 + $1.size } == UInt64(directOnly.count) * ps)
        #expect(dmapRanges.allSatisfy { $0.virtualStart == t.dmapBase + $0.physicalStart - t.dmapPhys && $0.pageSize == ps })
        #expect(ranges.filter { $0.map == .kernelMap }.reduce(0) { $0 + $1.size } == UInt64(t.kernelPages.count) * ps)
    }

    @Test(arguments: layouts.indices)
    func messageBufferThroughTheSectionAndTheDirectMap(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let g = try generated(version, granule)
        let t = g.truth
        let dump = try open(g.bytes)
        let buffer = dump.messageBuffer()
        guard case .structure(let found) = buffer.source else {
            Issue.record("no struct msgbuf: \(buffer.source)")
            return
        }
        #expect(found.ringAddress.rawValue == t.msgbufVirtualAddress && found.size == t.msgbufSize)
        #expect(buffer.text == t.messageText)
        let structVA = try #require(t.msgbufStructVirtualAddress)
        let pointer = try dump.readUInt64(VirtualAddress(structVA))
        #expect(pointer == t.msgbufVirtualAddress)
        let ring = dump.read(VirtualAddress(t.msgbufVirtualAddress), count: Int(t.msgbufSize))
        #expect(ring.error == nil && ring.bytes == buffer.ring)
    }

    @Test func physicalReadsCrossPagesInTheDumpsPageSize() throws {
        let g = try generated(3, .size16K)
        let t = g.truth
        let dump = try open(g.bytes)
        let pa = t.msgbufPhysicalAddress + 0x4000 - 5
        let read = dump.readPhysical(PhysicalAddress(pa), count: 10)
        #expect(read.error == nil && read.bytes == (0..<10).map { t.byte(atPhysical: pa + $0)! })
        #expect(dump.fileOffset(ofPhysical: PhysicalAddress(pa))?.rawValue == t.fileOffset(ofPhysical: pa))
        #expect(dump.dataPageNumber(ofPhysical: PhysicalAddress(pa)) == UInt64(t.dumpedPages.firstIndex(of: pa & ~0x3fff)!))
        var runs = 0
        dump.forEachDumpedRun { start, first, count in
            runs += 1
            #expect(t.dumpedPages[Int(first)] == start.rawValue)
            #expect(t.dumpedPages[Int(first + count - 1)] == start.rawValue + (count - 1) * 0x4000)
            return true
        }
        #expect(runs > 0)
    }

    // MARK: Corruptions

    @Test(arguments: layouts.indices)
    func everyCorruptVariantIsReportedByFieldAndValue(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let ps = granule.rawValue
        let g = try generated(version, granule)
        let t = g.truth
        for c in ARM64Corruption.allCases {
            guard let bytes = corrupt(g, c) else {
                #expect(c == .flag16KOn4KLayout || c == .pageSizeCode2 || c == .pageSizeCode3 || c == .dumpAvailSizeZero,
                        "\(c) skipped")
                continue
            }
            let found = problem(bytes)
            func field(_ f: String, _ value: UInt64) {
                guard case .invalidField(let name, let v, _)? = found, name == f, v == value else {
                    Issue.record("\(c): \(String(describing: found))")
                    return
                }
            }
            switch c {
            case .flag16KOn4KLayout:
                field("flags", 1)
                #expect(found?.description.contains("dumpavailsize 0x1000 is not a multiple of 0x4000") == true)
            case .pageSizeCode2: field("flags", 2)
            case .pageSizeCode3: field("flags", 3)
            case .dmapPhysBeyondRAM:
                field("dmapphys", t.describedMemoryEnd + 0x10_0000)
                #expect(found?.description.contains("beyond the physical memory") == true)
            case .dmapPhysMisaligned: #expect(found == .misaligned(field: "dmapphys", value: t.dmapPhys + 0x800, alignment: ps))
            case .dmapPhysOverflow: field("dmapphys", 0 &- ps * 16)
            case .pmapSizeMisaligned: #expect(found == .misaligned(field: "pmapsize", value: UInt64(t.pmapSize) - 8, alignment: ps))
            case .pmapSizeZero: field("pmapsize", 0)
            case .version4: #expect(found == .unsupportedVersion(4, supported: 1...3))
            case .dumpAvailSizeZero: field("dumpavailsize", 0)
            case .kernbaseMisaligned: #expect(found == .misaligned(field: "kernbase", value: t.kernbase + 0x800, alignment: ps))
            case .directMapInverted: field("dmapend", t.dmapBase)
            case .shortL3Map:
                #expect(found == nil)
                let dump = try open(bytes)
                let lastRegion = t.kernbase + UInt64(t.l3Map.count) * ps - ps * ps / 8
                #expect(dump.kernelMapRange == t.kernbase...(lastRegion - 1))
                #expect(throws: TranslationError(virtualAddress: VirtualAddress(lastRegion), reason: .outsideMaps(
                    kernelMap: dump.kernelMapRange, directMap: t.dmapBase...(t.dmapEnd - 1)))) {
                    try dump.translate(VirtualAddress(lastRegion))
                }
                // The data after the shorter map is still read right.
                let page = try #require(t.kernelPages.first { $0.present })
                #expect(dump.read(VirtualAddress(page.va), count: 64).bytes == t.bytes(atVirtual: page.va, count: 64))
            case .truncatedInPmap:
                #expect(found == nil)
                let dump = try open(bytes)
                #expect(dump.findings.contains(.pageTableMapTruncated(entriesPresent: 3, entries: UInt64(t.l3Map.count))))
                let page = try #require(t.kernelPages.last)
                let index = (page.va - t.kernbase) / ps
                #expect(throws: TranslationError(virtualAddress: VirtualAddress(page.va), reason: .mapEntryPastEndOfFile(
                    index: index, offset: FileOffset(t.pmapOffset + index * 8)))) { try dump.translate(VirtualAddress(page.va)) }
            case .truncatedInsideDataPage:
                #expect(found == nil)
                let dump = try open(bytes)
                #expect(dump.isTruncated && dump.findings.contains { if case .truncated = $0 { true } else { false } })
                let last = try #require(t.dumpedPages.last)
                #expect(throws: TranslationError.self) { try dump.translate(VirtualAddress(t.dmapBase + last - t.dmapPhys)) }
                let first = try #require(t.dumpedPages.first)
                #expect(try dump.translate(VirtualAddress(t.dmapBase + first - t.dmapPhys)).physicalAddress.rawValue == first)
            }
        }
    }

    /// The flag check needs the sizes the writer rounds: a real 16 KiB dump passes it.
    @Test func a16KDumpPassesTheLayoutCheckAndA4KOneFlaggedFails() throws {
        let big = try generated(3, .size16K)
        #expect(problem(big.bytes) == nil)
        #expect(big.truth.dumpAvailSize == 0x4000 && big.truth.bitmapSize % 0x4000 == 0 && big.truth.pmapSize % 0x4000 == 0)
        let small = try generated(3, .size4K)
        #expect(problem(corrupt(small, .flag16KOn4KLayout)!) != nil)
    }

    // MARK: Hostile input

    /// Mutations of the header, dump_avail, bitmap and map of every layout never crash or hang,
    /// and whatever opens answers translations, statistics and page walks.
    @Test(arguments: layouts.indices)
    func mutatedDumpsNeverCrash(_ i: Int) throws {
        let (version, granule) = layouts[i]
        let g = try generated(version, granule)
        let t = g.truth
        var rng = SplitMix64(seed: 0xa64 + UInt64(i))
        let hot = [0..<80, Int(t.dumpAvailOffset)..<Int(t.dumpAvailOffset) + 64,
                   Int(t.bitmapOffset)..<Int(t.bitmapOffset) + 64, Int(t.pmapOffset)..<Int(t.pmapOffset) + 256]
        var opened = 0
        for round in 0..<120 {
            var bytes = g.bytes
            for _ in 0..<(1 + round % 4) {
                let range = hot[Int(rng.next(below: UInt64(hot.count)))]
                let at = range.lowerBound + Int(rng.next(below: UInt64(range.count)))
                bytes[at] = round % 3 == 0 ? 0xff : UInt8(truncatingIfNeeded: rng.next())
            }
            guard let dump = try? open(bytes) else { continue }
            opened += 1
            _ = dump.statistics()
            _ = dump.pageRanges(includeDirectMap: true)
            for page in t.kernelPages.prefix(6) { _ = try? dump.translate(VirtualAddress(page.va)) }
            _ = dump.read(VirtualAddress(t.dmapBase), count: 100)
            _ = dump.messageBuffer()
        }
        #expect(opened > 0)
    }

    /// Extreme header values: the largest sizes and addresses never overflow or allocate unbounded.
    @Test func extremeHeaderValues() throws {
        let g = try generated(3, .size16K)
        for (offset, value) in [(28, UInt64(0xffff_ffff)), (32, 0xffff_c000), (36, 0xffff_c000), (72, 0xffff_c000),
                                (40, 0xffff_ffff_ffff_c000), (48, 0xffff_ffff_ffff_c000), (56, 0), (64, .max)] {
            var bytes = g.bytes
            if offset == 40 || offset >= 48 && offset != 72 { setU64LE(&bytes, at: offset, value) } else { setU32LE(&bytes, at: offset, UInt32(value)) }
            if let dump = try? open(bytes) {
                _ = dump.statistics()
                _ = try? dump.translate(VirtualAddress(0xffff_ffff_ffff_fff8))
                _ = dump.read(VirtualAddress(0xffff_ffff_ffff_fff0), count: 64)
            }
        }
    }
}
