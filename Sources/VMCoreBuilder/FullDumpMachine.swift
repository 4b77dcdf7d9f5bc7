/// amd64 full (ELF) dumps of the same machine as a minidump description: the machine's kernel
/// map (every mapping, at the same VA and PA), its dumped pages (byte for byte: msgbuf, kernel
/// variables, threads), its direct map; plus what a full dump needs that a minidump does not: the
/// kernel image at `KERNBASE + 2 MiB` holding `KPML4phys`, and the real 4-level page tables,
/// placed right after the image (as the kernel's bootstrap tables are). A kernel ELF for `-N` is
/// the machine's kernel description with the symbols `kernbase` and `KPML4phys` added.
///
/// Only v2/v3 machines (kernel map at `0xfffffe0000000000`): a v1 map overlaps KERNBASE.

/// A full dump of a minidump machine.
public struct FullDumpOfMachine: Sendable {
    /// How the full dump's RAM (its PT_LOADs) is chosen.
    public enum RAM: Sendable, Equatable {
        /// The machine's dump_avail ranges (every page of RAM; pages the minidump did not dump are zeros).
        case dumpAvail
        /// One range per run of pages the minidump dumped (small files for golden fixtures).
        case dumpedRuns
    }

    /// The machine (v2 or v3).
    public var machine: DumpDescription
    /// Physical address of the kernel image's first byte (the one at `KERNBASE + 2 MiB`): page aligned.
    public var kernelPhysicalBase: UInt64
    /// Whether to write a PT_DUMP_DELTA program header.
    public var dumpDelta: Bool
    /// Pages at physical 2 MiB holding a stale kernel image whose `KPML4phys` points at stale
    /// tables: libkvm's unvalidated 2 MiB rule then reads wrong bytes (the kernel must be elsewhere).
    public var staleImageAt2MiB: Bool
    public var ram: RAM

    /// KERNBASE (`kernbase` in locore) and the kernel image's pages.
    public static let kernbase: UInt64 = 0xffff_ffff_8000_0000
    public static let imagePages = 4
    /// Offset of `KPML4phys` in the image.
    public static let kpml4physOffset: UInt64 = 0x2340

    public init(machine: DumpDescription, kernelPhysicalBase: UInt64 = 0x20_0000, dumpDelta: Bool = false,
                staleImageAt2MiB: Bool = false, ram: RAM = .dumpedRuns) {
        self.machine = machine
        self.kernelPhysicalBase = kernelPhysicalBase
        self.dumpDelta = dumpDelta
        self.staleImageAt2MiB = staleImageAt2MiB
        self.ram = ram
    }
}

/// What a full dump of a machine holds, beside the machine's own ground truth.
public struct FullDumpOfMachineTruth: Sendable {
    /// The machine's minidump ground truth (kernel pages, dumped pages and their contents).
    public var machine: GroundTruth
    /// RAM ranges with the file offset of each one's first byte (one PT_LOAD each, ascending).
    public var segments: [(range: Range<UInt64>, fileOffset: UInt64)]
    public var kernelPhysicalBase: UInt64
    /// Image pages plus page-table pages, from `kernelPhysicalBase`.
    public var kernelRegionSize: UInt64
    public var kpml4physAddress: UInt64
    public var pml4PhysicalAddress: UInt64
    /// The stale PML4 `KPML4phys` names at 2 MiB (nil without the stale image).
    public var stalePML4PhysicalAddress: UInt64?
    /// Pages whose bytes are not the machine's (image, tables, stale copies).
    public var specialPages: [UInt64: [UInt8]]
    /// The direct map's end (all RAM, in 1 GiB pages).
    public var directMapEnd: UInt64
    public var hasDumpDelta: Bool

    public var kernbase: UInt64 { FullDumpOfMachine.kernbase }
    public var kernelVirtualBase: UInt64 { FullDumpOfMachine.kernbase + 0x20_0000 }

    /// Whether `pa` is RAM (in a PT_LOAD).
    public func isRAM(_ pa: UInt64) -> Bool { segments.contains { $0.range.contains(pa) } }

