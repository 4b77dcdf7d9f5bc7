#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import VMCoreBuilder

/// `Fixtures/` at the package root, found from this file's path.
private let fixturesDirectory: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/Fixtures"
}()

/// Index of the first differing byte (or the shorter length), nil if equal.
private func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    if let i = zip(a, b).indices(where: { $0.0 != $0.1 }) { return i }
    return a.count == b.count ? nil : min(a.count, b.count)
}

extension Zip2Sequence {
    fileprivate func indices(where predicate: ((Sequence1.Element, Sequence2.Element)) -> Bool) -> Int? {
        for (i, pair) in enumerated() where predicate(pair) { return i }
        return nil
    }
}

/// A minimal reader of the generated file written from the spec (§2.3–§2.7), used to cross-check the truth.
private struct SpecReader {
    let bytes: [UInt8]
    let truth: GroundTruth
    let rankBefore: [Int]

    init(_ dump: GeneratedDump) {
        bytes = dump.bytes
        truth = dump.truth
        var ranks: [Int] = []
        var total = 0
        for i in 0..<Int(truth.bitmapSize) {
            ranks.append(total)
            total += bytes[Int(truth.bitmapOffset) + i].nonzeroBitCount
        }
        rankBefore = ranks
    }

    func bit(of pa: UInt64) -> UInt64? {
        if truth.version != 3 { return pa >> 12 }
        var base: UInt64 = 0
        for r in truth.physicalRanges {
            if r.contains(pa) { return base + (pa - r.lowerBound) >> 12 }
            base += (r.upperBound - r.lowerBound) >> 12
        }
        return nil
    }

    func fileOffset(_ pa: UInt64) -> UInt64? {
        guard let n = bit(of: pa), n < UInt64(truth.bitmapSize) * 8 else { return nil }
        let byte = bytes[Int(truth.bitmapOffset + n / 8)]
        guard byte >> (n % 8) & 1 == 1 else { return nil }
        let k = rankBefore[Int(n / 8)] + (byte & UInt8((1 << (n % 8)) - 1)).nonzeroBitCount
        return truth.dataOffset + UInt64(k) * 4096 + (pa & 0xfff)
    }

    func u64(_ offset: UInt64) -> UInt64 { getU64LE(bytes, at: Int(offset)) }

    func translate(_ va: UInt64) -> UInt64? {
        let t = truth
        if va >= t.kernbase {
            if t.version == 1 {
                let i = (va - t.kernbase) >> 12
                guard i < UInt64(t.pageTableMapSize) / 8 else { return nil }
                let pte = u64(t.pageTableMapOffset + 8 * i)
                return pte & 1 == 0 ? nil : (pte & 0x000f_ffff_ffff_f000) | (va & 0xfff)
            }
            let i = (va - t.kernbase) >> 21
            guard i < UInt64(t.pageTableMapSize) / 8 else { return nil }
            let pde = u64(t.pageTableMapOffset + 8 * i)
            guard pde & 1 == 1 else { return nil }
            if pde & 0x80 != 0 { return (pde & 0x000f_ffff_ffe0_0000) + (va & 0x1f_ffff) }
            guard let table = fileOffset(pde & 0x000f_ffff_ffff_f000) else { return nil }
            let pte = u64(table + ((va >> 12) & 511) * 8)
            return pte & 1 == 0 ? nil : (pte & 0x000f_ffff_ffff_f000) | (va & 0xfff)
        }
        if va >= t.dmapBase && va < t.dmapEnd { return va - t.dmapBase }
        return nil
    }

    func read(_ va: UInt64, _ count: Int) -> [UInt8]? {
        var out: [UInt8] = []
        for i in 0..<UInt64(count) {
            guard let pa = translate(va + i), let off = fileOffset(pa), off < UInt64(bytes.count) else { return nil }
            out.append(bytes[Int(off)])
        }
        return out
    }
}

private func roundPage(_ x: UInt64) -> UInt64 { (x + 0xfff) & ~0xfff }

