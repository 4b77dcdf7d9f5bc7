/// i386 minidumps, versions 1 and 2, PAE and non-PAE, as `sys/i386/i386/minidump_machdep_base.c`
/// writes them (spec beyond-amd64-minidump.md §2): a zeroed header page holding the 52-byte
/// header (magic "minidump FreeBSD/i386", version, msgbufsize, bitmapsize, ptesize, 32-bit
/// kernbase, paemode, dumpavailsize in v2), the msgbuf ring (and the `struct msgbuf` the kernel
/// keeps after it), dump_avail (v2: u64 pairs, zero-terminated), the bitmap (v1: bit n = physical
/// page n; v2: bits counted through dump_avail), the PTE map (one 4 KiB page of PTEs per
/// page-directory entry: 512 × 8 bytes per 2 MiB with PAE, 1024 × 4 bytes per 4 MiB without),
/// then the dumped pages in physical order. A superpage reaches the map as the writer makes it: a
/// synthetic page-table page of `(pa + k·4096) | V | RW | A | M` (NX lost).

/// One run of i386 kernel-map pages.
public struct I386Mapping: Sendable, Equatable {
    /// First virtual address (page aligned; superpage aligned for a superpage).
    public var virtualAddress: UInt64
    /// Number of 4 KiB pages (a superpage covers 512 with PAE, 1024 without; `count` is then ignored).
    public var count: Int
    /// A 2 MiB (PAE) or 4 MiB (non-PAE) page, which the writer expands.
    public var superpage: Bool
    /// First physical address; nil = free RAM chosen by the seeded generator (pages need not be contiguous).
    public var physicalAddress: UInt64?
    /// Sets RW.
    public var writable: Bool
    /// Clears NX (PAE only; non-PAE PTEs have no NX bit).
    public var executable: Bool
    /// When false the pages' bitmap bits stay clear: the PTE points at memory the dump lacks.
    public var dumped: Bool

    /// A mapping of `count` 4 KiB pages at `virtualAddress`.
    public init(virtualAddress: UInt64, count: Int = 1, superpage: Bool = false, physicalAddress: UInt64? = nil,
                writable: Bool = true, executable: Bool = false, dumped: Bool = true) {
        self.virtualAddress = virtualAddress
        self.count = count
        self.superpage = superpage
        self.physicalAddress = physicalAddress
        self.writable = writable
        self.executable = executable
        self.dumped = dumped
    }
}

/// Everything needed to generate one i386 minidump.
public struct I386DumpDescription: Sendable {
    /// 1 or 2.
    public var version: UInt32
    /// PAE (8-byte PTEs, `paemode` 1) or not (4-byte PTEs, `paemode` 0).
    public var pae: Bool
    /// Seed of random placement.
    public var seed: UInt64
    /// RAM: ascending, page aligned, disjoint; below 4 GiB without PAE, below 64 GiB with it.
    public var physicalRanges: [Range<UInt64>]
    /// KERNBASE (8 MiB on FreeBSD 12 and later, 0xc0000000 before): page-directory aligned.
    public var kernbase: UInt64
    /// Pages of the PTE map (`ptesize / 4096`): each covers 2 MiB with PAE, 4 MiB without.
    public var mapPages: Int
    /// Kernel-map mappings, in order.
    public var mappings: [I386Mapping]
    /// Bytes the kernel reserved for the message buffer (a page multiple): ring plus `struct msgbuf`.
    public var messageBufferReservation: Int
    /// Everything written to the message buffer; the last `ring` bytes are kept.
    public var messageText: [UInt8]
    /// Where the message buffer is mapped (its pages are mapped and dumped); the struct follows the ring.
    public var messageBufferVirtualAddress: UInt64
    /// Bytes written at virtual addresses over page contents (the pages must be mapped), applied in order.
    public var overlays: [Overlay]

