/// One way to damage a valid dump; the raw value is a stable, descriptive name.
public enum Corruption: String, CaseIterable, Sendable {
    /// First byte of the magic changed: not a minidump at all.
    case badMagic = "bad-magic"
    /// A well-formed minidump magic for an architecture no reader supports ("minidump FreeBSD/mips").
    case otherArchitectureMagic = "other-arch-magic"
    /// The NUL after the 22 magic characters replaced by 'X'.
    case unterminatedMagic = "unterminated-magic"
    /// Header version 0.
    case version0 = "version-0"
    /// Header version 4.
    case version4 = "version-4"
    /// msgbufsize = 0xfffff000 (sections run past the end of the file).
    case msgbufSizeTooLarge = "msgbufsize-too-large"
    /// msgbufsize = 0xffffffff, the largest value the field holds.
    case msgbufSizeAllOnes = "msgbufsize-all-ones"
    /// bitmapsize = 0xfffff000.
    case bitmapSizeTooLarge = "bitmapsize-too-large"
    /// v3: bitmapsize not a multiple of 4096.
    case bitmapSizeMisaligned = "bitmapsize-misaligned"
    /// ptesize/pmapsize = 0xfffff000.
    case pageTableMapSizeTooLarge = "pmapsize-too-large"
    /// pmapsize not a multiple of 4096 (v1: ptesize not a multiple of 8).
    case pageTableMapSizeMisaligned = "pmapsize-misaligned"
    /// pmapsize = 0.
    case pageTableMapSizeZero = "pmapsize-zero"
    /// v3: dumpavailsize = 0xfffff000.
    case dumpAvailSizeTooLarge = "dumpavailsize-too-large"
    /// v3: dumpavailsize = 4100.
    case dumpAvailSizeMisaligned = "dumpavailsize-misaligned"
    /// v3: dumpavailsize = 0.
    case dumpAvailSizeZero = "dumpavailsize-zero"
    /// kernbase not page aligned.
    case kernbaseMisaligned = "kernbase-misaligned"
    /// dmapbase and dmapend swapped.
    case directMapInverted = "dmap-inverted"
    /// kernbase one map entry below 2^64 (0xffffffffffe00000, v1: 0xfffffffffffff000): the
    /// page-table map runs past the top of the address space.
    case kernbaseNearTop = "kernbase-near-top"
    /// dmapend = 0xffffffffffffffff: the direct map runs to the top of the address space.
    case directMapEndAllOnes = "dmapend-all-ones"
    /// Zero-length file.
    case emptyFile = "empty-file"
    /// Cut inside the header page.
    case truncatedInHeader = "truncated-in-header"
    /// Cut inside the msgbuf section.
    case truncatedInMessageBuffer = "truncated-in-msgbuf"
    /// v3: cut inside the dump_avail section.
    case truncatedInDumpAvail = "truncated-in-dumpavail"
    /// Cut inside the bitmap.
    case truncatedInBitmap = "truncated-in-bitmap"
    /// Cut inside the page-table map.
    case truncatedInPageTableMap = "truncated-in-pmap"
    /// Cut exactly where the data pages start.
    case truncatedAtDataStart = "truncated-at-data-start"
    /// Cut in the middle of a data page, half way through the data.
    case truncatedInsideDataPage = "truncated-inside-data-page"
    /// The last byte of the last data page missing.
    case truncatedLastByte = "truncated-last-byte"
    /// 4096 bytes of 0xaa appended.
    case trailingGarbage = "trailing-garbage"
    /// One more bitmap bit set (inside RAM) than there are data pages.
    case extraBitmapBit = "extra-bitmap-bit"
    /// A bitmap bit set past the last bit the ranges describe (where the bitmap has room).
    case bitmapBitBeyondRanges = "bitmap-bit-beyond-ranges"
    /// v2/v3: the first PDE that points at a page-table page now points at a page that is not dumped.
    case pdeToMissingPageTable = "pde-to-missing-page-table"
    /// v3: the second dump_avail range starts inside the first.
    case dumpAvailOverlapping = "dumpavail-overlapping"
    /// v3: the dump_avail page is full of ranges, with no terminating pair.
    case dumpAvailUnterminated = "dumpavail-unterminated"
    /// v3: the first two dump_avail ranges swapped.
    case dumpAvailDescending = "dumpavail-descending"
    /// v3: first dump_avail range has start > end.
    case dumpAvailInverted = "dumpavail-inverted"
    /// v3: dump_avail is empty (first pair is the terminator).
    case dumpAvailEmpty = "dumpavail-empty"
    /// `struct msgbuf` (section copy and data page) has a bad msg_magic.
    case msgbufStructBadMagic = "msgbuf-struct-bad-magic"
    /// `struct msgbuf` msg_size larger than the section.
    case msgbufStructBadSize = "msgbuf-struct-bad-size"
    /// `struct msgbuf` sequence numbers far beyond msg_seqmod.
    case msgbufStructHugeSequences = "msgbuf-struct-huge-sequences"
    /// `struct msgbuf` msg_ptr pointing at an unmapped address.
    case msgbufStructBadPointer = "msgbuf-struct-bad-pointer"
}

