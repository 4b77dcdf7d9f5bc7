import Testing
@testable import MinidumpCore
import VMCoreBuilder

/// A generated riscv dump opened from memory, with its ground truth and the reference model.
struct RISCVSubject {
    let generated: RISCVGeneratedDump
    let dump: Dump
    let reference: RISCVReferenceModel
    var truth: RISCVGroundTruth { generated.truth }

    init(version: UInt32, seed: UInt64 = 0) throws {
        generated = try generateRISCVDump(RISCVFixture.description(version: version, seed: seed))
        dump = try Dump(contents: generated.bytes, name: "vmcore.riscv")
        reference = RISCVReferenceModel(bytes: generated.bytes)
    }

    /// Every leaf (a random offset, its last byte, the bytes around it), DMAP addresses over and
    /// beyond RAM and below dmapphys, the ends of both maps, and junk.
    func probeAddresses(count: Int, rng: inout SplitMix64) -> [UInt64] {
        var addresses: [UInt64] = []
        for page in truth.kernelPages {
            addresses += [page.va &+ rng.next(below: 4096), page.va &+ 4095, page.va &- 1, page.va &+ 4096]
        }
        let ramEnd = truth.physicalRanges.last!.upperBound
        for _ in 0..<count {
            switch rng.next(below: 4) {
            case 0: addresses.append(truth.dmapBase &+ rng.next(below: ramEnd - truth.dmapPhys + 0x40_0000))
            case 1:
                let pa = truth.dumpedPages[Int(rng.next(below: UInt64(truth.dumpedPages.count)))]
                addresses.append(truth.dmapBase &+ (pa - truth.dmapPhys) &+ rng.next(below: 4096))
            case 2: addresses.append(truth.kernbase &+ rng.next(below: 0x200_0000))
            default: addresses.append(rng.next())
            }
        }
        addresses += [0, .max, truth.kernbase, truth.kernbase &- 1, truth.dmapBase, truth.dmapBase &- 1, truth.dmapEnd,
                      truth.dmapEnd &- 1, RISCVFixture.kernelVMEnd, RISCVFixture.kernelVMEnd &- 1]
        return addresses
    }
}

let riscvVersions: [UInt32] = [1, 2]

/// `Fixtures/` at the package root, found from this file's path.
private let riscvFixturesDirectory: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/Fixtures"
}()

