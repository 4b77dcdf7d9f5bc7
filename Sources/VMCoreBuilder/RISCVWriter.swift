/// Writes riscv minidumps (versions 1 and 2) from a `RISCVDumpDescription`, as
/// `sys/riscv/riscv/minidump_machdep.c` lays them out: a header page, msgbuf, dump_avail (v2, one
/// page), the page bitmap (v1: bit n = PA n × 4096; v2: through dump_avail), one page of L3 entries
/// per 2 MiB of KVA from kernbase, then the dumped pages in bitmap order. Every leaf's memory that
/// is RAM is dumped, like the kernel's walk does. Independent of `MinidumpCore`.

/// What a generated riscv dump contains: the tests' ground truth.
public struct RISCVGroundTruth: Sendable {
    public var version: UInt32
    public var kernbase: UInt64
    public var dmapPhys: UInt64
    public var dmapBase: UInt64
    public var dmapEnd: UInt64
    public var msgbufSize: UInt32
    public var bitmapSize: UInt32
    public var pmapSize: UInt32
    /// 4096 in v2, 0 in v1 (no such field).
    public var dumpAvailSize: UInt32
    public var msgbufOffset: UInt64
    /// v1: equals `bitmapOffset` (no section).
    public var dumpAvailOffset: UInt64
    public var bitmapOffset: UInt64
    public var pmapOffset: UInt64
    public var dataOffset: UInt64
    /// File length.
    public var fileSize: UInt64
    /// RAM (dump_avail in v2).
    public var physicalRanges: [Range<UInt64>]
    /// Sorted physical addresses of the dumped pages (data page k holds `dumpedPages[k]`).
    public var dumpedPages: [UInt64]
    /// The L3 map section, one entry per 4 KiB from kernbase.
    public var pmap: [UInt64]
    /// Every leaf the reader uses (V and one of R, W, X), in VA order; each 4 KiB.
    public var kernelPages: [KernelPage]
    /// Sorted physical addresses of the pages dumped only for the direct map.
    public var directMapOnlyPages: [UInt64]
    /// The last min(written, msg_size) bytes of the msgbuf, oldest first.
    public var messageText: [UInt8]
    /// Bytes from rseq to wseq.
    public var unreadText: [UInt8]
    /// `msg_ptr`: the direct-map address of the ring.
    public var msgbufVirtualAddress: UInt64
    public var msgbufPhysicalAddress: UInt64
    /// Direct-map address of `struct msgbuf`, nil when absent.
    public var msgbufStructVirtualAddress: UInt64?
    public var overlays: [Overlay]
    public var stampPages: Bool
    /// Full content of every page that is not a plain stamp.
    var specialPages: [UInt64: [UInt8]] = [:]

    /// `dmapbase + pa - dmapphys`, or nil outside the direct map.
    public func directMapAddress(ofPhysical pa: UInt64) -> UInt64? {
        guard pa >= dmapPhys, pa - dmapPhys < dmapEnd - dmapBase else { return nil }
        return dmapBase + (pa - dmapPhys)
    }

    /// The leaf mapping `va`, if any.
    public func kernelPage(containing va: UInt64) -> KernelPage? {
        var lo = 0, hi = kernelPages.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if kernelPages[mid].va <= va { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let page = kernelPages[lo - 1]
        return va - page.va < page.size ? page : nil
    }

    /// Physical address of `va`: the direct map first (it lies above kernbase), then the kernel map.
    public func physicalAddress(ofVirtual va: UInt64) -> UInt64? {
        if va >= dmapBase && va < dmapEnd { return va - dmapBase + dmapPhys }
        return kernelPage(containing: va).map { $0.pa + (va - $0.va) }
    }

    /// Index of the dumped page `page`, or nil.
    func rank(of page: UInt64) -> Int? {
        var lo = 0, hi = dumpedPages.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if dumpedPages[mid] < page { lo = mid + 1 } else { hi = mid }
        }
        return lo < dumpedPages.count && dumpedPages[lo] == page ? lo : nil
    }

    /// Whether the page holding `pa` is dumped.
    public func isDumped(physicalPage pa: UInt64) -> Bool { rank(of: pa & ~0xfff) != nil }