    /// The byte of RAM at `pa`, or nil outside RAM.
    public func physicalByte(_ pa: UInt64) -> UInt8? {
        guard isRAM(pa) else { return nil }
        if let page = specialPages[pa & ~0xfff] { return page[Int(pa & 0xfff)] }
        return machine.page(atPhysical: pa).map { $0[Int(pa & 0xfff)] } ?? 0
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

    /// The physical address `va` maps to (from the description, not the tables), or nil.
    public func physicalAddress(ofVirtual va: UInt64) -> UInt64? {
        if va >= kernelVirtualBase, va - kernelVirtualBase < kernelRegionSize { return kernelPhysicalBase + (va - kernelVirtualBase) }
        if let page = machine.kernelPage(containing: va) { return page.pa + (va - page.va) }
        if va >= machine.dmapBase, va - machine.dmapBase < directMapEnd { return va - machine.dmapBase }
        return nil
    }

    /// `count` bytes at `va`, or nil if any is unmapped or not RAM.
    public func virtualBytes(_ va: UInt64, count: Int) -> [UInt8]? {
        var out: [UInt8] = []
        for i in 0..<UInt64(count) {
            guard let pa = physicalAddress(ofVirtual: va + i), let b = physicalByte(pa) else { return nil }
            out.append(b)
        }
        return out
    }

    /// The file offset of RAM byte `pa`, or nil.
    public func fileOffset(ofPhysical pa: UInt64) -> UInt64? {
        segments.first(where: { $0.range.contains(pa) }).map { $0.fileOffset + (pa - $0.range.lowerBound) }
    }
}

/// A generated full dump of a machine, in memory.
public struct GeneratedFullDumpOfMachine: Sendable {
    public var bytes: [UInt8]
    public var truth: FullDumpOfMachineTruth
}

/// 4-level tables under construction, allocating table pages from a bump region.
private struct TableBuilder {
    var tables: [UInt64: [UInt64]] = [:]
    var next: UInt64
    let end: UInt64
    var pml4: UInt64 = 0
    static let valid: UInt64 = 1, rw: UInt64 = 2, ps: UInt64 = 0x80, accessed: UInt64 = 0x20, dirty: UInt64 = 0x40
    static let noExecute: UInt64 = 1 << 63

    init(from start: UInt64, to end: UInt64) throws(GeneratorError) {
        next = start
        self.end = end
        pml4 = try allocate()
    }

    mutating func allocate() throws(GeneratorError) -> UInt64 {
        guard next < end else { throw .outOfPhysicalMemory("full-dump page tables") }
        let t = next
        next += 0x1000
        tables[t] = Array(repeating: 0, count: 512)
        return t
    }

    mutating func child(_ parent: UInt64, _ index: Int) throws(GeneratorError) -> UInt64 {
        let e = tables[parent]![index]
        if e & Self.valid != 0 {
            guard e & Self.ps == 0 else { throw .invalidDescription("full dump: a mapping falls inside a large page at \(hex(parent))[\(index)]") }
            return e & 0x000f_ffff_ffff_f000
        }
        let t = try allocate()
        tables[parent]![index] = t | Self.valid | Self.rw | Self.accessed
        return t
    }

