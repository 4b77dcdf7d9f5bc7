import VMCoreBuilder

/// A deliberately slow, independent arm64 reader written straight from spec §1 (and libkvm's
/// kvm_minidump_aarch64.c): the page size from the v3 flags, every section rounded to it, set
/// bits counted one by one from bit 0, the direct map tested first, `(e & 3) == 3`, PA masked with
/// ~0xfffc000000000fff, tags canonicalised. Tests compare `Dump` against it and the ground truth.
struct ARM64ReferenceModel {
    let bytes: [UInt8]
    let pageSize: UInt64
    let kernbase: UInt64
    let dmapPhys: UInt64
    let dmapBase: UInt64
    let dmapEnd: UInt64
    let mapOffset: Int
    let mapEntries: Int
    let bitmapOffset: Int
    let bitmapBits: Int
    let dataOffset: Int
    let ranges: [(start: UInt64, end: UInt64, firstBit: UInt64)]

    init(bytes: [UInt8]) {
        self.bytes = bytes
        let version = getU32LE(bytes, at: 24)
        let flags = version >= 3 ? getU32LE(bytes, at: 76) : 0
        let ps: UInt64 = flags & 3 == 1 ? 16384 : 4096
        pageSize = ps
        func roundPage(_ value: UInt32) -> Int { Int((UInt64(value) + ps - 1) / ps * ps) }
        let msgbufSize = getU32LE(bytes, at: 28)
        let bitmapSize = getU32LE(bytes, at: 32)
        let mapSize = getU32LE(bytes, at: 36)
        kernbase = getU64LE(bytes, at: 40)
        dmapPhys = getU64LE(bytes, at: 48)
        dmapBase = getU64LE(bytes, at: 56)
        dmapEnd = getU64LE(bytes, at: 64)
        let dumpAvailSize = version >= 2 ? getU32LE(bytes, at: 72) : 0
        let dumpAvailOffset = Int(ps) + roundPage(msgbufSize)
        bitmapOffset = dumpAvailOffset + roundPage(dumpAvailSize)
        mapOffset = bitmapOffset + roundPage(bitmapSize)
        dataOffset = mapOffset + roundPage(mapSize)
        mapEntries = Int(mapSize) / 8
        bitmapBits = Int(bitmapSize) * 8
        if version >= 2 {
            var ranges: [(UInt64, UInt64, UInt64)] = []
            var bit: UInt64 = 0
            var at = dumpAvailOffset
            while getU64LE(bytes, at: at + 8) != 0 {
                let start = getU64LE(bytes, at: at), end = getU64LE(bytes, at: at + 8)
                ranges.append((start, end, bit))
                bit += (end + ps - 1) / ps - start / ps
                at += 16
            }
            self.ranges = ranges
        } else {
            ranges = [(0, UInt64(bitmapSize) * 8 * ps, 0)]
        }
    }

    func bitIsSet(_ bit: Int) -> Bool { bytes[bitmapOffset + bit / 8] >> (bit % 8) & 1 == 1 }

    /// File offset of physical address `pa`, or nil if its page is not dumped.
    func fileOffset(ofPhysical pa: UInt64) -> Int? {
        guard let range = ranges.first(where: { $0.start <= pa && pa < $0.end }) else { return nil }
        let bit = Int(range.firstBit + pa / pageSize - range.start / pageSize)
        guard bit < bitmapBits, bitIsSet(bit) else { return nil }
        var before = 0
        for b in 0..<bit where bitIsSet(b) { before += 1 }
        let offset = dataOffset + before * Int(pageSize) + Int(pa % pageSize)
        return offset < bytes.count ? offset : nil
    }

    /// The physical address of `va`, or nil.
    func physicalAddress(of va: UInt64) -> UInt64? {
        let top: UInt64 = 0xffff_0000_0000_0000
        let c = va & (1 << 55) != 0 ? va | top : va & ~top
        if c >= dmapBase && c < dmapEnd { return c - dmapBase + dmapPhys }
        guard c >= kernbase else { return nil }
        let index = Int((c - kernbase) / pageSize)
        guard index < mapEntries else { return nil }
        let entry = getU64LE(bytes, at: mapOffset + index * 8)
        guard entry & 3 == 3 else { return nil }
        return (entry & ~0xfffc_0000_0000_0fff) / pageSize * pageSize + c % pageSize
    }

    /// The file offset of `va`, or nil.
    func fileOffset(ofVirtual va: UInt64) -> Int? { physicalAddress(of: va).flatMap(fileOffset(ofPhysical:)) }
}
