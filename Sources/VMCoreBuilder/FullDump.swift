/// amd64 full (ELF, `debug.minidump=0`) dumps, as `sys/kern/kern_dump.c` writes them (spec
/// beyond-amd64-minidump.md §4.1): an ELF64 LSB core header with OSABI 255 and `e_version` 0, one
/// PT_LOAD per physical range (`p_vaddr = p_paddr = PA`, `p_filesz = p_memsz`, PF_R, page aligned),
/// data from the first page boundary after the program headers, back to back; optionally a
/// `PT_DUMP_DELTA` (0x6fb5d000) program header giving the kernel's virtual and physical start
/// (freebsd-src PR 1706, modelled on the arm writer).
///
/// Memory holds the real 4-level amd64 kernel page tables (a minidump has only a flat map): the
/// kernel image at `kernelPhysicalBase` (2 MiB, or elsewhere for a relocatable kernel) mapped at
/// `kernbase + 2 MiB` (its first 2 MiB with 4 KiB pages, the rest with 2 MiB pages), and the direct
/// map of all RAM with 1 GiB pages. `KPML4phys`, a u64 in the kernel image, holds the PML4's address.

/// What to generate.
public struct FullDumpDescription: Sendable {
    /// RAM, one PT_LOAD each: page aligned, ascending, disjoint, below 512 GiB.
    public var physicalRanges: [Range<UInt64>]
    /// Where the kernel image starts in physical memory (2 MiB aligned).
    public var kernelPhysicalBase: UInt64
    /// Bytes of the kernel image (a multiple of 2 MiB, at least 2 MiB).
    public var kernelSize: UInt64
    /// The `kernbase` symbol's value.
    public var kernbase: UInt64
    /// The direct map's base.
    public var dmapBase: UInt64
    /// Offset of the `KPML4phys` variable in the kernel image (8-byte aligned).
    public var kpml4physOffset: UInt64
    /// Whether to write a PT_DUMP_DELTA program header.
    public var dumpDelta: Bool

    public init(physicalRanges: [Range<UInt64>] = [0..<0x9f000, 0x100000..<0x2000000],
                kernelPhysicalBase: UInt64 = 0x200000, kernelSize: UInt64 = 0x400000,
                kernbase: UInt64 = 0xffff_ffff_8000_0000, dmapBase: UInt64 = 0xffff_f800_0000_0000,
                kpml4physOffset: UInt64 = 0x1_2340, dumpDelta: Bool = false) {
        self.physicalRanges = physicalRanges
        self.kernelPhysicalBase = kernelPhysicalBase
        self.kernelSize = kernelSize
        self.kernbase = kernbase
        self.dmapBase = dmapBase
        self.kpml4physOffset = kpml4physOffset
        self.dumpDelta = dumpDelta
    }
}

/// `p_type` of the kernel-location program header (sys/sys/elf_common.h, arm's dump_machdep.c).
public let ptDumpDelta: UInt32 = 0x6fb5_d000

/// What a generated full dump contains.
public struct FullDumpTruth: Sendable {
    /// The RAM ranges, with the file offset of each one's first byte.
    public var segments: [(range: Range<UInt64>, fileOffset: UInt64)]
    public var kernbase: UInt64
    public var dmapBase: UInt64
    public var kernelPhysicalBase: UInt64
    public var kernelSize: UInt64
    /// The kernel image's first virtual address (`kernbase + 2 MiB`, KERNSTART).
    public var kernelVirtualBase: UInt64
    /// The `KPML4phys` symbol's address and its value (the PML4's physical address).
    public var kpml4physAddress: UInt64
    public var pml4PhysicalAddress: UInt64
    /// Every page-table page, ascending.
    public var pageTablePages: [UInt64]
    public var hasDumpDelta: Bool
    /// Pages whose bytes are not the stamp (page tables, the page holding KPML4phys).
    public var specialPages: [UInt64: [UInt8]]

    /// The byte of RAM at `pa`, or nil outside RAM.
    public func physicalByte(_ pa: UInt64) -> UInt8? {
        guard segments.contains(where: { $0.range.contains(pa) }) else { return nil }
        if let page = specialPages[pa & ~0xfff] { return page[Int(pa & 0xfff)] }
        return pageStamp(physicalAddress: pa, offset: Int(pa & 0xfff))
    }

    /// `length` bytes of RAM from `pa`, or nil if any is outside RAM.
    public func physicalBytes(_ pa: UInt64, length: Int) -> [UInt8]? {
        var out: [UInt8] = []
        for i in 0..<UInt64(length) {
            guard let b = physicalByte(pa + i) else { return nil }
            out.append(b)
        }
        return out
    }