    /// Maps `va` → `pa` with one page of `size` (4 KiB, 2 MiB or 1 GiB).
    mutating func map(_ va: UInt64, _ pa: UInt64, size: UInt64, writable: Bool = true, executable: Bool = false) throws(GeneratorError) {
        func idx(_ shift: UInt64) -> Int { Int((va >> shift) & 511) }
        let leaf = pa | Self.valid | Self.accessed | Self.dirty | (writable ? Self.rw : 0) | (executable ? 0 : Self.noExecute)
        let pdpt = try child(pml4, idx(39))
        if size == 1 << 30 { tables[pdpt]![idx(30)] = leaf | Self.ps; return }
        let pd = try child(pdpt, idx(30))
        if size == 1 << 21 { tables[pd]![idx(21)] = leaf | Self.ps; return }
        let pt = try child(pd, idx(21))
        tables[pt]![idx(12)] = leaf
    }
}

private func roundUp(_ x: UInt64, _ to: UInt64) -> UInt64 { (x + to - 1) & ~(to - 1) }

/// Builds the full dump of `d.machine`.
public func generateFullDump(_ d: FullDumpOfMachine) throws(GeneratorError) -> GeneratedFullDumpOfMachine {
    func fail(_ why: String) -> GeneratorError { .invalidDescription("full dump: " + why) }
    guard d.machine.version >= 2 else { throw fail("the machine must be v2 or v3 (a v1 kernel map overlaps KERNBASE)") }
    guard d.kernelPhysicalBase & 0xfff == 0 else { throw fail("kernel base \(hex(d.kernelPhysicalBase)) is not page aligned") }
    let twoMiB: UInt64 = 0x20_0000
    let imageBytes = UInt64(FullDumpOfMachine.imagePages) * 0x1000
    let tableLimit: UInt64 = 64 * 0x1000
    // The machine's RAM loses the kernel region (and the stale one), so its pages are placed elsewhere.
    var described = d.machine
    for hole in [d.kernelPhysicalBase..<(d.kernelPhysicalBase + imageBytes + tableLimit)]
        + (d.staleImageAt2MiB ? [twoMiB..<(twoMiB + imageBytes + tableLimit)] : []) {
        described.physicalRanges = described.physicalRanges.flatMap { r -> [Range<UInt64>] in
            guard r.overlaps(hole) else { return [r] }
            return [r.lowerBound..<max(r.lowerBound, hole.lowerBound), min(r.upperBound, hole.upperBound)..<r.upperBound].filter { !$0.isEmpty }
        }
    }
    let machine = try groundTruth(for: described)
    let dumped = Set(machine.dumpedPages)

    // The kernel region (image, then its tables) and the stale one must not hold a page of the machine.
    func checkFree(_ start: UInt64, _ length: UInt64, _ what: String) throws(GeneratorError) {
        for p in stride(from: start, to: start + length, by: 0x1000) where dumped.contains(p) {
            throw fail("\(what) [\(hex(start)), \(hex(start + length))) holds the machine's dumped page \(hex(p))")
        }
    }
    let kernelVA = FullDumpOfMachine.kernbase + twoMiB
    let machineEnd = machine.physicalRanges.map(\.upperBound).max() ?? 0
    let regionEnd = d.kernelPhysicalBase + imageBytes + tableLimit
    let directMapEnd = roundUp(max(machineEnd, regionEnd, d.staleImageAt2MiB ? 2 * twoMiB : 0), 1 << 30)
    /// The tables with the image and `tablePages` pages after it mapped (4 KiB pages): the kernel
    /// map's mappings at their VA, PA and size, and the direct map in 1 GiB pages.
    func tables(mappingTablePages tablePages: UInt64) throws(GeneratorError) -> TableBuilder {
        var builder = try TableBuilder(from: d.kernelPhysicalBase + imageBytes, to: regionEnd)
        for page in machine.kernelPages {
            try builder.map(page.va, page.pa, size: page.size, writable: page.writable, executable: page.executable)
        }
        for i in 0..<UInt64(FullDumpOfMachine.imagePages) + tablePages {
            try builder.map(kernelVA + i * 0x1000, d.kernelPhysicalBase + i * 0x1000, size: 0x1000, executable: i == 0)
        }
        for g in stride(from: UInt64(0), to: directMapEnd, by: 1 << 30) {
            try builder.map(machine.dmapBase + g, g, size: 1 << 30)
        }
        return builder
    }
    // Mapping more pages of the region within its one page table adds no table: count, then map exactly.
    let counted = try tables(mappingTablePages: 0)
    let builder = try tables(mappingTablePages: UInt64(counted.tables.count))
    guard builder.tables.count == counted.tables.count else { throw fail("the kernel region's tables do not settle") }
    let regionSize = builder.next - d.kernelPhysicalBase
    try checkFree(d.kernelPhysicalBase, regionSize, "the kernel region")

    var special: [UInt64: [UInt8]] = [:]
    for (pa, entries) in builder.tables { special[pa] = littleEndianBytes(entries[...]) }
    func imagePage(_ base: UInt64, _ i: UInt64, kpml4: UInt64) -> [UInt8] {
        var page = (0..<4096).map { pageStamp(physicalAddress: base + i * 0x1000, offset: $0) }
        if i * 0x1000 == FullDumpOfMachine.kpml4physOffset & ~0xfff {
            let at = Int(FullDumpOfMachine.kpml4physOffset & 0xfff)
            for k in 0..<8 { page[at + k] = UInt8(truncatingIfNeeded: kpml4 >> (8 * UInt64(k))) }
        }
        return page
    }
    for i in 0..<UInt64(FullDumpOfMachine.imagePages) {
        special[d.kernelPhysicalBase + i * 0x1000] = imagePage(d.kernelPhysicalBase, i, kpml4: builder.pml4)
    }

    // The stale image at 2 MiB: KPML4phys names tables that map the machine's 4 KiB kernel pages
    // one page off, and the image onto the real kernel (so they fail the 2 MiB check).
    var stalePML4: UInt64?
    var staleRegion: Range<UInt64>?
    if d.staleImageAt2MiB {
        guard d.kernelPhysicalBase >= twoMiB + imageBytes + tableLimit || d.kernelPhysicalBase + regionSize <= twoMiB else {
            throw fail("the stale image at 2 MiB needs the kernel elsewhere")
        }
        var stale = try TableBuilder(from: twoMiB + imageBytes, to: twoMiB + imageBytes + tableLimit)
        let small = machine.kernelPages.filter { $0.size == 0x1000 && $0.present }
        for (k, page) in small.enumerated() {
            try stale.map(page.va, small[(k + 1) % small.count].pa, size: 0x1000)
        }
        for i in 0..<UInt64(FullDumpOfMachine.imagePages) {
            try stale.map(kernelVA + i * 0x1000, d.kernelPhysicalBase + i * 0x1000, size: 0x1000)
        }
        for (pa, entries) in stale.tables { special[pa] = littleEndianBytes(entries[...]) }
        for i in 0..<UInt64(FullDumpOfMachine.imagePages) { special[twoMiB + i * 0x1000] = imagePage(twoMiB, i, kpml4: stale.pml4) }
        stalePML4 = stale.pml4
        staleRegion = twoMiB..<stale.next
        try checkFree(twoMiB, stale.next - twoMiB, "the stale image")
    }

    // RAM: the machine's (all of it, or its dumped runs), plus the kernel region and the stale one.
    var ranges: [Range<UInt64>]
    switch d.ram {
    case .dumpAvail: ranges = machine.physicalRanges
    case .dumpedRuns:
        ranges = []
        for p in machine.dumpedPages.sorted() where p < (1 << 52) {
            if let last = ranges.last, last.upperBound == p { ranges[ranges.count - 1] = last.lowerBound..<(p + 0x1000) } else { ranges.append(p..<(p + 0x1000)) }
        }
    }
    ranges.append(d.kernelPhysicalBase..<(d.kernelPhysicalBase + regionSize))
    if let staleRegion { ranges.append(staleRegion) }
    ranges.sort { $0.lowerBound < $1.lowerBound }
    var merged: [Range<UInt64>] = []
    for r in ranges {
        if let last = merged.last, r.lowerBound <= last.upperBound {
            merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
        } else {
            merged.append(r)
        }
    }

    let delta = d.dumpDelta ? (kernelVA, d.kernelPhysicalBase) : nil
    let (bytes, segments) = writeFullDumpELF(ranges: merged, dumpDelta: delta) { page in
        if let s = special[page] { return s }
        return machine.page(atPhysical: page)
    }
    let truth = FullDumpOfMachineTruth(
        machine: machine, segments: segments, kernelPhysicalBase: d.kernelPhysicalBase, kernelRegionSize: regionSize,
        kpml4physAddress: kernelVA + FullDumpOfMachine.kpml4physOffset, pml4PhysicalAddress: builder.pml4,
        stalePML4PhysicalAddress: stalePML4, specialPages: special, directMapEnd: directMapEnd, hasDumpDelta: d.dumpDelta)
    return GeneratedFullDumpOfMachine(bytes: bytes, truth: truth)
}

/// Writes the ELF core as `kern_dump.c` does: header, one PT_LOAD per range (`p_vaddr = p_paddr`,
/// PF_R, `p_align` 4096), the PT_DUMP_DELTA (p_vaddr, p_paddr) if given, data from the next page
/// boundary, back to back; `page` gives each page's bytes (nil: zeros).
func writeFullDumpELF(ranges: [Range<UInt64>], dumpDelta: (UInt64, UInt64)?,
                      page: (UInt64) -> [UInt8]?) -> ([UInt8], [(range: Range<UInt64>, fileOffset: UInt64)]) {
    let phnum = ranges.count + (dumpDelta == nil ? 0 : 1)
    let dataStart = roundUp(64 + 56 * UInt64(phnum), 0x1000)
    var segments: [(range: Range<UInt64>, fileOffset: UInt64)] = []
    var offset = dataStart
    for r in ranges {
        segments.append((r, offset))
        offset += UInt64(r.count)
    }
    var bytes = [UInt8](repeating: 0, count: Int(offset))
    bytes.replaceSubrange(0..<8, with: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 255])
    func u16(_ at: Int, _ v: UInt16) { bytes[at] = UInt8(truncatingIfNeeded: v); bytes[at + 1] = UInt8(truncatingIfNeeded: v >> 8) }
    u16(16, 4)   // ET_CORE
    u16(18, 62)  // EM_X86_64; e_version (20) stays 0
    setU64LE(&bytes, at: 32, 64)
    u16(52, 64)
    u16(54, 56)
    u16(56, UInt16(phnum))
    u16(58, 64)
    for (i, s) in segments.enumerated() {
        let p = 64 + 56 * i
        setU32LE(&bytes, at: p, 1)
        setU32LE(&bytes, at: p + 4, 4)
        setU64LE(&bytes, at: p + 8, s.fileOffset)
        setU64LE(&bytes, at: p + 16, s.range.lowerBound)
        setU64LE(&bytes, at: p + 24, s.range.lowerBound)
        setU64LE(&bytes, at: p + 32, UInt64(s.range.count))
        setU64LE(&bytes, at: p + 40, UInt64(s.range.count))
        setU64LE(&bytes, at: p + 48, 0x1000)
    }
    if let (va, pa) = dumpDelta {
        let p = 64 + 56 * segments.count
        setU32LE(&bytes, at: p, ptDumpDelta)
        setU64LE(&bytes, at: p + 16, va)
        setU64LE(&bytes, at: p + 24, pa)
    }
    for s in segments {
        for pa in stride(from: s.range.lowerBound, to: s.range.upperBound, by: 0x1000) {
            guard let content = page(pa) else { continue }
            let at = Int(s.fileOffset + (pa - s.range.lowerBound))
            bytes.replaceSubrange(at..<at + 4096, with: content)
        }
    }
    return (bytes, segments)
}

