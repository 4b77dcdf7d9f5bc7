/// amd64 page-table entry bits.
enum EntryBits {
    static let valid: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let accessed: UInt64 = 1 << 5
    static let modified: UInt64 = 1 << 6
    static let pageSize: UInt64 = 1 << 7
    static let pat4K: UInt64 = 1 << 7
    static let global: UInt64 = 1 << 8
    static let patLarge: UInt64 = 1 << 12
    static let noExecute: UInt64 = 1 << 63
    static let frame4K: UInt64 = 0x000f_ffff_ffff_f000
    static let frame2M: UInt64 = 0x000f_ffff_ffe0_0000
    /// What the v1 writer puts in PTEs synthesised from a superpage (spec §2.6).
    static let synthetic: UInt64 = valid | writable | accessed | modified
    /// A PDE pointing at a page-table page.
    static let table: UInt64 = valid | writable | accessed | modified
}

/// The page-table map section plus the page-table pages it references.
struct KernelMap {
    /// v1: one PTE per 4 KiB from kernbase; v2/v3: one PDE per 2 MiB from kernbase.
    var entries: [UInt64]
    /// v2/v3: page-table pages, keyed by physical address, as 512 PTEs each.
    var tables: [UInt64: [UInt64]] = [:]
    /// PDE index → physical address of its page-table page.
    var tableOfPDE: [Int: UInt64] = [:]

    /// Builds the map: explicit placements are assumed already reserved in `memory`; random ones are taken here.
    init(_ d: DumpDescription, memory: inout PhysicalMemory) throws(GeneratorError) {
        let kernbase = d.effectiveKernbase
        entries = [UInt64](repeating: 0, count: d.kernelMapSlots * 512)
        let shift: UInt64 = d.version == 1 ? 12 : 21
        for (m, mapping) in d.mappings.enumerated() {
            let size = mapping.pageSize.rawValue
            var leaf = EntryBits.valid | EntryBits.accessed | EntryBits.modified | EntryBits.global
            if mapping.writable { leaf |= EntryBits.writable }
            if !mapping.executable { leaf |= EntryBits.noExecute }
            for i in 0..<UInt64(mapping.count) {
                let va = mapping.virtualAddress + i * size
                var what: String { "mapping \(m) page \(i) at \(hex(va))" }
                guard va >= kernbase, (va - kernbase) >> shift + max(1, size >> shift) <= UInt64(entries.count) else {
                    throw .invalidDescription("\(what) lies outside the kernel map")
                }
                let pa: UInt64
                switch mapping.placement {
                case .random: pa = try memory.allocate(size: size, what: what)
                case .physical(let base): pa = base + i * size
                }
                let index = Int((va - kernbase) >> shift)
                if d.version == 1 {
                    if size == 0x1000 {
                        try place(index, pa | leaf | (mapping.pat ? EntryBits.pat4K : 0), what)
                    } else {
                        for k in 0..<Int(size >> 12) { try place(index + k, (pa + UInt64(k) << 12) | EntryBits.synthetic, what) }
                    }
                } else if size == 0x1000 {
                    let table = try tableAddress(pde: index, memory: &memory, what: what)
                    let slot = Int((va >> 12) & 511)
                    guard tables[table]![slot] == 0 else { throw .invalidDescription("\(what) overlaps another mapping") }
                    tables[table]![slot] = pa | leaf | (mapping.pat ? EntryBits.pat4K : 0)
                } else {
                    let large = pa | leaf | EntryBits.pageSize | (mapping.pat ? EntryBits.patLarge : 0)
                    for k in 0..<Int(size >> 21) { try place(index + k, large + UInt64(k) << 21, what) }
                }
            }
        }
    }

    private mutating func place(_ index: Int, _ entry: UInt64, _ what: @autoclosure () -> String) throws(GeneratorError) {
        guard entries[index] == 0 else { throw .invalidDescription("\(what()) overlaps another mapping") }
        entries[index] = entry
    }

    private mutating func tableAddress(pde: Int, memory: inout PhysicalMemory,
                                       what: @autoclosure () -> String) throws(GeneratorError) -> UInt64 {
        if let pa = tableOfPDE[pde] { return pa }
        guard entries[pde] == 0 else { throw .invalidDescription("\(what()) overlaps a large page") }
        let pa = try memory.allocate(size: 0x1000, what: "page-table page for \(what())")
        tableOfPDE[pde] = pa
        tables[pa] = [UInt64](repeating: 0, count: 512)
        entries[pde] = pa | EntryBits.table
        return pa
    }

    /// Every valid leaf, in VA order.
    func kernelPages(version: UInt32, kernbase: UInt64, isDumped: (UInt64) -> Bool) -> [KernelPage] {
        var pages: [KernelPage] = []
        func leaf(_ va: UInt64, _ e: UInt64, large: Bool) {
            let pa = e & (large ? EntryBits.frame2M : EntryBits.frame4K)
            let size: UInt64 = large ? 0x20_0000 : 0x1000
            var present = 0
            var p = pa
            while p < pa + size {
                if isDumped(p) { present += 1 }
                p += 0x1000
            }
            pages.append(KernelPage(va: va, pa: pa, size: size, writable: e & EntryBits.writable != 0,
                                    executable: e & EntryBits.noExecute == 0, presentPages: present))
        }
        for (i, e) in entries.enumerated() where e & EntryBits.valid != 0 {
            if version == 1 {
                leaf(kernbase + UInt64(i) << 12, e, large: false)
            } else if e & EntryBits.pageSize != 0 {
                leaf(kernbase + UInt64(i) << 21, e, large: true)
            } else if let table = tables[e & EntryBits.frame4K] {
                for (j, pte) in table.enumerated() where pte & EntryBits.valid != 0 {
                    leaf(kernbase + UInt64(i) << 21 + UInt64(j) << 12, pte, large: false)
                }
            }
        }
        return pages
    }
}