    /// A description; the default is a small FreeBSD 12+ layout (kernbase 8 MiB).
    public init(version: UInt32 = 2, pae: Bool = true, seed: UInt64 = 0,
                physicalRanges: [Range<UInt64>] = [0..<0x9f000, 0x10_0000..<0x100_0000],
                kernbase: UInt64 = 0x80_0000, mapPages: Int = 4, mappings: [I386Mapping] = [],
                messageBufferReservation: Int = 0x2000, messageText: [UInt8] = [],
                messageBufferVirtualAddress: UInt64 = 0, overlays: [Overlay] = []) {
        self.version = version
        self.pae = pae
        self.seed = seed
        self.physicalRanges = physicalRanges
        self.kernbase = kernbase
        self.mapPages = mapPages
        self.mappings = mappings
        self.messageBufferReservation = messageBufferReservation
        self.messageText = messageText
        self.messageBufferVirtualAddress = messageBufferVirtualAddress
        self.overlays = overlays
    }

    /// Bytes of a PTE: 8 with PAE, 4 without.
    public var entrySize: Int { pae ? 8 : 4 }
    /// Bytes of one superpage (and of the VA one map page covers): 2 MiB with PAE, 4 MiB without.
    public var superpageSize: UInt64 { pae ? 0x20_0000 : 0x40_0000 }
    /// `sizeof(struct msgbuf)` on i386 (FreeBSD 9 and later).
    public static let msgbufStructSize = 56
}

/// One page of the generated kernel map.
public struct I386Page: Sendable, Equatable {
    public var virtualAddress: UInt64
    public var physicalAddress: UInt64
    public var writable: Bool
    public var executable: Bool
    /// The PTE as written in the map.
    public var pte: UInt64
}

/// What a generated i386 dump contains.
public struct I386GroundTruth: Sendable {
    public var version: UInt32
    public var pae: Bool
    public var kernbase: UInt64
    public var physicalRanges: [Range<UInt64>]
    /// The map's PTEs, index i for `kernbase + i·4096` (0 = invalid).
    public var ptes: [UInt64]
    /// Valid kernel-map pages, in VA order.
    public var pages: [I386Page]
    /// Dumped physical pages, ascending: the data section's order.
    public var dumpedPages: [UInt64]
    /// Pages whose contents are not the stamp (msgbuf, overlays).
    public var specialPages: [UInt64: [UInt8]]
    /// File offset of the data section.
    public var dataOffset: UInt64
    /// Header fields.
    public var msgbufSize: UInt32
    public var bitmapSize: UInt32
    public var pteSize: UInt32
    public var dumpAvailSize: UInt32
    /// The msgbuf text a reader should print (the ring unwrapped) and `msgbufp`'s value.
    public var messageText: [UInt8]
    public var msgbufPointer: UInt64
    /// File size.
    public var fileSize: UInt64

    /// The PTE for `va`, or nil outside the map.
    public func pte(ofVirtual va: UInt64) -> UInt64? {
        guard va >= kernbase else { return nil }
        let index = (va - kernbase) >> 12
        return index < UInt64(ptes.count) ? ptes[Int(index)] : nil
    }

    /// The physical address `va` maps to, or nil if its PTE is invalid or it is outside the map.
    public func physicalAddress(ofVirtual va: UInt64) -> UInt64? {
        guard let pte = pte(ofVirtual: va), pte & 1 != 0 else { return nil }
        let frame: UInt64 = pae ? 0x000f_ffff_ffff_f000 : 0xffff_f000
        return (pte & frame) | (va & 0xfff)
    }

    /// The file offset of dumped physical page `pa`, or nil.
    public func fileOffset(ofPhysicalPage pa: UInt64) -> UInt64? {
        var low = 0, high = dumpedPages.count
        while low < high {
            let mid = (low + high) / 2
            if dumpedPages[mid] < pa & ~0xfff { low = mid + 1 } else { high = mid }
        }
        guard low < dumpedPages.count, dumpedPages[low] == pa & ~0xfff else { return nil }
        return dataOffset + UInt64(low) * 4096
    }