    /// File offset of `pa` if its page is dumped.
    public func fileOffset(ofPhysical pa: UInt64) -> UInt64? {
        rank(of: pa & ~0xfff).map { dataOffset + UInt64($0) * 4096 + (pa & 0xfff) }
    }

    /// The byte at `pa`, or nil if its page is not dumped.
    public func byte(atPhysical pa: UInt64) -> UInt8? {
        guard isDumped(physicalPage: pa) else { return nil }
        let page = pa & ~0xfff
        if let special = specialPages[page] { return special[Int(pa & 0xfff)] }
        return stampPages ? pageStamp(physicalAddress: page, offset: Int(pa & 0xfff)) : 0
    }

    /// `count` bytes at `va`, or nil if any is unreadable.
    public func bytes(atVirtual va: UInt64, count: Int) -> [UInt8]? {
        var out: [UInt8] = []
        for i in 0..<UInt64(count) {
            guard let pa = physicalAddress(ofVirtual: va + i), let b = byte(atPhysical: pa) else { return nil }
            out.append(b)
        }
        return out
    }
}

/// A generated riscv dump and its ground truth.
public struct RISCVGeneratedDump: Sendable {
    public var bytes: [UInt8]
    public var truth: RISCVGroundTruth

    /// A dump from file bytes and truth (used for corrupt variants).
    public init(bytes: [UInt8], truth: RISCVGroundTruth) {
        self.bytes = bytes
        self.truth = truth
    }

    /// Writes `bytes` to `path` as a sparse file.
    public func write(to path: String) throws(GeneratorError) {
        var sink = try FileSink(path: path, size: UInt64(bytes.count))
        try sink.writeSkippingZeroBlocks(bytes, at: 0)
        try sink.finish()
    }
}

/// The magic of a riscv minidump.
let riscvMagic = Array("minidump FreeBSD/riscv".utf8)

