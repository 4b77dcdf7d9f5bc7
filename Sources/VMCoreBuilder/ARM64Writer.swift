/// Writes an arm64 minidump from an `ARM64DumpDescription` the way FreeBSD's
/// sys/arm64/arm64/minidump_machdep.c lays it out: header page, msgbuf, dump_avail (v2+), bitmap,
/// one page of L3 entries per L2 region from kernbase to kernel_vm_end (blocks expanded into
/// synthetic L3 entries `PA | ATTR_AF | ATTR_SH(IS) | L3_PAGE`), then the dumped pages; every
/// unit in the dump's page size. Deterministic for a given description.

/// Descriptor bits of the entries written (sys/arm64/include/pte.h).
enum ARM64Bits {
    static let l3Page: UInt64 = 3
    static let reserved: UInt64 = 1
    static let accessFlag: UInt64 = 1 << 10
    static let innerShareable: UInt64 = 3 << 8
    static let readOnly: UInt64 = 1 << 7
    static let executeNever: UInt64 = 1 << 53 | 1 << 54
    /// Software bit 55, contiguous 52, DBM 51, GP 50, AttrIndx 1.
    static let noise: UInt64 = 1 << 55 | 1 << 52 | 1 << 51 | 1 << 50 | 1 << 2
}

/// Generates the whole arm64 dump in memory.
public func generateARM64Dump(_ d: ARM64DumpDescription) throws(GeneratorError) -> GeneratedARM64Dump {
    try validateARM64(d)
    let ps = d.granule.rawValue
    let dmapPhys = d.effectiveDmapPhys
    let dmapSpan = d.dmapEnd - d.dmapBase
    func inDMAP(_ pa: UInt64) -> Bool { pa >= dmapPhys && pa - dmapPhys < dmapSpan }
    func dumpable(_ pa: UInt64) -> Bool { d.physicalRanges.contains { $0.contains(pa) } }
    var rng = SplitMix64(seed: d.seed ^ 0x6172_6d36_3400_0000)
    var used = Set<UInt64>()
    var dumped = Set<UInt64>()

    /// A random free, `size`-aligned block of `size` bytes inside one range.
    func allocate(_ size: UInt64, _ what: String) throws(GeneratorError) -> UInt64 {
        var blocks: [(first: UInt64, count: UInt64)] = []
        for r in d.physicalRanges {
            let first = (r.lowerBound + size - 1) / size * size
            let last = r.upperBound / size * size
            if last > first { blocks.append((first, (last - first) / size)) }
        }
        let total = blocks.reduce(0) { $0 + $1.count }
        guard total > 0 else { throw .outOfPhysicalMemory("no RAM range holds an aligned \(size)-byte block for \(what)") }
        let start = rng.next(below: total)
        for step in 0..<total {
            var k = (start + step) % total
            var pa: UInt64 = 0
            for b in blocks {
                if k < b.count { pa = b.first + k * size; break }
                k -= b.count
            }
            let pages = stride(from: pa, to: pa + size, by: Int(ps))
            if pages.allSatisfy({ !used.contains($0) }) {
                for p in pages { used.insert(p) }
                return pa
            }
        }
        throw .outOfPhysicalMemory("no free \(size)-byte block left for \(what)")
    }
    /// Marks the pages of `[pa, pa + size)` dumped where the writer would: dumpable and in the DMAP.
    func markDumped(_ pa: UInt64, _ size: UInt64) {
        for p in stride(from: pa, to: pa + size, by: Int(ps)) where dumpable(p) && inDMAP(p) {
            dumped.insert(p)
            used.insert(p)
        }
    }

    // The message buffer: the highest free pages of RAM, like the kernel, or where described.
    let mb = d.messageBuffer
    guard mb.reservedSize % Int(ps) == 0 else {
        throw .invalidDescription("message buffer reservation \(mb.reservedSize) is not a multiple of the page size \(ps)")
    }
    let msgPA: UInt64
    if let pa = mb.physicalAddress {
        msgPA = pa
    } else {
        guard let last = d.physicalRanges.last, last.upperBound - last.lowerBound >= UInt64(mb.reservedSize) else {
            throw .outOfPhysicalMemory("the last RAM range cannot hold the message buffer")
        }
        msgPA = last.upperBound - UInt64(mb.reservedSize)
    }
    guard inDMAP(msgPA), inDMAP(msgPA + UInt64(mb.reservedSize) - 1),
          d.physicalRanges.contains(where: { $0.contains(msgPA) && $0.upperBound >= msgPA + UInt64(mb.reservedSize) })
    else { throw .invalidDescription("message buffer at \(hex(msgPA)) is not in one RAM range inside the direct map") }
    markDumped(msgPA, UInt64(mb.reservedSize))
    let msgVA = d.dmapBase + (msgPA - dmapPhys)
    let image = try MessageBufferImage(mb, ringAddress: msgVA)

    // Explicit placements are reserved first, so random ones avoid them.
    for m in d.mappings where m.kind != .reservedEntries {
        if case .physical(let pa) = m.placement { markDumped(pa, size(of: m, d) * UInt64(m.count)) }
    }
    let perPage = Int(ps / 8)
    var l3 = [UInt64](repeating: 0, count: d.l2Regions * perPage)
    func put(_ va: UInt64, _ entry: UInt64, _ i: Int) throws(GeneratorError) {
        let index = Int((va - d.kernbase) / ps)
        guard l3[index] == 0 else { throw .invalidDescription("mapping \(i) overlaps another at \(hex(va))") }
        l3[index] = entry
    }
    for (i, m) in d.mappings.enumerated() {
        let unit = size(of: m, d)
        for k in 0..<UInt64(m.count) {
            let va = m.virtualAddress + k * unit
            let pa: UInt64
            switch m.placement {
            case .physical(let base): pa = base + k * unit
            case .random:
                pa = m.kind == .reservedEntries ? (d.physicalRanges[0].lowerBound + k * ps)
                    : try allocate(unit, "mapping \(i)")
            }
            switch m.kind {
            case .pages:
                var entry = pa | ARM64Bits.accessFlag | ARM64Bits.innerShareable | ARM64Bits.l3Page
                if !m.writable { entry |= ARM64Bits.readOnly }
                if !m.executable { entry |= ARM64Bits.executeNever }
                if m.attributeNoise { entry |= ARM64Bits.noise }
                try put(va, entry, i)
                markDumped(pa, ps)
            case .reservedEntries:
                try put(va, pa | ARM64Bits.accessFlag | ARM64Bits.reserved, i)
            case .l2Blocks, .l1Blocks:
                for j in 0..<(unit / ps) {
                    try put(va + j * ps, (pa + j * ps) | ARM64Bits.accessFlag | ARM64Bits.innerShareable | ARM64Bits.l3Page, i)
                }
                markDumped(pa, unit)
            }
        }
    }
    var dmapOnly: [UInt64] = []
    for i in 0..<d.directMapOnlyPages {
        var pa: UInt64
        repeat { pa = try allocate(ps, "direct-map-only page \(i)") } while !inDMAP(pa)
        markDumped(pa, ps)
        dmapOnly.append(pa)
    }
    dmapOnly.sort()
    let pages = dumped.sorted()

    // Sections, each a whole number of pages.
    func round(_ x: UInt64) -> UInt64 { (x + ps - 1) / ps * ps }
    let msgbufSize = UInt64(mb.ringSize)
    let dumpAvailSize: UInt64 = d.version >= 2 ? ps : 0
    let bits: UInt64
    var firstBits: [UInt64] = []
    if d.version >= 2 {
        var next: UInt64 = 0
        for r in d.physicalRanges {
            firstBits.append(next)
            next += (r.upperBound + ps - 1) / ps - r.lowerBound / ps
        }
        bits = next
    } else {
        bits = (d.physicalRanges.last?.upperBound ?? 0) / ps
    }
    func bit(of pa: UInt64) -> UInt64 {
        if d.version == 1 { return pa / ps }
        let k = d.physicalRanges.firstIndex { $0.contains(pa) }!
        return firstBits[k] + pa / ps - d.physicalRanges[k].lowerBound / ps
    }
    let bitmapSize = round((bits + 63) / 64 * 8)
    let pmapSize = UInt64(d.l2Regions) * ps
    let dumpAvailOffset = ps + round(msgbufSize)
    let bitmapOffset = dumpAvailOffset + dumpAvailSize
    let pmapOffset = bitmapOffset + bitmapSize
    let dataOffset = pmapOffset + pmapSize
    let fileSize = dataOffset + UInt64(pages.count) * ps

    var kernelPages: [ARM64KernelPage] = []
    for (index, entry) in l3.enumerated() where entry & 3 == ARM64Bits.l3Page {
        let pa = entry & ~0xfffc_0000_0000_0fff
        kernelPages.append(ARM64KernelPage(va: d.kernbase + UInt64(index) * ps, pa: pa,
                                           writable: entry & ARM64Bits.readOnly == 0,
                                           executable: entry & ARM64Bits.executeNever == 0, present: dumped.contains(pa)))
    }
    var truth = ARM64GroundTruth(
        version: d.version, pageSize: ps, flags: d.version >= 3 && ps == 0x4000 ? 1 : 0,
        msgbufSize: UInt32(msgbufSize), bitmapSize: UInt32(bitmapSize), pmapSize: UInt32(pmapSize),
        dumpAvailSize: UInt32(dumpAvailSize), kernbase: d.kernbase, dmapPhys: dmapPhys, dmapBase: d.dmapBase,
        dmapEnd: d.dmapEnd, msgbufOffset: ps, dumpAvailOffset: dumpAvailOffset, bitmapOffset: bitmapOffset,
        pmapOffset: pmapOffset, dataOffset: dataOffset, fileSize: fileSize, physicalRanges: d.physicalRanges,
        dumpedPages: pages, l3Map: l3, kernelPages: kernelPages, directMapOnlyPages: dmapOnly,
        kernelVMEnd: d.kernelVMEnd, messageText: image.messageText, unreadText: image.unreadText,
        msgbufVirtualAddress: msgVA, msgbufPhysicalAddress: msgPA,
        msgbufStructVirtualAddress: mb.structState == .absent ? nil : msgVA + msgbufSize,
        stampPages: d.stampPages, specialPages: [:])

    var special: [UInt64: [UInt8]] = [:]
    for p in stride(from: 0, to: mb.reservedSize, by: Int(ps)) {
        special[msgPA + UInt64(p)] = Array(image.bytes[p..<(p + Int(ps))])
    }
    for overlay in d.overlays {
        for (i, byte) in overlay.bytes.enumerated() {
            let va = overlay.va + UInt64(i)
            guard let pa = truth.physicalAddress(ofVirtual: va), truth.rank(of: pa) != nil else {
                throw .invalidDescription("overlay byte at \(hex(va)) is not mapped to a dumped page")
            }
            let page = pa & ~(ps - 1)
            if special[page] == nil { special[page] = arm64PageContent(page, size: ps, stamped: d.stampPages) }
            special[page]![Int(pa - page)] = byte
        }
    }
    truth.specialPages = special

    var out = [UInt8](repeating: 0, count: Int(fileSize))
    out.replaceSubrange(0..<22, with: Array("minidump FreeBSD/arm64".utf8))
    setU32LE(&out, at: 24, d.version)
    setU32LE(&out, at: 28, UInt32(msgbufSize))
    setU32LE(&out, at: 32, UInt32(bitmapSize))
    setU32LE(&out, at: 36, UInt32(pmapSize))
    setU64LE(&out, at: 40, d.kernbase)
    setU64LE(&out, at: 48, dmapPhys)
    setU64LE(&out, at: 56, d.dmapBase)
    setU64LE(&out, at: 64, d.dmapEnd)
    if d.version >= 2 { setU32LE(&out, at: 72, UInt32(dumpAvailSize)) }
    if d.version >= 3 { setU32LE(&out, at: 76, truth.flags) }
    let msgbufSection = Int(round(msgbufSize))
    out.replaceSubrange(Int(ps)..<Int(ps) + msgbufSection, with: image.bytes[0..<msgbufSection])
    if d.version >= 2 {
        for (i, r) in d.physicalRanges.enumerated() {
            setU64LE(&out, at: Int(dumpAvailOffset) + 16 * i, r.lowerBound)
            setU64LE(&out, at: Int(dumpAvailOffset) + 16 * i + 8, r.upperBound)
        }
    }
    for pa in pages {
        let n = bit(of: pa)
        out[Int(bitmapOffset + n / 8)] |= 1 << UInt8(n % 8)
    }
    for (i, entry) in l3.enumerated() where entry != 0 { setU64LE(&out, at: Int(pmapOffset) + 8 * i, entry) }
    for (k, pa) in pages.enumerated() {
        let at = Int(dataOffset) + k * Int(ps)
        if let content = special[pa] {
            out.replaceSubrange(at..<at + Int(ps), with: content)
        } else if d.stampPages {
            for piece in stride(from: 0, to: Int(ps), by: 4096) { fillStamp(&out, at: at + piece, page: pa + UInt64(piece)) }
        }
    }
    return GeneratedARM64Dump(bytes: out, truth: truth)
}