    /// The byte of dumped memory at `pa`, or nil if its page is not dumped.
    public func byte(atPhysical pa: UInt64) -> UInt8? {
        guard fileOffset(ofPhysicalPage: pa) != nil else { return nil }
        if let page = specialPages[pa & ~0xfff] { return page[Int(pa & 0xfff)] }
        return pageStamp(physicalAddress: pa, offset: Int(pa & 0xfff))
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

/// A generated i386 dump: its bytes and ground truth.
public struct GeneratedI386Dump: Sendable {
    public var bytes: [UInt8]
    public var truth: I386GroundTruth
}

/// Builds the i386 minidump `d` describes.
public func generateI386Dump(_ d: I386DumpDescription) throws(GeneratorError) -> GeneratedI386Dump {
    func fail(_ why: String) -> GeneratorError { .invalidDescription("i386: " + why) }
    guard d.version == 1 || d.version == 2 else { throw fail("version \(d.version) is not 1 or 2") }
    guard !d.physicalRanges.isEmpty else { throw fail("no physical memory") }
    let paLimit: UInt64 = d.pae ? 1 << 36 : 1 << 32
    for (i, r) in d.physicalRanges.enumerated() {
        guard r.lowerBound & 0xfff == 0, r.upperBound & 0xfff == 0, r.lowerBound < r.upperBound, r.upperBound <= paLimit,
              i == 0 || d.physicalRanges[i - 1].upperBound <= r.lowerBound
        else { throw fail("physical range \(i) \(hex(r.lowerBound))..<\(hex(r.upperBound)) is invalid") }
    }
    guard d.kernbase % d.superpageSize == 0, d.mapPages > 0,
          d.kernbase + UInt64(d.mapPages) * d.superpageSize <= 1 << 32
    else { throw fail("kernbase \(hex(d.kernbase)) with \(d.mapPages) map pages does not fit below 4 GiB") }
    let perPage = 4096 / d.entrySize
    let entries = d.mapPages * perPage
    let mapEnd = d.kernbase + UInt64(entries) * 4096
    func inRAM(_ pa: UInt64) -> Bool { d.physicalRanges.contains { $0.contains(pa) } }

    var rng = SplitMix64(seed: d.seed ^ 0x6933_3836)
    var used = Set<UInt64>()
    var ptes = [UInt64](repeating: 0, count: entries)
    var dumped = Set<UInt64>()
    let ramPages = d.physicalRanges.reduce(UInt64(0)) { $0 + ($1.upperBound - $1.lowerBound) / 4096 }
    func randomFreePage() throws(GeneratorError) -> UInt64 {
        for _ in 0..<4096 {
            var k = rng.next(below: ramPages)
            for r in d.physicalRanges {
                let n = (r.upperBound - r.lowerBound) / 4096
                if k < n {
                    let pa = r.lowerBound + k * 4096
                    if pa != 0, !used.contains(pa) { used.insert(pa); return pa }
                    break
                }
                k -= n
            }
        }
        throw .outOfPhysicalMemory("i386: no free page found")
    }
    func setPTE(_ va: UInt64, _ value: UInt64) throws(GeneratorError) {
        guard va >= d.kernbase, va < mapEnd else { throw fail("mapping at \(hex(va)) is outside the map") }
        ptes[Int((va - d.kernbase) >> 12)] = value
    }

    // The message buffer: mapped, dumped, struct after the ring.
    let ringSize = d.messageBufferReservation - I386DumpDescription.msgbufStructSize
    guard d.messageBufferReservation % 4096 == 0, ringSize > 0 else { throw fail("message buffer reservation \(d.messageBufferReservation)") }
    var mappings = d.mappings
    let msgbufVA = d.messageBufferVirtualAddress == 0 ? mapEnd - UInt64(d.messageBufferReservation) : d.messageBufferVirtualAddress
    mappings.append(I386Mapping(virtualAddress: msgbufVA, count: d.messageBufferReservation / 4096))
    // Reserve explicit placements first so random ones avoid them.
    for m in mappings {
        guard let pa = m.physicalAddress else { continue }
        let n = m.superpage ? Int(d.superpageSize / 4096) : m.count
        for k in 0..<UInt64(n) { used.insert(pa + k * 4096) }
    }
    let frameFlags: (I386Mapping) -> UInt64 = { m in
        var bits: UInt64 = 0x1 | 0x20 | 0x100  // V, A, G (G must be masked out of the frame)
        if m.writable { bits |= 0x2 | 0x40 }
        if d.pae && !m.executable { bits |= 1 << 63 }
        return bits
    }
    for m in mappings {
        if m.superpage {
            guard m.virtualAddress % d.superpageSize == 0, let pa = m.physicalAddress, pa % d.superpageSize == 0 else {
                throw fail("superpage at \(hex(m.virtualAddress)) needs aligned virtual and physical addresses")
            }
            for k in 0..<(d.superpageSize / 4096) {
                // The writer's synthetic page-table page: V | RW | A | M, NX lost.
                try setPTE(m.virtualAddress + k * 4096, (pa + k * 4096) | 0x63)
                if m.dumped, inRAM(pa + k * 4096) { dumped.insert(pa + k * 4096) }
            }
            continue
        }
        for k in 0..<UInt64(m.count) {
            let pa: UInt64
            if let base = m.physicalAddress { pa = base + k * 4096 } else { pa = try randomFreePage() }
            try setPTE(m.virtualAddress + k * 4096, pa | frameFlags(m))
            if m.dumped, inRAM(pa) { dumped.insert(pa) }
        }
    }
    let truthPages = ptes.enumerated().compactMap { i, pte -> I386Page? in
        guard pte & 1 != 0 else { return nil }
        let frame: UInt64 = d.pae ? 0x000f_ffff_ffff_f000 : 0xffff_f000
        return I386Page(virtualAddress: d.kernbase + UInt64(i) * 4096, physicalAddress: pte & frame,
                        writable: pte & 2 != 0, executable: !d.pae || pte >> 63 == 0, pte: pte)
    }
    let dumpedPages = dumped.sorted()

    // Special page contents: the msgbuf (ring + struct), then overlays.
    var special: [UInt64: [UInt8]] = [:]
    func pageBytes(_ pa: UInt64) -> [UInt8] {
        special[pa] ?? (0..<4096).map { pageStamp(physicalAddress: pa, offset: $0) }
    }
    func write(_ bytes: [UInt8], atVirtual va: UInt64) throws(GeneratorError) {
        // One page at a time: the bytes that fall in each mapped page are copied into it at once.
        var i = 0
        while i < bytes.count {
            let v = va + UInt64(i)
            guard v >= d.kernbase, v < mapEnd, ptes[Int((v - d.kernbase) >> 12)] & 1 != 0 else {
                throw fail("bytes at \(hex(v)) are not mapped")
            }
            let frame: UInt64 = d.pae ? 0x000f_ffff_ffff_f000 : 0xffff_f000
            let pa = ptes[Int((v - d.kernbase) >> 12)] & frame
            let offset = Int(v & 0xfff)
            let n = min(bytes.count - i, 4096 - offset)
            var page = pageBytes(pa)
            page.replaceSubrange(offset..<offset + n, with: bytes[i..<i + n])
            special[pa] = page
            i += n
        }
    }
    var reservation = [UInt8](repeating: 0, count: d.messageBufferReservation)
    let text = d.messageText
    for s in max(0, text.count - ringSize)..<text.count { reservation[s % ringSize] = text[s] }
    let seqmod = UInt64(ringSize) * 16
    let wseq = UInt32(UInt64(text.count) % seqmod)
    let structOffset = ringSize
    setU32LE(&reservation, at: structOffset, UInt32(msgbufVA))           // msg_ptr
    setU32LE(&reservation, at: structOffset + 4, MessageBufferDescription.magic)
    setU32LE(&reservation, at: structOffset + 8, UInt32(ringSize))      // msg_size
    setU32LE(&reservation, at: structOffset + 12, wseq)                 // msg_wseq
    setU32LE(&reservation, at: structOffset + 16, wseq)                 // msg_rseq: all read
    setU32LE(&reservation, at: structOffset + 20, reservation[0..<ringSize].reduce(0) { $0 &+ UInt32($1) })
    setU32LE(&reservation, at: structOffset + 24, UInt32(seqmod))
    setU32LE(&reservation, at: structOffset + 28, UInt32(bitPattern: -1)) // msg_lastpri
    setU32LE(&reservation, at: structOffset + 36, 0x00c1_2340)           // msg_lock.lo_name
    try write(reservation, atVirtual: msgbufVA)
    for overlay in d.overlays { try write(overlay.bytes, atVirtual: overlay.va) }

    // Sections.
    let msgbufSize = UInt32(ringSize)
    var dumpAvail: [UInt8] = []
    if d.version == 2 {
        dumpAvail = [UInt8](repeating: 0, count: Int(roundPage(UInt64(16 * (d.physicalRanges.count + 1)))))
        for (i, r) in d.physicalRanges.enumerated() {
            setU64LE(&dumpAvail, at: 16 * i, r.lowerBound)
            setU64LE(&dumpAvail, at: 16 * i + 8, r.upperBound)
        }
    }
    func bit(of pa: UInt64) -> UInt64 {
        guard d.version == 2 else { return pa / 4096 }
        var first: UInt64 = 0
        for r in d.physicalRanges {
            if r.contains(pa) { return first + (pa - r.lowerBound) / 4096 }
            first += (r.upperBound - r.lowerBound) / 4096
        }
        return 0
    }
    let bits = d.version == 2 ? ramPages : d.physicalRanges.last!.upperBound / 4096
    let bitmapSize = roundPage((bits + 31) / 32 * 4)  // BITSET_SIZE in 32-bit longs, page rounded
    var bitmap = [UInt8](repeating: 0, count: Int(bitmapSize))
    for pa in dumpedPages {
        let b = bit(of: pa)
        bitmap[Int(b / 8)] |= 1 << (b % 8)
    }
    var map = [UInt8](repeating: 0, count: d.mapPages * 4096)
    for (i, pte) in ptes.enumerated() {
        if d.pae { setU64LE(&map, at: i * 8, pte) } else { setU32LE(&map, at: i * 4, UInt32(truncatingIfNeeded: pte)) }
    }
    var header = [UInt8](repeating: 0, count: 4096)
    let magic = Array("minidump FreeBSD/i386".utf8)
    header.replaceSubrange(0..<magic.count, with: magic)
    setU32LE(&header, at: 24, d.version)
    setU32LE(&header, at: 28, msgbufSize)
    setU32LE(&header, at: 32, UInt32(bitmapSize))
    setU32LE(&header, at: 36, UInt32(map.count))
    setU32LE(&header, at: 40, UInt32(d.kernbase))
    setU32LE(&header, at: 44, d.pae ? 1 : 0)
    if d.version == 2 { setU32LE(&header, at: 48, UInt32(dumpAvail.count)) }

    // The msgbuf section is round_page(msg_size) bytes of the ring's memory: the ring, then the struct.
    var out = header
    out += reservation[0..<Int(roundPage(UInt64(msgbufSize)))]
    out += dumpAvail
    out += bitmap
    out += map
    let dataOffset = UInt64(out.count)
    out.reserveCapacity(out.count + dumpedPages.count * 4096)
    for pa in dumpedPages { out += pageBytes(pa) }

    let ring = Array(reservation[0..<ringSize])
    let wrapped = text.count > ringSize
    let start = Int(UInt64(wseq) % UInt64(ringSize))
    let unwrapped = wrapped ? Array(ring[start...] + ring[..<start]) : Array(ring[..<min(text.count, ringSize)])
    let truth = I386GroundTruth(
        version: d.version, pae: d.pae, kernbase: d.kernbase, physicalRanges: d.physicalRanges, ptes: ptes,
        pages: truthPages, dumpedPages: dumpedPages, specialPages: special, dataOffset: dataOffset,
        msgbufSize: msgbufSize, bitmapSize: UInt32(bitmapSize), pteSize: UInt32(map.count),
        dumpAvailSize: UInt32(dumpAvail.count), messageText: unwrapped,
        msgbufPointer: msgbufVA + UInt64(ringSize), fileSize: UInt64(out.count))
    return GeneratedI386Dump(bytes: out, truth: truth)
}
