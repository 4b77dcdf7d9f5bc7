import MappedBytes

/// The amd64 4-level page-table walk of a full dump (a minidump has a flat map instead: AMD64.swift),
/// and how the kernel's PML4 is found (spec beyond-amd64-minidump.md §4.2–§4.3): from the
/// `PT_DUMP_DELTA` header if present, else the 2 MiB assumption of libkvm **validated**, else a
/// search of 2 MiB-aligned kernel bases with the same check.

/// One level of an amd64 4-level walk.
public struct AMD64WalkLevel: Sendable, Equatable {
    /// "PML4E", "PDPE", "PDE" or "PTE".
    public let name: String
    /// Physical address of the entry and its value.
    public let entryAddress: UInt64
    public let entry: UInt64
}

/// The result of a walk: the physical address, the page size it came from, the entries read.
public struct AMD64Walk: Sendable, Equatable {
    public let physicalAddress: UInt64
    public let pageSize: UInt64
    public let levels: [AMD64WalkLevel]
}

/// Why a 4-level walk failed.
public enum AMD64WalkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The address is not canonical (bits 63..47 differ).
    case nonCanonical(va: UInt64)
    /// An entry is not present.
    case notPresent(va: UInt64, level: String, entryAddress: UInt64, entry: UInt64)
    /// A table's page is not in the dump.
    case tableNotInDump(va: UInt64, level: String, tableAddress: UInt64)

    public var description: String {
        func h(_ x: UInt64) -> String { "0x" + String(x, radix: 16) }
        switch self {
        case .nonCanonical(let va): return "\(h(va)): not a canonical amd64 address"
        case .notPresent(let va, let level, let at, let e): return "\(h(va)): \(level) at PA \(h(at)) = \(h(e)) is not present"
        case .tableNotInDump(let va, let level, let t): return "\(h(va)): the \(level) table at PA \(h(t)) is not in the dump"
        }
    }
}

/// Walks the amd64 page tables rooted at `pml4` with `read` (a u64 at a physical address, or nil).
public func walkAMD64(_ va: UInt64, pml4: UInt64, read: (UInt64) -> UInt64?) throws(AMD64WalkError) -> AMD64Walk {
    let top = va >> 47
    guard top == 0 || top == 0x1ffff else { throw .nonCanonical(va: va) }
    let frame: UInt64 = 0x000f_ffff_ffff_f000
    let names = ["PML4E", "PDPE", "PDE", "PTE"]
    var table = pml4 & frame
    var levels: [AMD64WalkLevel] = []
    for level in 0..<4 {
        let shift = UInt64(39 - 9 * level)
        let at = table + ((va >> shift) & 511) * 8
        guard let e = read(at) else { throw .tableNotInDump(va: va, level: names[level], tableAddress: table) }
        levels.append(AMD64WalkLevel(name: names[level], entryAddress: at, entry: e))
        guard e & 1 != 0 else { throw .notPresent(va: va, level: names[level], entryAddress: at, entry: e) }
        if (level == 1 || level == 2) && e & 0x80 != 0 {
            let size: UInt64 = 1 << shift
            let base = e & frame & ~(size - 1)
            return AMD64Walk(physicalAddress: base | (va & (size - 1)), pageSize: size, levels: levels)
        }
        table = e & frame
    }
    return AMD64Walk(physicalAddress: table | (va & 0xfff), pageSize: 4096, levels: levels)
}

/// Which rule found the kernel's PML4.
public enum KernelTableRule: String, Sendable, Equatable {
    /// The PT_DUMP_DELTA program header gave the kernel's physical start.
    case dumpDelta = "PT_DUMP_DELTA program header"
    /// The kernel is at physical 2 MiB (PA = VA - kernbase), checked.
    case loadedAt2MiB = "2 MiB load address (PA = VA - kernbase), validated"
    /// A search of 2 MiB-aligned kernel bases found the only consistent one.
    case searched = "search of 2 MiB-aligned kernel bases, validated"

    /// The rule's JSON value and `translate --explain` word.
    public var key: String {
        switch self {
        case .dumpDelta: "pt_dump_delta"
        case .loadedAt2MiB: "2mib_validated"
        case .searched: "searched"
        }
    }
}

/// The kernel's page tables as found.
public struct KernelTables: Sendable, Equatable {
    public let pml4: UInt64
    /// Physical address of the kernel image's first byte (the one at `kernbase + 2 MiB`).
    public let kernelPhysicalBase: UInt64
    public let rule: KernelTableRule
    /// Candidate bases tried before the one found (the search only).
    public let candidatesTried: Int
}

/// Why the kernel's page tables were not found.
public struct KernelTablesError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
}