/// The bytes of `dump` damaged by `corruption`, or nil when it does not apply (wrong version, no struct, …).
public func corrupt(_ dump: GeneratedDump, with corruption: Corruption) -> [UInt8]? {
    let t = dump.truth
    var b = dump.bytes
    guard UInt64(b.count) == t.completeFileSize else { return nil }
    let v3 = t.version == 3
    func cut(_ n: UInt64) -> [UInt8] { Array(b[0..<Int(n)]) }
    func dumpAvailPair(_ i: Int) -> Int { Int(t.dumpAvailOffset) + 16 * i }
    func editStruct(_ field: Int, _ edit: (inout [UInt8], Int) -> Void) -> [UInt8]? {
        guard let structVA = t.msgbufStructVirtualAddress else { return nil }
        edit(&b, Int(t.msgbufOffset) + Int(t.msgbufSize) + field)
        if let off = t.fileOffset(ofPhysicalPage: structVA - t.dmapBase) { edit(&b, Int(off) + field) }
        return b
    }
    switch corruption {
    case .badMagic: b[0] = UInt8(ascii: "M")
    case .otherArchitectureMagic: b.replaceSubrange(17..<22, with: Array("mips".utf8) + [0])
    case .unterminatedMagic: b[22] = UInt8(ascii: "X")
    case .version0: setU32LE(&b, at: 24, 0)
    case .version4: setU32LE(&b, at: 24, 4)
    case .msgbufSizeTooLarge: setU32LE(&b, at: 28, 0xffff_f000)
    case .msgbufSizeAllOnes: setU32LE(&b, at: 28, 0xffff_ffff)
    case .bitmapSizeTooLarge: setU32LE(&b, at: 32, 0xffff_f000)
    case .bitmapSizeMisaligned:
        guard v3 else { return nil }
        setU32LE(&b, at: 32, t.bitmapSize - 8)
    case .pageTableMapSizeTooLarge: setU32LE(&b, at: 36, 0xffff_f000)
    case .pageTableMapSizeMisaligned: setU32LE(&b, at: 36, t.pageTableMapSize - (t.version == 1 ? 4 : 8))
    case .pageTableMapSizeZero: setU32LE(&b, at: 36, 0)
    case .dumpAvailSizeTooLarge, .dumpAvailSizeMisaligned, .dumpAvailSizeZero:
        guard v3 else { return nil }
        let value: UInt32 = corruption == .dumpAvailSizeTooLarge ? 0xffff_f000 : corruption == .dumpAvailSizeZero ? 0 : 4100
        setU32LE(&b, at: 64, value)
    case .kernbaseMisaligned: setU64LE(&b, at: 40, t.kernbase + 0x123)
    case .directMapInverted:
        setU64LE(&b, at: 48, t.dmapEnd)
        setU64LE(&b, at: 56, t.dmapBase)
    case .kernbaseNearTop: setU64LE(&b, at: 40, 0 &- (t.version == 1 ? 0x1000 : 0x20_0000))
    case .directMapEndAllOnes: setU64LE(&b, at: 56, .max)
    case .emptyFile: return []
    case .truncatedInHeader: return cut(2048)
    case .truncatedInMessageBuffer: return cut(t.msgbufOffset + 100)
    case .truncatedInDumpAvail: return v3 ? cut(t.dumpAvailOffset + 24) : nil
    case .truncatedInBitmap: return cut(t.bitmapOffset + 8)
    case .truncatedInPageTableMap: return cut(t.pageTableMapOffset + 24)
    case .truncatedAtDataStart: return cut(t.dataOffset)
    case .truncatedInsideDataPage: return cut(t.dataOffset + UInt64(t.dumpedPages.count / 2) * 4096 + 1234)
    case .truncatedLastByte: return cut(t.completeFileSize - 1)
    case .trailingGarbage: b += [UInt8](repeating: 0xaa, count: 4096)
    case .extraBitmapBit:
        guard let n = (0..<(UInt64(t.bitmapSize) * 8)).first(where: { n in
            bitIsClear(b, t, n) && physicalPageOfBit(t, n).map { !t.isDumped(physicalPage: $0) } == true
        }) else { return nil }
        b[Int(t.bitmapOffset + n / 8)] |= 1 << (n % 8)
    case .bitmapBitBeyondRanges:
        let described = v3 ? t.physicalRanges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) >> 12 }
                           : t.physicalRanges.last!.upperBound >> 12
        guard described < UInt64(t.bitmapSize) * 8 else { return nil }
        b[Int(t.bitmapOffset + described / 8)] |= 1 << (described % 8)
    case .pdeToMissingPageTable:
        guard t.version != 1, let i = t.pageTableMap.firstIndex(where: { $0 & 0x81 == 0x01 }) else { return nil }
        let missing = t.physicalRanges.lazy.flatMap { stride(from: $0.lowerBound, to: $0.upperBound, by: 4096) }
            .first { !t.isDumped(physicalPage: $0) } ?? 0xfee0_0000
        setU64LE(&b, at: Int(t.pageTableMapOffset) + 8 * i, missing | (t.pageTableMap[i] & 0xfff))
    case .dumpAvailOverlapping:
        guard v3, t.physicalRanges.count >= 2 else { return nil }
        setU64LE(&b, at: dumpAvailPair(1), t.physicalRanges[0].upperBound - 0x1000)
    case .dumpAvailUnterminated:
        guard v3 else { return nil }
        for i in 0..<256 {
            setU64LE(&b, at: dumpAvailPair(i), UInt64(i) * 0x2000)
            setU64LE(&b, at: dumpAvailPair(i) + 8, UInt64(i) * 0x2000 + 0x1000)
        }
    case .dumpAvailDescending:
        guard v3, t.physicalRanges.count >= 2 else { return nil }
        let first = Array(b[dumpAvailPair(0)..<dumpAvailPair(1)])
        b.replaceSubrange(dumpAvailPair(0)..<dumpAvailPair(1), with: b[dumpAvailPair(1)..<dumpAvailPair(2)])
        b.replaceSubrange(dumpAvailPair(1)..<dumpAvailPair(2), with: first)
    case .dumpAvailInverted:
        guard v3 else { return nil }
        setU64LE(&b, at: dumpAvailPair(0), t.physicalRanges[0].upperBound)
        setU64LE(&b, at: dumpAvailPair(0) + 8, t.physicalRanges[0].lowerBound)
    case .dumpAvailEmpty:
        guard v3 else { return nil }
        setU64LE(&b, at: dumpAvailPair(0), 0)
        setU64LE(&b, at: dumpAvailPair(0) + 8, 0)
    case .msgbufStructBadMagic: return editStruct(8) { setU32LE(&$0, at: $1, 0xdead_beef) }
    case .msgbufStructBadSize: return editStruct(12) { setU32LE(&$0, at: $1, 0x7fff_ffff) }
    case .msgbufStructHugeSequences:
        return editStruct(16) { bytes, at in
            setU32LE(&bytes, at: at, 0xffff_fff0)
            setU32LE(&bytes, at: at + 4, 0xffff_ffff)
        }
    case .msgbufStructBadPointer: return editStruct(0) { setU64LE(&$0, at: $1, 0x0000_dead_beef_0000) }
    }
    return b
}

/// Every applicable corruption of `dump`, named by the corruption's raw value.
public func corruptVariants(of dump: GeneratedDump) -> [(name: String, bytes: [UInt8])] {
    Corruption.allCases.compactMap { c in corrupt(dump, with: c).map { (c.rawValue, $0) } }
}

private func bitIsClear(_ b: [UInt8], _ t: GroundTruth, _ n: UInt64) -> Bool {
    b[Int(t.bitmapOffset + n / 8)] & (1 << (n % 8)) == 0
}

private func physicalPageOfBit(_ t: GroundTruth, _ n: UInt64) -> UInt64? {
    if t.version != 3 {
        let pa = n << 12
        return t.physicalRanges.contains { $0.contains(pa) } ? pa : nil
    }
    var n = n
    for r in t.physicalRanges {
        let count = (r.upperBound - r.lowerBound) >> 12
        if n < count { return r.lowerBound + n << 12 }
        n -= count
    }
    return nil
}