/// Checks every claim of the ground truth against the file bytes.
private func checkConsistency(_ dump: GeneratedDump) {
    let b = dump.bytes, t = dump.truth
    #expect(Array(b[0..<24]) == Array("minidump FreeBSD/amd64".utf8) + [0, 0])
    #expect(getU32LE(b, at: 24) == t.version)
    #expect(getU32LE(b, at: 28) == t.msgbufSize)
    #expect(getU32LE(b, at: 32) == t.bitmapSize)
    #expect(getU32LE(b, at: 36) == t.pageTableMapSize)
    #expect(getU64LE(b, at: 40) == t.kernbase)
    #expect(getU64LE(b, at: 48) == t.dmapBase)
    #expect(getU64LE(b, at: 56) == t.dmapEnd)
    #expect(getU32LE(b, at: 64) == (t.version == 3 ? 4096 : 0))
    #expect(b[68..<4096].allSatisfy { $0 == 0 })

    #expect(t.msgbufOffset == 4096)
    #expect(t.dumpAvailOffset == 4096 + roundPage(UInt64(t.msgbufSize)))
    #expect(t.bitmapOffset == t.dumpAvailOffset + UInt64(t.dumpAvailSize))
    #expect(t.pageTableMapOffset == t.bitmapOffset + UInt64(t.bitmapSize))
    #expect(t.dataOffset == t.pageTableMapOffset + UInt64(t.pageTableMapSize))
    let popcount = b[Int(t.bitmapOffset)..<Int(t.pageTableMapOffset)].reduce(0) { $0 + $1.nonzeroBitCount }
    #expect(popcount == t.dumpedPages.count)
    #expect(t.completeFileSize == t.dataOffset + UInt64(popcount) * 4096)
    #expect(t.fileSize == UInt64(b.count))
    #expect(t.dumpedPages == t.dumpedPages.sorted())

    if t.version == 3 {
        for (i, r) in t.physicalRanges.enumerated() {
            #expect(getU64LE(b, at: Int(t.dumpAvailOffset) + 16 * i) == r.lowerBound)
            #expect(getU64LE(b, at: Int(t.dumpAvailOffset) + 16 * i + 8) == r.upperBound)
        }
        #expect(getU64LE(b, at: Int(t.dumpAvailOffset) + 16 * t.physicalRanges.count + 8) == 0)
    } else {
        #expect(t.bitmapSize == UInt32(roundPage((t.physicalRanges.last!.upperBound / 4096 + 7) / 8)))
    }
    for (i, e) in t.pageTableMap.enumerated() {
        #expect(getU64LE(b, at: Int(t.pageTableMapOffset) + 8 * i) == e)
    }

    let reader = SpecReader(dump)
    for pa in t.dumpedPages {
        let offset = t.fileOffset(ofPhysicalPage: pa)!
        #expect(reader.fileOffset(pa) == offset)
        guard offset < UInt64(b.count), let page = t.page(atPhysical: pa) else { continue }
        let end = min(Int(offset) + 4096, b.count)
        #expect(Array(b[Int(offset)..<end]) == Array(page[0..<(end - Int(offset))]), "page \(pa)")
        #expect(t.byte(atPhysical: pa + 0x123) == (Int(offset) + 0x123 < b.count ? page[0x123] : nil))
    }
    for p in t.kernelPages {
        #expect(t.physicalAddress(ofVirtual: p.va) == p.pa)
        #expect(reader.translate(p.va + 0x10) == p.pa + 0x10)
        #expect(reader.translate(p.va + p.size - 1) == p.pa + p.size - 1)
    }
    for pa in t.directMapOnlyPages + t.pageTablePages {
        #expect(t.isDumped(physicalPage: pa))
        #expect(t.kernelPages.allSatisfy { pa < $0.pa || pa >= $0.pa + $0.size })
    }
    for o in t.overlays {
        #expect(t.bytes(atVirtual: o.va, count: o.bytes.count) == (t.fileSize == t.completeFileSize ? o.bytes : t.bytes(atVirtual: o.va, count: o.bytes.count)))
        if t.fileSize == t.completeFileSize { #expect(reader.read(o.va, o.bytes.count) == o.bytes) }
    }

    // Message buffer: section, unwrapped text, unread region, struct, and the copy in the data pages.
    let size = Int(t.msgbufSize)
    let ring = Array(b[4096..<(4096 + size)])
    let w = Int(t.msgbufWriteSequence) % size, r = Int(t.msgbufReadSequence) % size
    var unwrapped = Array(ring[w...] + ring[..<w])
    if unwrapped.first == 0 { unwrapped = Array(unwrapped.drop { $0 == 0 }) }
    #expect(unwrapped == t.messageText)
    let unread = r <= w ? Array(ring[r..<w]) : Array(ring[r...] + ring[..<w])
    #expect(unread == t.unreadText)
    #expect(t.msgbufVirtualAddress == t.dmapBase + t.msgbufPhysicalAddress)
    if t.fileSize == t.completeFileSize {
        #expect(reader.read(t.msgbufVirtualAddress, size) == ring)
    }
    if let structVA = t.msgbufStructVirtualAddress {
        let s = 4096 + size
        #expect(structVA == t.msgbufVirtualAddress + UInt64(size))
        #expect(getU64LE(b, at: s) == t.msgbufVirtualAddress)
        #expect((getU32LE(b, at: s + 8) == 0x063062) == (t.msgbufStructState != .badMagic))
        #expect((getU32LE(b, at: s + 12) == t.msgbufSize) == (t.msgbufStructState != .badSize))
        #expect(getU32LE(b, at: s + 16) == t.msgbufWriteSequence)
        #expect(getU32LE(b, at: s + 20) == t.msgbufReadSequence)
        #expect(getU32LE(b, at: s + 24) == ring.reduce(UInt32(0)) { $0 &+ UInt32($1) })
        #expect(getU32LE(b, at: s + 28) == t.msgbufSize * 16)
        let n = t.msgbufStructSize
        #expect(n == 72 || (n == 40 && (size + 40) % 4096 == 0))
        if t.fileSize == t.completeFileSize { #expect(reader.read(structVA, n) == Array(b[s..<(s + n)])) }
    } else {
        #expect(size % 4096 == 0)
    }
}

@Suite struct GeneratorTests {
    @Test(arguments: goldenFixtures().map(\.fileName))
    func goldenIsReproducedByteForByte(fileName: String) throws {
        let golden = goldenFixtures().first { $0.fileName == fileName }!
        let dump = try generateDump(golden.description)
        let onDisk = try readFileBytes(atPath: fixturesDirectory + "/" + fileName)
        #expect(onDisk.count == dump.bytes.count, "regenerate with `make fixtures`")
        #expect(firstDifference(onDisk, dump.bytes) == nil, "regenerate with `make fixtures`")
        #expect(onDisk.count <= 1 << 20)
        checkConsistency(dump)
        let readme = String(decoding: try readFileBytes(atPath: fixturesDirectory + "/README.md"), as: UTF8.self)
        #expect(readme.contains("== \(fileName)\n" + dump.truth.summary()), "README listing is stale: rerun mkvmcore --describe-goldens")
    }

    @Test(arguments: [UInt32(1), 2, 3])
    func sameSeedSameBytesDifferentSeedDifferentBytes(version: UInt32) throws {
        let a = try generateDump(.standard(version: version, seed: 42))
        let b = try generateDump(.standard(version: version, seed: 42))
        let c = try generateDump(.standard(version: version, seed: 43))
        #expect(firstDifference(a.bytes, b.bytes) == nil)
        #expect(a.truth.dumpedPages == b.truth.dumpedPages)
        #expect(firstDifference(a.bytes, c.bytes) != nil)
        #expect(a.truth.dumpedPages != c.truth.dumpedPages)
    }

    @Test(arguments: ["standard", "wrapped", "nostruct", "badmsgbuf"], [UInt32(1), 2, 3])
    func groundTruthMatchesFile(preset: String, version: UInt32) throws {
        for seed: UInt64 in [0, 1, 0xdead_beef] {
            checkConsistency(try generateDump(DumpDescription.preset(preset, version: version, seed: seed)!))
        }
    }

    @Test func standardDumpExercisesWhatItPromises() throws {
        let t = try generateDump(.standard(version: 3, seed: 7)).truth
        #expect(t.fileSize < 1 << 20)
        #expect(t.physicalRanges.count == 4)
        #expect(t.kernelPages.contains { $0.size == 0x20_0000 && $0.presentPages > 0 && !$0.present })
        #expect(t.kernelPages.contains { $0.size == 0x20_0000 && $0.presentPages == 0 })
        #expect(t.kernelPages.contains { $0.size == 0x1000 && !$0.present })
        #expect(t.kernelPages.filter { $0.size == 0x20_0000 }.count == 2 + 512)
        #expect(t.directMapOnlyPages.count == 12)
        #expect(t.pageTablePages.count == 2)
        #expect(String(decoding: t.messageText, as: UTF8.self).contains("panic: page fault\ncpuid = 1\ntime = 1700000000\nKDB: stack backtrace:\n"))
        #expect(String(decoding: t.unreadText, as: UTF8.self).hasPrefix("\n\nFatal trap 12"))
        #expect(t.bytes(atVirtual: t.kernbase + 0x20_83c8, count: 16) == Array("kvmdump_fixture\0".utf8))
    }

    @Test func wrappedMessageBufferHasWrappingUnreadRegion() throws {
        let t = try generateDump(DumpDescription.preset("wrapped")!).truth
        #expect(t.msgbufWriteSequence > t.msgbufSize)
        #expect(t.msgbufReadSequence % t.msgbufSize > t.msgbufWriteSequence % t.msgbufSize)
        #expect(t.messageText.count == Int(t.msgbufSize))
        #expect(!t.messageText.contains(0))
    }

    @Test func stampsDetectNeighbouringPagesAndShiftedOffsets() {
        for pa: UInt64 in [0, 0x1000, 0x7fe000, 0x1_0000_0000] {
            let page = (0..<4096).map { pageStamp(physicalAddress: pa, offset: $0) }
            let next = (0..<4096).map { pageStamp(physicalAddress: pa + 0x1000, offset: $0) }
            let shifted = (1..<4097).map { pageStamp(physicalAddress: pa, offset: $0 & 0xfff) }
            #expect(zip(page, next).filter { $0 == $1 }.count < 64)
            #expect(zip(page, shifted).filter { $0 == $1 }.count < 64)
            #expect(getU64LE(page, at: 0) == pa)
        }
    }

    @Test func sparseFilesMatchTheInMemoryBytes() throws {
        let dump = try generateDump(.standard(version: 3, seed: 5))
        let path = "/tmp/kvmdump-generator-test-\(getpid())"
        defer { unlink(path) }
        try dump.write(to: path)
        #expect(firstDifference(try readFileBytes(atPath: path), dump.bytes) == nil)
        let truth = try writeDump(.standard(version: 3, seed: 5), to: path)
        #expect(firstDifference(try readFileBytes(atPath: path), dump.bytes) == nil)
        #expect(truth.dumpedPages == dump.truth.dumpedPages)
    }

    @Test func unstampedBigDumpWritesOnlySpecialPages() throws {
        var d = DumpDescription(version: 3, seed: 9, physicalRanges: [0x1000..<0x9_f000, 0x10_0000..<0x4_0000_0000],
                                kernelMapSlots: 8, directMapOnlyPages: 500, stampPages: false)
        d.mappings = [KernelMapping(virtualAddress: d.effectiveKernbase + 0x4000_0000, pageSize: .size4K, count: 700),
                      KernelMapping(virtualAddress: d.effectiveKernbase + 0x8000_0000, pageSize: .size2M, count: 2)]
        d.overlays = [Overlay(va: d.effectiveKernbase + 0x4000_0ff8, cString: "crosses")]
        let path = "/tmp/kvmdump-generator-big-\(getpid())"
        defer { unlink(path) }
        let truth = try writeDump(d, to: path)
        let dump = GeneratedDump(bytes: try readFileBytes(atPath: path), truth: truth)
        #expect(truth.pageTablePages.count == 2)
        #expect(truth.dumpedPages.count == 500 + 700 + 1024 + 2 + 24)
        checkConsistency(dump)
        let plain = truth.directMapOnlyPages[0]
        #expect(truth.byte(atPhysical: plain + 100) == 0)
    }

    @Test(arguments: [UInt32(1), 2, 3])
    func corruptVariantsAreDistinctAndNamed(version: UInt32) throws {
        let dump = try generateDump(.standard(version: version, seed: 0))
        let variants = corruptVariants(of: dump)
        #expect(Set(variants.map(\.name)).count == variants.count)
        #expect(variants.count >= (version == 3 ? 35 : 25))
        for v in variants { #expect(v.bytes != dump.bytes, "\(v.name)") }
        #expect(variants.contains { $0.name == "pde-to-missing-page-table" } == (version != 1))
    }

    @Test func invalidDescriptionsAreRejected() {
        var d = DumpDescription.standard(version: 3, seed: 0)
        d.version = 4
        #expect(throws: GeneratorError.self) { try generateDump(d) }
        d = .standard(version: 3, seed: 0)
        d.physicalRanges = [0x10_0000..<0x20_0000, 0x1000..<0x2000]
        #expect(throws: GeneratorError.self) { try generateDump(d) }
        d = .standard(version: 3, seed: 0)
        d.mappings.append(KernelMapping(virtualAddress: d.effectiveKernbase + 0x20_0000, pageSize: .size4K))
        #expect(throws: GeneratorError.self) { try generateDump(d) }
        d = .standard(version: 3, seed: 0)
        d.overlays = [Overlay(va: d.effectiveKernbase + 0x20_f000, bytes: [1])]
        #expect(throws: GeneratorError.self) { try generateDump(d) }
    }
}