/// Finds the kernel PML4 of a full dump from the `kernbase` and `KPML4phys` symbols' values.
///
/// A candidate kernel physical base `b` (of the byte at `kernbase + 2 MiB`) is accepted only if:
/// `KPML4phys` read at `b + (&KPML4phys - kernbase - 2 MiB)` is page aligned and inside a PT_LOAD,
/// and the PML4 there maps `&KPML4phys` back to that same physical address (so the tables map the
/// kernel's virtual image onto the physical image the value was read from).
public func findKernelTables(segments: FullDumpSegments, bytes: ByteView, kernbase: UInt64,
                             kpml4physAddress: UInt64, searchLimit: Int = 1 << 16) throws(KernelTablesError) -> KernelTables {
    let twoMiB: UInt64 = 0x20_0000
    func h(_ x: UInt64) -> String { "0x" + String(x, radix: 16) }
    let (imageStart, o1) = kernbase.addingReportingOverflow(twoMiB)
    guard !o1, kpml4physAddress >= imageStart else {
        throw KernelTablesError(description: "KPML4phys at \(h(kpml4physAddress)) is below the kernel image start \(h(imageStart)) (kernbase + 2 MiB)")
    }
    let symbolOffset = kpml4physAddress - imageStart
    /// Why base `b` is wrong, or nil if it holds.
    func check(_ base: UInt64) -> (pml4: UInt64?, why: String?) {
        let (at, over) = base.addingReportingOverflow(symbolOffset)
        guard !over, let value = segments.uint64(bytes, physical: at) else {
            return (nil, "KPML4phys's physical address \(h(base &+ symbolOffset)) is in no PT_LOAD")
        }
        guard value & 0xfff == 0 else { return (nil, "KPML4phys = \(h(value)) is not page aligned") }
        guard let s = segments.segment(containing: value), s.physicalEnd - value >= 4096 else {
            return (nil, "KPML4phys = \(h(value)) is in no PT_LOAD")
        }
        let walk: AMD64Walk
        do throws(AMD64WalkError) {
            walk = try walkAMD64(kpml4physAddress, pml4: value) { segments.uint64(bytes, physical: $0) }
        } catch { return (nil, "the PML4 at \(h(value)) does not map KPML4phys: \(error)") }
        guard walk.physicalAddress == at else {
            return (nil, "the PML4 at \(h(value)) maps KPML4phys to \(h(walk.physicalAddress)), not \(h(at))")
        }
        return (value, nil)
    }
    if let delta = segments.dumpDelta {
        // The header names the physical address of its virtual address; derive the image's base.
        let (diff, under) = delta.virtualAddress.subtractingReportingOverflow(imageStart)
        let (base, under2) = delta.physicalAddress.subtractingReportingOverflow(diff)
        guard !under, !under2 else {
            throw KernelTablesError(description: "PT_DUMP_DELTA p_vaddr \(h(delta.virtualAddress)) / p_paddr \(h(delta.physicalAddress)) do not place the kernel image start \(h(imageStart))")
        }
        let result = check(base)
        guard let pml4 = result.pml4 else {
            throw KernelTablesError(description: "PT_DUMP_DELTA gives kernel base \(h(base)), but \(result.why ?? "")")
        }
        return KernelTables(pml4: pml4, kernelPhysicalBase: base, rule: .dumpDelta, candidatesTried: 0)
    }
    let first = check(twoMiB)
    if let pml4 = first.pml4 {
        return KernelTables(pml4: pml4, kernelPhysicalBase: twoMiB, rule: .loadedAt2MiB, candidatesTried: 0)
    }
    var tried = 0
    /// Why the first few candidates whose KPML4phys is in the dump failed: what a person checks first.
    var readable: [String] = []
    for s in segments.segments {
        var base = (s.physicalStart + twoMiB - 1) & ~(twoMiB - 1)
        while base < s.physicalEnd, tried < searchLimit {
            if base != twoMiB {
                tried += 1
                let result = check(base)
                if let pml4 = result.pml4 {
                    return KernelTables(pml4: pml4, kernelPhysicalBase: base, rule: .searched, candidatesTried: tried)
                }
                if readable.count < 3, let why = result.why, !why.hasPrefix("KPML4phys's physical address") {
                    readable.append("base \(h(base)): \(why)")
                }
            }
            let (next, over) = base.addingReportingOverflow(twoMiB)
            if over { break }
            base = next
        }
    }
    let details = readable.isEmpty ? "" : " (" + readable.joined(separator: "; ") + ")"
    throw KernelTablesError(description: "no kernel page tables found: the 2 MiB rule fails (\(first.why ?? "")) and none of \(tried) 2 MiB-aligned bases in the PT_LOADs passes the check\(details)")
}
