import VMCoreBuilder

/// A deliberately slow, independent reader written straight from the spec: no index, set bits
/// counted one by one from bit 0, every value decoded from the raw bytes on each call. Tests
/// compare `Dump` against it (and against the generator's ground truth).
struct ReferenceModel {
    let bytes: [UInt8]
    let version: UInt32
    let kernbase: UInt64
    let dmapBase: UInt64
    let dmapEnd: UInt64
    let mapOffset: Int
    let mapEntries: Int
    let bitmapOffset: Int
    let bitmapBits: Int
    let dataOffset: Int
    /// (start, end, firstBit) for every physical range.
    let ranges: [(start: UInt64, end: UInt64, firstBit: UInt64)]

    init(bytes: [UInt8]) {
        self.bytes = bytes
        func roundPage(_ value: Int) -> Int { (value + 4095) / 4096 * 4096 }
        version = getU32LE(bytes, at: 24)
        let msgbufSize = Int(getU32LE(bytes, at: 28))
        let bitmapSize = Int(getU32LE(bytes, at: 32))
        let mapSize = Int(getU32LE(bytes, at: 36))
        kernbase = getU64LE(bytes, at: 40)
        dmapBase = getU64LE(bytes, at: 48)
        dmapEnd = getU64LE(bytes, at: 56)
        let dumpAvailSize = version >= 3 ? Int(getU32LE(bytes, at: 64)) : 0
        let dumpAvailOffset = 4096 + roundPage(msgbufSize)
        bitmapOffset = dumpAvailOffset + roundPage(dumpAvailSize)
        mapOffset = bitmapOffset + roundPage(bitmapSize)
        dataOffset = mapOffset + roundPage(mapSize)
        mapEntries = mapSize / 8
        bitmapBits = bitmapSize * 8
        if version >= 3 {
            var ranges: [(UInt64, UInt64, UInt64)] = []
            var bit: UInt64 = 0
            var at = dumpAvailOffset
            while getU64LE(bytes, at: at + 8) != 0 {
                let start = getU64LE(bytes, at: at), end = getU64LE(bytes, at: at + 8)
                ranges.append((start, end, bit))
                bit += (end + 4095) / 4096 - start / 4096
                at += 16
            }
            self.ranges = ranges
        } else {
            ranges = [(0, UInt64(bitmapSize) * 8 * 4096, 0)]
        }
    }

    func bitIsSet(_ bit: Int) -> Bool { bytes[bitmapOffset + bit / 8] >> (bit % 8) & 1 == 1 }

    /// File offset of physical page `pa`, or nil if not dumped or past the end of the file.
    func fileOffset(ofPhysical pa: UInt64) -> Int? {
        guard let range = ranges.first(where: { $0.start <= pa && pa < $0.end }) else { return nil }
        let bit = Int(range.firstBit + pa / 4096 - range.start / 4096)
        guard bit < bitmapBits, bitIsSet(bit) else { return nil }
        var before = 0
        for n in 0..<bit where bitIsSet(n) { before += 1 }
        let offset = dataOffset + before * 4096
        return offset + 4096 <= bytes.count ? offset + Int(pa % 4096) : nil
    }

    /// Physical address of `va`, or nil if unmapped (kernel map first, then the direct map).
    func physicalAddress(of va: UInt64) -> UInt64? {
        if va >= kernbase {
            let shift: UInt64 = version == 1 ? 12 : 21
            let index = (va - kernbase) >> shift
            if index < UInt64(mapEntries) {
                let at = mapOffset + Int(index) * 8
                guard at + 8 <= bytes.count else { return nil }
                let entry = getU64LE(bytes, at: at)
                guard entry & 1 == 1 else { return nil }
                if version == 1 { return entry & 0x000f_ffff_ffff_f000 | va & 0xfff }
                if entry & 0x80 != 0 { return entry & 0x000f_ffff_ffe0_0000 | va & 0x1f_ffff }
                guard let table = fileOffset(ofPhysical: entry & 0x000f_ffff_ffff_f000) else { return nil }
                let pte = getU64LE(bytes, at: table + Int((va >> 12) & 511) * 8)
                guard pte & 1 == 1 else { return nil }
                return pte & 0x000f_ffff_ffff_f000 | va & 0xfff
            }
        }
        if va >= dmapBase && va < dmapEnd { return va - dmapBase }
        return nil
    }

    /// File offset of `va`, or nil if it cannot be read.
    func fileOffset(of va: UInt64) -> Int? {
        physicalAddress(of: va).flatMap { fileOffset(ofPhysical: $0) }
    }
}