/// The bytes one unit of `m` covers: a page, an L2 block or an L1 block.
func size(of m: ARM64Mapping, _ d: ARM64DumpDescription) -> UInt64 {
    switch m.kind {
    case .pages, .reservedEntries: d.granule.rawValue
    case .l2Blocks: d.l2Size
    case .l1Blocks: d.l2Size * (d.granule.rawValue / 8)
    }
}

/// Rejects descriptions the FreeBSD writer could not have produced.
func validateARM64(_ d: ARM64DumpDescription) throws(GeneratorError) {
    func fail(_ why: String) -> GeneratorError { .invalidDescription(why) }
    let ps = d.granule.rawValue
    guard (1...3).contains(d.version) else { throw fail("version \(d.version) is not 1, 2 or 3") }
    guard d.version == 3 || d.granule == .size4K else { throw fail("16 KiB pages need version 3 (the flags word)") }
    guard !d.physicalRanges.isEmpty else { throw fail("no physical ranges") }
    var previousEnd: UInt64 = 0
    for (i, r) in d.physicalRanges.enumerated() {
        guard r.lowerBound % ps == 0, r.upperBound % ps == 0, !r.isEmpty, i == 0 || r.lowerBound >= previousEnd else {
            throw fail("range \(i) is empty, not page aligned or not above the one before")
        }
        previousEnd = r.upperBound
    }
    guard d.version == 1 || d.physicalRanges.count < Int(ps / 16) else { throw fail("too many ranges for one dump_avail page") }
    guard d.l2Regions >= 1, UInt64(d.l2Regions) * ps <= 0xffff_f000 else { throw fail("l2Regions \(d.l2Regions) out of range") }
    guard d.kernbase % d.l2Size == 0 else { throw fail("kernbase \(hex(d.kernbase)) is not aligned to an L2 region") }
    guard d.dmapBase < d.dmapEnd, d.dmapBase % ps == 0, d.effectiveDmapPhys % ps == 0 else { throw fail("direct map bounds are invalid") }
    guard d.directMapOnlyPages >= 0 else { throw fail("negative directMapOnlyPages") }
    for (i, m) in d.mappings.enumerated() {
        let unit = size(of: m, d)
        guard m.kind != .l1Blocks || d.granule == .size4K else { throw fail("mapping \(i): L1 blocks are written for 4 KiB pages only here") }
        guard m.count >= 0, m.virtualAddress % unit == 0, m.virtualAddress >= d.kernbase,
              m.virtualAddress - d.kernbase <= d.kernelVMEnd - d.kernbase,
              UInt64(m.count) <= (d.kernelVMEnd - m.virtualAddress) / unit
        else { throw fail("mapping \(i) at \(hex(m.virtualAddress)) is misaligned or outside kernbase...kernel_vm_end") }
        if case .physical(let pa) = m.placement, pa % unit != 0 || pa >> 48 != 0 {
            throw fail("mapping \(i) PA \(hex(pa)) is not aligned to its size or exceeds 48 bits")
        }
    }
}