@Suite struct RISCVTests {
    @Test(arguments: riscvVersions)
    func headerAndLayoutMatchTheGenerator(version: UInt32) throws {
        let s = try RISCVSubject(version: version)
        let dump = s.dump, truth = s.truth
        #expect(dump.header.architecture == "riscv")
        #expect(dump.header.version == version)
        #expect(dump.header.kernbase.rawValue == truth.kernbase)
        #expect(dump.header.directMapBase.rawValue == truth.dmapBase)
        #expect(dump.header.directMapEnd.rawValue == truth.dmapEnd)
        #expect(dump.header.fields.first { $0.name == "dmapphys" }?.value == truth.dmapPhys)
        #expect(dump.header.fields.contains { $0.name == "dumpavailsize" } == (version == 2))
        #expect(dump.layout.messageBuffer.offset.rawValue == truth.msgbufOffset)
        #expect(dump.layout.dumpAvail.length == UInt64(truth.dumpAvailSize))
        #expect(dump.layout.bitmap.offset.rawValue == truth.bitmapOffset)
        #expect(dump.layout.pageTableMap.offset.rawValue == truth.pmapOffset)
        #expect(dump.layout.data.offset.rawValue == truth.dataOffset)
        #expect(dump.layout.listing.map(\.name) == (version == 2
            ? ["header", "msgbuf", "dump_avail", "bitmap", "pmap", "data"] : ["header", "msgbuf", "bitmap", "pmap", "data"]))
        #expect(dump.fileSize == truth.fileSize && dump.layout.expectedFileSize == truth.fileSize)
        #expect(dump.findings.isEmpty)
        #expect(dump.dumpedPageCount == UInt64(truth.dumpedPages.count))
        #expect(dump.kernelMapRange == truth.kernbase...(RISCVFixture.kernelVMEnd - 1))
        #expect(dump.directMapRange == truth.dmapBase...(truth.dmapEnd - 1))
        if version == 2 {
            #expect(dump.physicalRanges.map { $0.start.rawValue..<$0.end.rawValue } == truth.physicalRanges)
        } else {
            #expect(dump.physicalRanges.map { $0.start.rawValue..<$0.end.rawValue } == [0..<UInt64(truth.bitmapSize) * 8 * 4096])
        }
    }

    @Test(arguments: riscvVersions, [0, 1] as [UInt64])
    func translationsAgreeWithGroundTruthAndTheSlowModel(version: UInt32, seed: UInt64) throws {
        let s = try RISCVSubject(version: version, seed: seed)
        var rng = SplitMix64(seed: seed &* 97 &+ UInt64(version))
        var hits = (kernel: 0, dmap: 0), misses = 0
        for va in s.probeAddresses(count: 500, rng: &rng) {
            let expectedPA = s.truth.physicalAddress(ofVirtual: va)
            let expectedOffset = expectedPA.flatMap { s.truth.fileOffset(ofPhysical: $0) }
            #expect(s.reference.physicalAddress(of: va) == expectedPA, "reference PA for \(hex(va))")
            #expect(s.reference.fileOffset(of: va).map(UInt64.init) == expectedOffset, "reference offset for \(hex(va))")
            do {
                let t = try s.dump.translate(VirtualAddress(va))
                #expect(t.physicalAddress.rawValue == expectedPA, "PA for \(hex(va))")
                #expect(t.fileOffset.rawValue == expectedOffset, "offset for \(hex(va))")
                #expect(t.pageSize == .size4K)
                #expect(t.map == (va >= s.truth.dmapBase && va < s.truth.dmapEnd ? .directMap : .kernelMap))
                if t.map == .kernelMap { hits.kernel += 1 } else { hits.dmap += 1 }
            } catch {
                #expect(expectedOffset == nil, "\(error) but ground truth has \(expectedOffset.map { hex($0) } ?? "-")")
                misses += 1
            }
        }
        #expect(hits.kernel > 50 && hits.dmap > 50 && misses > 100)
    }

    @Test(arguments: riscvVersions)
    func theDirectMapStartsAtDmapphys(version: UInt32) throws {
        let s = try RISCVSubject(version: version)
        for pa in s.truth.dumpedPages {
            let va = s.truth.dmapBase + (pa - s.truth.dmapPhys)
            #expect(s.dump.directMapAddress(ofPhysical: PhysicalAddress(pa))?.rawValue == va)
            let t = try s.dump.translate(VirtualAddress(va + 0x10))
            #expect(t.physicalAddress.rawValue == pa + 0x10 && t.map == .directMap)
            #expect(s.dump.read(VirtualAddress(va), count: 4096).bytes == s.truth.bytes(atVirtual: va, count: 4096))
        }
        // Below dmapphys the direct map does not reach; dmapbase itself shows PA dmapphys (not RAM here).
        #expect(s.dump.directMapAddress(ofPhysical: PhysicalAddress(s.truth.dmapPhys - 0x1000)) == nil)
        #expect(s.dump.directMapAddress(ofPhysical: PhysicalAddress(s.truth.dmapPhys))?.rawValue == s.truth.dmapBase)
        let reason = try #require(riscvFailure(s.dump, s.truth.dmapBase))
        #expect(version == 1 ? reason == .pageNotDumped(PhysicalAddress(s.truth.dmapPhys), bit: s.truth.dmapPhys >> 12)
                             : reason == .physicalAddressOutsideRanges(PhysicalAddress(s.truth.dmapPhys)))
    }

    @Test(arguments: riscvVersions)
    func readsReturnTheOverlaysAndStampedBytes(version: UInt32) throws {
        let s = try RISCVSubject(version: version)
        for overlay in s.truth.overlays {
            let result = s.dump.read(VirtualAddress(overlay.va), count: overlay.bytes.count)
            #expect(result.error == nil && result.bytes == overlay.bytes, "overlay at \(hex(overlay.va))")
        }
        // 96 bytes from 46 bytes before each present leaf's end: the read crosses into the next VA page.
        for page in s.truth.kernelPages where page.present {
            let va = page.va + 4050
            let result = s.dump.read(VirtualAddress(va), count: 96)
            if let expected = s.truth.bytes(atVirtual: va, count: 96) {
                #expect(result.error == nil && result.bytes == expected, "read at \(hex(va))")
            } else {
                #expect(result.error != nil && result.bytes == s.truth.bytes(atVirtual: va, count: 46), "short read at \(hex(va))")
            }
        }
    }

    @Test(arguments: riscvVersions)
    func superpagesAreFiveHundredTwelveLeavesAndReservedBitsAreMasked(version: UInt32) throws {
        let s = try RISCVSubject(version: version)
        // The 2 MiB superpage at PA 0x80a00000: 512 synthetic leaves, the first 16 in RAM.
        for i in UInt64(0)..<512 {
            let va = RISCVFixture.VA.superpage + i << 12
            if i < 16 {
                #expect(try s.dump.translate(VirtualAddress(va)).physicalAddress.rawValue == 0x80a0_0000 + i << 12)
            } else {
                // Past RAM: outside dump_avail (v2); inside v1's bitmap (PA 0 to 0x88000000) but not dumped.
                let pa = 0x80a0_0000 + i << 12
                #expect(riscvFailure(s.dump, va) == (version == 2 ? .physicalAddressOutsideRanges(PhysicalAddress(pa))
                                                                  : .pageNotDumped(PhysicalAddress(pa), bit: pa >> 12)))
            }
        }
        let leaf = try s.dump.translate(VirtualAddress(RISCVFixture.VA.reservedBits))
        let entry = s.truth.pmap[Int((RISCVFixture.VA.reservedBits - s.truth.kernbase) >> 12)]
        #expect(entry & (1 << 62) != 0)
        #expect(leaf.walk.pte == entry)
        #expect(leaf.physicalAddress.rawValue == s.truth.kernelPage(containing: RISCVFixture.VA.reservedBits)!.pa)
        #expect(leaf.physicalAddress.rawValue >> 32 == 0)
    }

    @Test(arguments: riscvVersions)
    func invalidAndNonLeafEntriesSayWhich(version: UInt32) throws {
        let s = try RISCVSubject(version: version)
        let invalidIndex = (RISCVFixture.VA.invalidEntry - s.truth.kernbase) >> 12
        let nonLeafIndex = (RISCVFixture.VA.nonLeafEntry - s.truth.kernbase) >> 12
        #expect(riscvFailure(s.dump, RISCVFixture.VA.invalidEntry + 8) == .mapEntryInvalid(
            index: invalidIndex, entry: s.truth.pmap[Int(invalidIndex)], kind: "PTE"))
        let nonLeaf = try #require(riscvFailure(s.dump, RISCVFixture.VA.nonLeafEntry))
        #expect(nonLeaf == .mapEntryInvalid(index: nonLeafIndex, entry: s.truth.pmap[Int(nonLeafIndex)],
                                            kind: "non-leaf PTE (V set, R, W and X clear)"))
        #expect(nonLeaf.description.contains("non-leaf PTE") && nonLeaf.description.contains("0x200c0401"))
        // Past the map (kernel_vm_end) and between the maps: outside both.
        #expect(riscvFailure(s.dump, RISCVFixture.kernelVMEnd) == .outsideMaps(
            kernelMap: s.dump.kernelMapRange, directMap: s.dump.directMapRange))
        // A valid leaf to a device outside RAM.
        #expect(riscvFailure(s.dump, RISCVFixture.VA.device) != nil)
    }

    @Test(arguments: riscvVersions)
    func pagesStatisticsAndTheDirectMapOnlyPagesMatchTheTruth(version: UInt32) throws {
        let s = try RISCVSubject(version: version)
        let pages = s.dump.kernelPages()
        #expect(pages.map(\.virtualAddress.rawValue) == s.truth.kernelPages.map(\.va))
        #expect(pages.map(\.physicalAddress.rawValue) == s.truth.kernelPages.map(\.pa))
        #expect(pages.map(\.writable) == s.truth.kernelPages.map(\.writable))
        #expect(pages.map(\.executable) == s.truth.kernelPages.map(\.executable))
        #expect(pages.map(\.presentPages) == s.truth.kernelPages.map(\.presentPages))
        #expect(pages.allSatisfy { $0.size == .size4K })
        // Dumped pages no leaf maps: the generator's direct-map-only pages and the msgbuf's.
        let mapped = Set(s.truth.kernelPages.map(\.pa))
        let unmapped = s.truth.dumpedPages.filter { !mapped.contains($0) }
        #expect(s.dump.directMapOnlyPages().map(\.rawValue) == unmapped)
        #expect(Set(s.truth.directMapOnlyPages + [RISCVFixture.msgbufPhysicalAddress, RISCVFixture.msgbufPhysicalAddress + 4096])
                == Set(unmapped))
        let stats = s.dump.statistics()
        #expect(stats.kernelMap.entries == UInt64(s.truth.pmap.count))
        #expect(stats.kernelMap.validEntries == UInt64(s.truth.kernelPages.count))
        #expect(stats.kernelMap.smallPages == UInt64(s.truth.kernelPages.count) && stats.kernelMap.largePages == 0)
        #expect(stats.kernelMapBytes == UInt64(RISCVFixture.kernelMapChunks) << 21)
        #expect(stats.dumpedPages == UInt64(s.truth.dumpedPages.count))
        let ranges = s.dump.pageRanges(includeDirectMap: true)
        let dmapRanges = ranges.filter { $0.map == .directMap }
        #expect(dmapRanges.reduce(0) { $0 + $1.size } == UInt64(unmapped.count) * 4096)
        #expect(dmapRanges.allSatisfy { $0.virtualStart == s.truth.dmapBase + $0.physicalStart - s.truth.dmapPhys })
    }

    @Test(arguments: riscvVersions)
    func theMessageBufferIsTheGeneratorsText(version: UInt32) throws {
        let s = try RISCVSubject(version: version)
        let buffer = s.dump.messageBuffer()
        guard case .structure(let structure) = buffer.source else {
            Issue.record("no struct msgbuf: \(buffer.source)")
            return
        }
        #expect(structure.ringAddress.rawValue == s.truth.msgbufVirtualAddress)
        #expect(Array(buffer.text) == s.truth.messageText)
        #expect(Array(buffer.unread) == s.truth.unreadText)
        // The ring through the direct map (dmapphys-relative) holds the same bytes.
        #expect(s.dump.read(structure.ringAddress, count: s.truth.messageText.count).bytes == s.truth.messageText)
    }
}