/// Generates the riscv dump `d` in memory.
public func generateRISCVDump(_ d: RISCVDumpDescription) throws(GeneratorError) -> RISCVGeneratedDump {
    try validateRISCV(d)
    // v2 indexes the bitmap through dump_avail (amd64 v3's scheme); v1 by PA from 0.
    let index = PhysicalIndex(ranges: d.physicalRanges, version: d.version == 2 ? 3 : 1)
    var memory = PhysicalMemory(index: index, seed: d.seed)
    for m in d.mappings {
        if case .physical(let pa) = m.placement { memory.markDumped(pa, size: m.pageSize.rawValue * UInt64(m.count)) }
    }
    let mb = d.messageBuffer
    guard let msgPA = mb.physicalAddress else { throw .invalidDescription("the riscv message buffer needs a physical address") }
    memory.markDumped(msgPA, size: UInt64(mb.reservedSize))
    let msgVA = d.dmapBase + (msgPA - d.dmapPhys)
    let image = try MessageBufferImage(mb, ringAddress: msgVA)

    var map = [UInt64](repeating: 0, count: d.kernelMapChunks * 512)
    func place(_ va: UInt64, _ entry: UInt64, _ what: String) throws(GeneratorError) {
        guard va >= d.kernbase, (va - d.kernbase) >> 12 < UInt64(map.count) else {
            throw .invalidDescription("\(what) at \(hex(va)) lies outside the kernel map")
        }
        let i = Int((va - d.kernbase) >> 12)
        guard map[i] == 0 else { throw .invalidDescription("\(what) at \(hex(va)) overlaps another entry") }
        map[i] = entry
    }
    for (m, mapping) in d.mappings.enumerated() {
        let size = mapping.pageSize.rawValue
        var flags = RISCVEntryBits.valid | RISCVEntryBits.read | RISCVEntryBits.accessed | RISCVEntryBits.dirty
            | RISCVEntryBits.global | RISCVEntryBits.softwareWired
        if mapping.writable { flags |= RISCVEntryBits.write }
        if mapping.executable { flags |= RISCVEntryBits.execute }
        for k in 0..<UInt64(mapping.count) {
            let va = mapping.virtualAddress + k * size
            let pa: UInt64
            switch mapping.placement {
            case .random: pa = try memory.allocate(size: size, what: "riscv mapping \(m) page \(k)")
            case .physical(let base): pa = base + k * size
            }
            let leaf = RISCVEntryBits.entry(pa: pa, flags: flags) | mapping.reservedBits
            if size == 0x1000 {
                try place(va, leaf, "mapping \(m) page \(k)")
            } else {
                // The writer's synthetic L3 page for an L2 superpage: l2e | (i << PTE_PPN0_S).
                for i in 0..<UInt64(512) { try place(va + i << 12, leaf | i << RISCVEntryBits.ppnShift, "mapping \(m) page \(k)") }
            }
        }
    }
    for (r, raw) in d.rawEntries.enumerated() { try place(raw.virtualAddress, raw.entry, "raw entry \(r)") }
    var dmapOnly: [UInt64] = []
    for i in 0..<d.directMapOnlyPages { dmapOnly.append(try memory.allocate(size: 0x1000, what: "direct-map-only page \(i)")) }
    dmapOnly.sort()

    let msgbufSize = UInt64(mb.ringSize)
    let dumpAvailSize: UInt64 = d.version == 2 ? 4096 : 0
    let pmapSize = UInt64(map.count) * 8
    let dumpAvailOffset = 4096 + roundPage(msgbufSize)
    let bitmapOffset = dumpAvailOffset + dumpAvailSize
    let pmapOffset = bitmapOffset + index.bitmapSize
    let dataOffset = pmapOffset + pmapSize
    let dumped = memory.dumpedPages()
    var kernelPages: [KernelPage] = []
    for (i, e) in map.enumerated() where e & RISCVEntryBits.valid != 0 && e & 0xe != 0 {
        let pa = ((e & ~RISCVEntryBits.reservedHigh) >> RISCVEntryBits.ppnShift) << 12
        let present = index.bit(of: pa).map { memory.test($0) } ?? false
        kernelPages.append(KernelPage(va: d.kernbase + UInt64(i) << 12, pa: pa, size: 0x1000,
                                      writable: e & RISCVEntryBits.write != 0, executable: e & RISCVEntryBits.execute != 0,
                                      presentPages: present ? 1 : 0))
    }
    var truth = RISCVGroundTruth(
        version: d.version, kernbase: d.kernbase, dmapPhys: d.dmapPhys, dmapBase: d.dmapBase, dmapEnd: d.dmapEnd,
        msgbufSize: UInt32(msgbufSize), bitmapSize: UInt32(index.bitmapSize), pmapSize: UInt32(pmapSize),
        dumpAvailSize: UInt32(dumpAvailSize), msgbufOffset: 4096, dumpAvailOffset: dumpAvailOffset,
        bitmapOffset: bitmapOffset, pmapOffset: pmapOffset, dataOffset: dataOffset,
        fileSize: dataOffset + UInt64(dumped.count) * 4096, physicalRanges: d.physicalRanges, dumpedPages: dumped,
        pmap: map, kernelPages: kernelPages, directMapOnlyPages: dmapOnly, messageText: image.messageText,
        unreadText: image.unreadText, msgbufVirtualAddress: msgVA, msgbufPhysicalAddress: msgPA,
        msgbufStructVirtualAddress: mb.structState == .absent ? nil : msgVA + msgbufSize,
        overlays: d.overlays, stampPages: d.stampPages)

    var special: [UInt64: [UInt8]] = [:]
    for p in stride(from: 0, to: mb.reservedSize, by: 4096) {
        special[msgPA + UInt64(p)] = Array(image.bytes[p..<(p + 4096)])
    }
    truth.specialPages = special
    for overlay in d.overlays {
        for (i, byte) in overlay.bytes.enumerated() {
            let va = overlay.va + UInt64(i)
            guard let pa = truth.physicalAddress(ofVirtual: va), truth.isDumped(physicalPage: pa) else {
                throw .invalidDescription("overlay byte at \(hex(va)) is not mapped to a dumped page")
            }
            let page = pa & ~0xfff
            if special[page] == nil {
                special[page] = (0..<4096).map { d.stampPages ? pageStamp(physicalAddress: page, offset: $0) : 0 }
            }
            special[page]![Int(pa & 0xfff)] = byte
        }
    }
    truth.specialPages = special

    var bytes = [UInt8](repeating: 0, count: Int(truth.fileSize))
    bytes.replaceSubrange(0..<riscvMagic.count, with: riscvMagic)
    setU32LE(&bytes, at: 24, d.version)
    setU32LE(&bytes, at: 28, UInt32(msgbufSize))
    setU32LE(&bytes, at: 32, UInt32(index.bitmapSize))
    setU32LE(&bytes, at: 36, UInt32(pmapSize))
    setU64LE(&bytes, at: 40, d.kernbase)
    setU64LE(&bytes, at: 48, d.dmapPhys)
    setU64LE(&bytes, at: 56, d.dmapBase)
    setU64LE(&bytes, at: 64, d.dmapEnd)
    if d.version == 2 {
        setU32LE(&bytes, at: 72, UInt32(dumpAvailSize))
        for (i, r) in d.physicalRanges.enumerated() {
            setU64LE(&bytes, at: Int(dumpAvailOffset) + 16 * i, r.lowerBound)
            setU64LE(&bytes, at: Int(dumpAvailOffset) + 16 * i + 8, r.upperBound)
        }
    }
    bytes.replaceSubrange(4096..<(4096 + mb.reservedSize), with: image.bytes)
    for (w, word) in memory.words.enumerated() { setU64LE(&bytes, at: Int(bitmapOffset) + 8 * w, word) }
    for (i, e) in map.enumerated() { setU64LE(&bytes, at: Int(pmapOffset) + 8 * i, e) }
    for (k, page) in dumped.enumerated() {
        let at = Int(dataOffset) + k * 4096
        if let content = special[page] {
            bytes.replaceSubrange(at..<(at + 4096), with: content)
        } else if d.stampPages {
            fillStamp(&bytes, at: at, page: page)
        }
    }
    return RISCVGeneratedDump(bytes: bytes, truth: truth)
}