/// The kernel ELF for a full dump of a machine: `kernel` (the machine's kernel description) with
/// `kernbase` (absolute, KERNBASE) and `KPML4phys` (in the image at `KERNBASE + 2 MiB`) added.
public func fullDumpKernel(_ kernel: KernelELFDescription) -> KernelELFDescription {
    var k = kernel
    k.symbols.append(KernelELFSymbol(name: "kernbase", value: FullDumpOfMachine.kernbase, size: 0, type: .noType, section: .absolute))
    k.symbols.append(KernelELFSymbol(name: "KPML4phys", value: FullDumpOfMachine.kernbase + 0x20_0000 + FullDumpOfMachine.kpml4physOffset,
                                     size: 8, type: .object, section: .absolute))
    return k
}

/// Damage to a full dump, for error tests and fuzz seeds.
public enum FullDumpCorruption: String, Sendable, CaseIterable {
    /// The second PT_LOAD's p_paddr moved inside the first.
    case overlappingLoads
    /// The last PT_LOAD's p_filesz runs past the end of the file.
    case loadPastEndOfFile
    /// KPML4phys holds a physical address outside RAM.
    case kpml4physOutsideRAM
    /// KPML4phys names a page that is not a PML4 mapping the kernel (every candidate base fails).
    case noCandidateBase
}