@Suite struct RISCVGeneratorTests {
    @Test(arguments: ["vmcore.riscv.v1", "vmcore.riscv.v2", "kernel.riscv"])
    func goldenIsReproducedByteForByte(fileName: String) throws {
        let golden = try #require(try RISCVFixture.goldenFiles().first { $0.fileName == fileName })
        let onDisk = try readFileBytes(atPath: riscvFixturesDirectory + "/" + fileName)
        #expect(onDisk == golden.bytes, "regenerate with `make fixtures`")
        #expect(onDisk.count <= 1 << 20)
        if fileName == "kernel.riscv" {
            #expect(getU32LE(onDisk, at: 18) & 0xffff == 243)  // EM_RISCV
        } else {
            let version = UInt32(fileName.suffix(1))!
            let truth = try generateRISCVDump(RISCVFixture.description(version: version)).truth
            let readme = String(decoding: try readFileBytes(atPath: riscvFixturesDirectory + "/README.md"), as: UTF8.self)
            #expect(readme.contains("== \(fileName)\n" + truth.summary()), "README listing is stale: run make fixtures")
        }
    }

    @Test(arguments: riscvVersions)
    func sameSeedSameBytesDifferentSeedDifferentPlacement(version: UInt32) throws {
        let a = try generateRISCVDump(RISCVFixture.description(version: version, seed: 7))
        let b = try generateRISCVDump(RISCVFixture.description(version: version, seed: 7))
        let c = try generateRISCVDump(RISCVFixture.description(version: version, seed: 8))
        #expect(a.bytes == b.bytes)
        #expect(a.truth.dumpedPages != c.truth.dumpedPages)
    }

    @Test func descriptionsTheWriterCouldNotProduceAreRejected() {
        var d = RISCVFixture.description(version: 2)
        d.version = 3
        #expect(throws: GeneratorError.self) { try generateRISCVDump(d) }
        d = RISCVFixture.description(version: 2)
        d.dmapPhys = 0x8040_0000  // above RAM's start
        #expect(throws: GeneratorError.self) { try generateRISCVDump(d) }
        d = RISCVFixture.description(version: 2)
        d.mappings.append(RISCVMapping(virtualAddress: RISCVFixture.kernelVMEnd, pageSize: .size4K))
        #expect(throws: GeneratorError.self) { try generateRISCVDump(d) }
        d = RISCVFixture.description(version: 1)
        d.rawEntries.append(RISCVRawEntry(virtualAddress: RISCVFixture.VA.text, entry: 1))
        #expect(throws: GeneratorError.self) { try generateRISCVDump(d) }
    }
}

/// The translation failure for `va`, or nil if it translates.
func riscvFailure(_ dump: Dump, _ va: UInt64) -> TranslationError.Reason? {
    do {
        _ = try dump.translate(VirtualAddress(va))
        return nil
    } catch {
        return error.reason
    }
}