    /// The physical address `va` maps to (from the description, not from the tables), or nil.
    public func physicalAddress(ofVirtual va: UInt64) -> UInt64? {
        if va >= kernelVirtualBase, va - kernelVirtualBase < kernelSize {
            return kernelPhysicalBase + (va - kernelVirtualBase)
        }
        if va >= dmapBase, let end = segments.last?.range.upperBound, va - dmapBase < roundUp(end, 1 << 30) {
            return va - dmapBase
        }
        return nil
    }

    /// The file offset of RAM byte `pa`, or nil.
    public func fileOffset(ofPhysical pa: UInt64) -> UInt64? {
        segments.first(where: { $0.range.contains(pa) }).map { $0.fileOffset + (pa - $0.range.lowerBound) }
    }
}

/// A generated full dump held in memory.
public struct GeneratedFullDump: Sendable {
    public var bytes: [UInt8]
    public var truth: FullDumpTruth
}

private func roundUp(_ x: UInt64, _ to: UInt64) -> UInt64 { (x + to - 1) & ~(to - 1) }

/// Builds an amd64 full dump in memory (RAM below a few hundred MiB: every byte is in the file).
public func generateFullDump(_ d: FullDumpDescription) throws(GeneratorError) -> GeneratedFullDump {
    func fail(_ why: String) -> GeneratorError { .invalidDescription(why) }
    guard !d.physicalRanges.isEmpty else { throw fail("no physical ranges") }
    var previous: UInt64 = 0
    for (i, r) in d.physicalRanges.enumerated() {
        guard r.lowerBound & 0xfff == 0, r.upperBound & 0xfff == 0, !r.isEmpty, r.lowerBound >= previous,
              r.upperBound <= 1 << 39 else {
            throw fail("range \(i) [\(hex(r.lowerBound)), \(hex(r.upperBound))) is empty, unaligned, out of order or above 512 GiB")
        }
        previous = r.upperBound
    }
    let twoMiB: UInt64 = 0x20_0000
    guard d.kernelPhysicalBase % twoMiB == 0, d.kernelSize % twoMiB == 0, d.kernelSize > 0,
          d.physicalRanges.contains(where: { $0.contains(d.kernelPhysicalBase) && $0.upperBound >= d.kernelPhysicalBase + d.kernelSize })
    else { throw fail("kernel [\(hex(d.kernelPhysicalBase)), +\(hex(d.kernelSize))) is not 2 MiB aligned inside one range") }
    guard d.kpml4physOffset % 8 == 0, d.kpml4physOffset < d.kernelSize else { throw fail("KPML4phys offset \(hex(d.kpml4physOffset))") }
    let kernelVA = d.kernbase &+ twoMiB

    // Page-table pages come from the top of the last range, below any kernel image there.
    let last = d.physicalRanges[d.physicalRanges.count - 1]
    var nextTable = last.upperBound
    func table() throws(GeneratorError) -> UInt64 {
        nextTable -= 0x1000
        let kernel = d.kernelPhysicalBase..<(d.kernelPhysicalBase + d.kernelSize)
        if kernel.contains(nextTable) { nextTable = d.kernelPhysicalBase - 0x1000 }
        guard nextTable >= last.lowerBound, nextTable < last.upperBound else { throw .outOfPhysicalMemory("page tables") }
        return nextTable
    }
    var tables: [UInt64: [UInt64]] = [:]
    let pml4 = try table()
    tables[pml4] = Array(repeating: 0, count: 512)
    let valid: UInt64 = 0x1, rw: UInt64 = 0x2, ps: UInt64 = 0x80, accessed: UInt64 = 0x20, dirty: UInt64 = 0x40
    /// The table `index` of `parent` points to, created if absent.
    func child(_ parent: UInt64, _ index: Int) throws(GeneratorError) -> UInt64 {
        let e = tables[parent]![index]
        if e & valid != 0 { return e & 0x000f_ffff_ffff_f000 }
        let t = try table()
        tables[t] = Array(repeating: 0, count: 512)
        tables[parent]![index] = t | valid | rw | accessed
        return t
    }
    func idx(_ va: UInt64, _ shift: UInt64) -> Int { Int((va >> shift) & 511) }
    // Kernel image: 4 KiB pages for the first 2 MiB, 2 MiB pages after.
    for o in stride(from: 0, to: d.kernelSize, by: Int(twoMiB)) {
        let va = kernelVA &+ o, pa = d.kernelPhysicalBase + o
        let pdpt = try child(pml4, idx(va, 39))
        let pd = try child(pdpt, idx(va, 30))
        if o == 0 {
            let pt = try child(pd, idx(va, 21))
            for k in 0..<512 { tables[pt]![k] = (pa + UInt64(k) * 0x1000) | valid | rw | accessed | dirty }
        } else {
            tables[pd]![idx(va, 21)] = pa | valid | rw | ps | accessed | dirty
        }
    }
    // Direct map: 1 GiB pages over all RAM.
    for g in stride(from: 0, to: roundUp(last.upperBound, 1 << 30), by: 1 << 30) {
        let va = d.dmapBase &+ g
        let pdpt = try child(pml4, idx(va, 39))
        tables[pdpt]![idx(va, 30)] = g | valid | rw | ps | accessed | dirty
    }

    var special: [UInt64: [UInt8]] = [:]
    for (pa, entries) in tables { special[pa] = littleEndianBytes(entries[...]) }
    let kpml4PA = d.kernelPhysicalBase + d.kpml4physOffset
    var holder = (0..<4096).map { pageStamp(physicalAddress: kpml4PA & ~0xfff, offset: $0) }
    for i in 0..<8 { holder[Int(kpml4PA & 0xfff) + i] = UInt8(truncatingIfNeeded: pml4 >> (8 * UInt64(i))) }
    special[kpml4PA & ~0xfff] = holder

    let phnum = d.physicalRanges.count + (d.dumpDelta ? 1 : 0)
    let dataStart = roundUp(64 + 56 * UInt64(phnum), 0x1000)
    var segments: [(range: Range<UInt64>, fileOffset: UInt64)] = []
    var offset = dataStart
    for r in d.physicalRanges {
        segments.append((r, offset))
        offset += UInt64(r.count)
    }
    var bytes = [UInt8](repeating: 0, count: Int(offset))
    bytes.replaceSubrange(0..<8, with: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 255])
    putU16(&bytes, at: 16, 4)          // ET_CORE
    putU16(&bytes, at: 18, 62)         // EM_X86_64
    // e_version (20) stays 0, e_entry 0.
    setU64LE(&bytes, at: 32, 64)         // e_phoff
    putU16(&bytes, at: 52, 64)         // e_ehsize
    putU16(&bytes, at: 54, 56)         // e_phentsize
    putU16(&bytes, at: 56, UInt16(phnum))
    putU16(&bytes, at: 58, 64)         // e_shentsize, set though there are no sections
    for (i, s) in segments.enumerated() {
        let p = 64 + 56 * i
        setU32LE(&bytes, at: p, 1)       // PT_LOAD
        setU32LE(&bytes, at: p + 4, 4)   // PF_R
        setU64LE(&bytes, at: p + 8, s.fileOffset)
        setU64LE(&bytes, at: p + 16, s.range.lowerBound)
        setU64LE(&bytes, at: p + 24, s.range.lowerBound)
        setU64LE(&bytes, at: p + 32, UInt64(s.range.count))
        setU64LE(&bytes, at: p + 40, UInt64(s.range.count))
        setU64LE(&bytes, at: p + 48, 0x1000)
    }
    if d.dumpDelta {
        let p = 64 + 56 * segments.count
        setU32LE(&bytes, at: p, ptDumpDelta)
        setU64LE(&bytes, at: p + 16, kernelVA)
        setU64LE(&bytes, at: p + 24, d.kernelPhysicalBase)
    }
    bytes.withUnsafeMutableBufferPointer { b in
        for s in segments {
            var pa = s.range.lowerBound
            var at = Int(s.fileOffset)
            while pa < s.range.upperBound {
                if let page = special[pa] {
                    for k in 0..<4096 { b[at + k] = page[k] }
                } else {
                    for k in 0..<4096 { b[at + k] = pageStamp(physicalAddress: pa, offset: k) }
                }
                pa += 0x1000
                at += 0x1000
            }
        }
    }
    let truth = FullDumpTruth(
        segments: segments, kernbase: d.kernbase, dmapBase: d.dmapBase, kernelPhysicalBase: d.kernelPhysicalBase,
        kernelSize: d.kernelSize, kernelVirtualBase: kernelVA, kpml4physAddress: kernelVA + d.kpml4physOffset,
        pml4PhysicalAddress: pml4, pageTablePages: tables.keys.sorted(), hasDumpDelta: d.dumpDelta,
        specialPages: special)
    return GeneratedFullDump(bytes: bytes, truth: truth)
}

private func putU16(_ bytes: inout [UInt8], at offset: Int, _ value: UInt16) {
    bytes[offset] = UInt8(truncatingIfNeeded: value)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
}