/// `dump` damaged by `corruption`.
public func corrupt(_ dump: GeneratedFullDumpOfMachine, _ corruption: FullDumpCorruption) -> [UInt8] {
    var b = dump.bytes
    let t = dump.truth
    switch corruption {
    case .overlappingLoads:
        let first = t.segments[0].range
        setU64LE(&b, at: 64 + 56 + 24, first.upperBound - 0x1000)
    case .loadPastEndOfFile:
        let last = t.segments.count - 1
        setU64LE(&b, at: 64 + 56 * last + 32, UInt64(t.segments[last].range.count) + 0x10_0000)
        setU64LE(&b, at: 64 + 56 * last + 40, UInt64(t.segments[last].range.count) + 0x10_0000)
    case .kpml4physOutsideRAM:
        if let at = t.fileOffset(ofPhysical: t.kernelPhysicalBase + FullDumpOfMachine.kpml4physOffset) {
            setU64LE(&b, at: Int(at), 0x7_0000_0000)
        }
        if let stale = t.fileOffset(ofPhysical: 0x20_0000 + FullDumpOfMachine.kpml4physOffset), t.stalePML4PhysicalAddress != nil {
            setU64LE(&b, at: Int(stale), 0x7_0000_0000)
        }
    case .noCandidateBase:
        // KPML4phys names the image's first page: in RAM and aligned, but no PML4.
        if let at = t.fileOffset(ofPhysical: t.kernelPhysicalBase + FullDumpOfMachine.kpml4physOffset) {
            setU64LE(&b, at: Int(at), t.kernelPhysicalBase)
        }
    }
    return b
}

