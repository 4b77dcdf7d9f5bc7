import VMCoreBuilder

/// A slow, independent riscv minidump reader written from spec §3 and `kvm_minidump_riscv.c`'s
/// rules, decoding everything from the raw bytes on each call: header at riscv's offsets (dmapphys
/// at 48, dumpavailsize at 72 from v2), sections header/msgbuf/dump_avail/bitmap/pmap/data, the
/// direct map tested first (`pa = va - dmapbase + dmapphys`), then the flat L3 map
/// (`V && (R|W|X)`, PPN from bit 10 with bits 63–54 masked), set bits counted one by one.
struct RISCVReferenceModel {
    let bytes: [UInt8]
    let version: UInt32
    let kernbase: UInt64
    let dmapPhys: UInt64
    let dmapBase: UInt64
    let dmapEnd: UInt64
    let pmapOffset: Int
    let pmapEntries: Int
    let bitmapOffset: Int
    let bitmapBits: Int
    let dataOffset: Int
    /// (start, end, firstBit) of every physical range.
    let ranges: [(start: UInt64, end: UInt64, firstBit: UInt64)]

    init(bytes: [UInt8]) {
        self.bytes = bytes
        func roundPage(_ value: Int) -> Int { (value + 4095) / 4096 * 4096 }
        version = getU32LE(bytes, at: 24)
        let msgbufSize = Int(getU32LE(bytes, at: 28))
        let bitmapSize = Int(getU32LE(bytes, at: 32))
        let pmapSize = Int(getU32LE(bytes, at: 36))
        kernbase = getU64LE(bytes, at: 40)
        dmapPhys = getU64LE(bytes, at: 48)
        dmapBase = getU64LE(bytes, at: 56)
        dmapEnd = getU64LE(bytes, at: 64)
        let dumpAvailSize = version >= 2 ? Int(getU32LE(bytes, at: 72)) : 0
        let dumpAvailOffset = 4096 + roundPage(msgbufSize)
        bitmapOffset = dumpAvailOffset + roundPage(dumpAvailSize)
        pmapOffset = bitmapOffset + roundPage(bitmapSize)
        dataOffset = pmapOffset + roundPage(pmapSize)
        pmapEntries = pmapSize / 8
        bitmapBits = bitmapSize * 8
        if version >= 2 {
            var found: [(UInt64, UInt64, UInt64)] = []
            var bit: UInt64 = 0
            var at = dumpAvailOffset
            while getU64LE(bytes, at: at + 8) != 0 {
                let start = getU64LE(bytes, at: at), end = getU64LE(bytes, at: at + 8)
                found.append((start, end, bit))
                bit += (end + 4095) / 4096 - start / 4096
                at += 16
            }
            ranges = found
        } else {
            ranges = [(0, UInt64(bitmapSize) * 8 * 4096, 0)]
        }
    }

    func bitIsSet(_ bit: Int) -> Bool { bytes[bitmapOffset + bit / 8] >> (bit % 8) & 1 == 1 }

    /// File offset of physical address `pa`, or nil if its page is not dumped or not in the file.
    func fileOffset(ofPhysical pa: UInt64) -> Int? {
        guard let range = ranges.first(where: { $0.start <= pa && pa < $0.end }) else { return nil }
        let bit = Int(range.firstBit + pa / 4096 - range.start / 4096)
        guard bit < bitmapBits, bitIsSet(bit) else { return nil }
        var before = 0
        for n in 0..<bit where bitIsSet(n) { before += 1 }
        let offset = dataOffset + before * 4096
        return offset + 4096 <= bytes.count ? offset + Int(pa % 4096) : nil
    }

    /// Physical address of `va`, or nil if neither map has it.
    func physicalAddress(of va: UInt64) -> UInt64? {
        if va >= dmapBase && va < dmapEnd { return va - dmapBase + dmapPhys }
        guard va >= kernbase else { return nil }
        let index = (va - kernbase) / 4096
        guard index < UInt64(pmapEntries), pmapOffset + Int(index) * 8 + 8 <= bytes.count else { return nil }
        let pte = getU64LE(bytes, at: pmapOffset + Int(index) * 8)
        guard pte & 1 == 1, pte & 0b1110 != 0 else { return nil }
        let ppn = (pte & 0x003f_ffff_ffff_ffff) >> 10
        return ppn * 4096 + va % 4096
    }

    /// File offset of `va`, or nil if it cannot be read.
    func fileOffset(of va: UInt64) -> Int? { physicalAddress(of: va).flatMap { fileOffset(ofPhysical: $0) } }
}