/// Rejects descriptions FreeBSD's riscv writer could not have produced.
func validateRISCV(_ d: RISCVDumpDescription) throws(GeneratorError) {
    func fail(_ why: String) -> GeneratorError { .invalidDescription("riscv: " + why) }
    guard (1...2).contains(d.version) else { throw fail("version \(d.version) is not 1 or 2") }
    guard let first = d.physicalRanges.first, let last = d.physicalRanges.last else { throw fail("no physical ranges") }
    var previousEnd: UInt64 = 0
    for (i, r) in d.physicalRanges.enumerated() {
        guard r.lowerBound & 0xfff == 0, r.upperBound & 0xfff == 0, !r.isEmpty, i == 0 || r.lowerBound >= previousEnd else {
            throw fail("range \(i) is empty, not page aligned or not above the one before")
        }
        previousEnd = r.upperBound
    }
    guard d.physicalRanges.count <= 255 else { throw fail("more than 255 ranges do not fit dump_avail") }
    guard d.kernbase & 0x1f_ffff == 0 else { throw fail("kernbase \(hex(d.kernbase)) is not 2 MiB aligned") }
    guard d.dmapPhys & 0xfff == 0, d.dmapPhys <= first.lowerBound else {
        throw fail("dmapphys \(hex(d.dmapPhys)) is not page aligned or above RAM")
    }
    guard d.dmapBase < d.dmapEnd, d.dmapBase & 0xfff == 0, last.upperBound - d.dmapPhys <= d.dmapEnd - d.dmapBase else {
        throw fail("the direct map does not hold RAM")
    }
    guard d.kernelMapChunks >= 1, d.kernelMapChunks <= 0x4_0000 else { throw fail("kernelMapChunks \(d.kernelMapChunks) out of range") }
    guard let pa = d.messageBuffer.physicalAddress, pa & 0xfff == 0,
          d.physicalRanges.contains(where: { $0.contains(pa) && pa + UInt64(d.messageBuffer.reservedSize) <= $0.upperBound })
    else { throw fail("the message buffer needs a page-aligned physical address inside one RAM range") }
    for (i, m) in d.mappings.enumerated() {
        guard m.count >= 0, m.virtualAddress & (m.pageSize.rawValue - 1) == 0, m.reservedBits & ~RISCVEntryBits.reservedHigh == 0 else {
            throw fail("mapping \(i) has a negative count, a misaligned VA or reserved bits outside 63-54")
        }
        if case .physical(let pa) = m.placement, pa & (m.pageSize.rawValue - 1) != 0 || pa >> 56 != 0 {
            throw fail("mapping \(i) PA \(hex(pa)) is misaligned or exceeds 56 bits")
        }
    }
}