/// The golden full dumps and their kernels: `vmcore.full` (the `vmcore.1` machine, kernel at
/// 2 MiB), `vmcore.full16m` (kernel at 16 MiB, a stale image at 2 MiB), `vmcore.fulldelta`
/// (kernel at 16 MiB, PT_DUMP_DELTA), `vmcore.full2` (the thread fixture's machine), and
/// `kernel.full` / `kernel.full2` (`kernel.1` / `kernel.2` with `kernbase` and `KPML4phys`).
public func goldenFullDumpFiles() throws(GeneratorError) -> [GoldenFile] {
    let threads = try threadFixture()
    var files: [GoldenFile] = []
    for (name, d) in try goldenFullDumps() { files.append(GoldenFile(fileName: name, bytes: try generateFullDump(d).bytes)) }
    files.append(GoldenFile(fileName: "kernel.full", bytes: makeKernelELF(fullDumpKernel(KernelFixture.kernelDescription()))))
    files.append(GoldenFile(fileName: "kernel.full2", bytes: makeKernelELF(fullDumpKernel(threads.kernel))))
    return files
}

/// The golden full dumps' descriptions, by file name.
public func goldenFullDumps() throws(GeneratorError) -> [(String, FullDumpOfMachine)] {
    [
        ("vmcore.full", FullDumpOfMachine(machine: KernelFixture.dumpDescription())),
        ("vmcore.full16m", FullDumpOfMachine(machine: KernelFixture.dumpDescription(), kernelPhysicalBase: 0x100_0000, staleImageAt2MiB: true)),
        ("vmcore.fulldelta", FullDumpOfMachine(machine: KernelFixture.dumpDescription(), kernelPhysicalBase: 0x100_0000, dumpDelta: true)),
        ("vmcore.full2", FullDumpOfMachine(machine: try threadFixture().dump)),
    ]
}

/// What `--describe-goldens` prints for a golden full dump.
public func describeFullDump(_ d: FullDumpOfMachine) throws(GeneratorError) -> String {
    let t = try generateFullDump(d).truth
    var lines = ["ELF full dump (OSABI 255, e_version 0) of a v\(d.machine.version) machine; RAM = " +
                 (d.ram == .dumpedRuns ? "the machine's dumped pages" : "its dump_avail") + " plus the kernel region"]
    lines.append("kernel image at PA \(hex(t.kernelPhysicalBase)) (VA \(hex(t.kernelVirtualBase))), \(FullDumpOfMachine.imagePages) pages, then the page tables; region \(hex(t.kernelRegionSize)) bytes")
    lines.append("KPML4phys at \(hex(t.kpml4physAddress)) = \(hex(t.pml4PhysicalAddress)); PT_DUMP_DELTA: \(d.dumpDelta ? "yes" : "no")")
    if let stale = t.stalePML4PhysicalAddress { lines.append("stale image at PA 0x200000: its KPML4phys = \(hex(stale)) (tables that fail the 2 MiB check)") }
    lines.append("PT_LOADs: \(t.segments.count)")
    for (i, s) in t.segments.enumerated() {
        lines.append("  [\(i)] PA [\(hex(s.range.lowerBound)), \(hex(s.range.upperBound))) at offset \(hex(s.fileOffset))")
    }
    return lines.joined(separator: "\n") + "\n"
}
