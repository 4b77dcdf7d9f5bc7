import MappedBytes

/// The amd64 translator of a full (ELF) dump (spec beyond-amd64-minidump.md §4): a full dump has
/// no page-table map section, so addresses go through the kernel's own 4-level tables, rooted at
/// the PML4 that `findKernelTables` finds from the kernel image's `kernbase` and `KPML4phys`
/// (`-N`). Until then (`tables == nil`) no virtual address translates, and every attempt says why.
///
/// The kernel map is `[VM_MIN_KERNEL_ADDRESS, 2^64)` (PML4 slots 508–511), the direct map
/// `[DMAP_MIN_ADDRESS, DMAP_MAX_ADDRESS)` (slots 496–503) with 4-level paging; both are walked
/// through the same tables (LA57 is not read). A translation names a 1 GiB page as such; the page
/// enumeration (`pages`, `stats`, export) lists one as 512 2 MiB pages.
final class AMD64FullDump: MinidumpArchitecture {
    static let name = "amd64"
    static let pointerSize = 8
    static let msgbufShape = AMD64Minidump.msgbufShape
    static let pageSize = PageSize.bytes4K
    static let walkStepNames: [WalkStep.Name?] = [
        .init(text: "pml4e", key: "pml4e", kind: .entry),
        .init(text: "pdpe", key: "pdpe", kind: .entry),
        .init(text: "pde", key: "pde", kind: .entry),
        .init(text: "pte", key: "pte", kind: .entry),
    ]
    static let censusPageNames: (large: String?, small: String) = ("kernel_map_2m_pages", "kernel_map_4k_pages")

    /// VM_MIN_KERNEL_ADDRESS, DMAP_MIN_ADDRESS and DMAP_MAX_ADDRESS with 4-level paging.
    static let kernelMapStart: UInt64 = 0xffff_fe00_0000_0000
    static let directMapStart: UInt64 = 0xffff_f800_0000_0000
    static let directMapEnd: UInt64 = 0xffff_fc00_0000_0000
    /// Distinct page-table pages `forEachKernelPage` reads at most (a walk over tables that point
    /// back at themselves stops; each page is read once).
    static let tablePageLimit = 1 << 20

    static let valid: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let pageSizeBit: UInt64 = 1 << 7
    static let noExecute: UInt64 = 1 << 63
    static let frame: UInt64 = 0x000f_ffff_ffff_f000

    /// The kernel's tables, once found.
    let tables: KernelTables?
    /// Why there are no tables (nil when there are).
    let missingTablesReason: String?
    let pages: ContainerStorage
    let bytes: ByteView

    /// A translator with `tables`, or without any (`reason` says why).
    init(pages: ContainerStorage, tables: KernelTables?, reason: String?) {
        self.pages = pages
        bytes = pages.bytes
        self.tables = tables
        missingTablesReason = tables == nil ? reason : nil
    }

    // A full dump has no minidump header: the format never calls these two.
    static func parseHeader(_ page: ByteView) throws(DumpError.Problem) -> MinidumpHeader {
        throw .unsupportedFormat("an ELF full dump has no minidump header")
    }

    static func sectionOrder(for header: MinidumpHeader) -> [SectionLayout.Section] { [] }

    /// The minidump constructor: a full dump's translator built this way has no tables.
    init(header: MinidumpHeader, map: ByteView, mapOffset: FileOffset, pages: ContainerStorage) {
        self.pages = pages
        bytes = pages.bytes
        tables = nil
        missingTablesReason = "the kernel page tables were not looked for"
    }

    var kernelMapRange: ClosedRange<UInt64>? { tables == nil ? nil : Self.kernelMapStart...UInt64.max }
    var kernelMapEntriesCut: UInt64 { 0 }
    var directMapRange: ClosedRange<UInt64>? { tables == nil ? nil : Self.directMapStart...(Self.directMapEnd - 1) }

    func directMapAddress(of pa: PhysicalAddress) -> VirtualAddress? {
        guard tables != nil, pa.rawValue < Self.directMapEnd - Self.directMapStart else { return nil }
        return VirtualAddress(Self.directMapStart + pa.rawValue)
    }

    /// The page-table entry at physical address `pa`, or the translation error for its table.
    @inline(__always)
    private func entry(at pa: UInt64, table: UInt64, parent: UInt64, va: VirtualAddress) throws(TranslationError) -> UInt64 {
        do throws(ContainerMiss) {
            let located = try pages.locate(PhysicalAddress(pa), bytes: 8)
            return bytes.uint64(at: located.offset.rawValue | (pa & PageSize.mask4K)) ?? 0
        } catch .pastEndOfFile(let offset) {
            throw TranslationError(virtualAddress: va, reason: .pageTablePagePastEndOfFile(
                pde: parent, physicalAddress: PhysicalAddress(table), offset: offset))
        } catch {
            throw TranslationError(virtualAddress: va, reason: .pageTablePageMissing(pde: parent, physicalAddress: PhysicalAddress(table)))
        }
    }

    func walk(_ va: VirtualAddress) throws(TranslationError) -> MapWalk? {
        guard let tables else {
            throw TranslationError(virtualAddress: va, reason: .kernelTablesUnknown(missingTablesReason ?? ""))
        }
        let v = va.rawValue
        let inDirectMap = v >= Self.directMapStart && v < Self.directMapEnd
        guard v >= Self.kernelMapStart || inDirectMap else { return nil }
        let map: AddressMap = inDirectMap ? .directMap : .kernelMap
        var path = MapWalk.Path()
        var table = tables.pml4 & Self.frame
        var parent: UInt64 = tables.pml4
        let names = ["PML4E", "PDPE", "PDE", "PTE"]
        for level in 0..<4 {
            let shift = UInt64(39 - 9 * level)
            let e = try entry(at: table | (((v >> shift) & 511) * 8), table: table, parent: parent, va: va)
            switch level {
            case 0: path.mapIndex = e
            case 1: path.pde = e
            case 2: path.pte = e
            default: path.pageTablePage = e
            }
            guard e & Self.valid != 0 else {
                throw TranslationError(virtualAddress: va, reason: .mapEntryInvalid(index: (v >> shift) & 511, entry: e, kind: names[level]))
            }
            if (level == 1 || level == 2) && e & Self.pageSizeBit != 0 {
                let size: UInt64 = 1 << shift
                let pa = (e & Self.frame & ~(size - 1)) | (v & (size - 1) & ~PageSize.mask4K)
                return MapWalk(physicalAddress: PhysicalAddress(pa), pageSize: level == 1 ? .size1G : .size2M, map: map, path: path)
            }
            parent = e
            table = e & Self.frame
        }
        return MapWalk(physicalAddress: PhysicalAddress(table), pageSize: .size4K, map: map, path: path)
    }

    func forEachKernelPage(census: inout KernelMapCensus, _ body: (MappedPage) -> Bool) {
        guard let tables else { return }
        var seen = Set<UInt64>()
        /// The 512 entries of the table at `pa`, or nil (counted missing) if it is not wholly in the dump.
        func table(_ pa: UInt64) -> UInt64? {
            guard seen.count < Self.tablePageLimit, seen.insert(pa).inserted else { return nil }
            guard let offset = pages.offset(of: PhysicalAddress(pa)) else {
                census.pageTablePagesMissing += 1
                return nil
            }
            census.pageTablePagesPresent += 1
            return offset.rawValue
        }
        guard let top = table(tables.pml4 & Self.frame) else { return }
        func word(_ offset: UInt64, _ slot: UInt64) -> UInt64 { bytes.uint64(at: offset + slot * 8) ?? 0 }
        for l4 in UInt64(508)..<512 {
            let e4 = word(top, l4)
            census.entries += 1
            guard e4 & Self.valid != 0 else { continue }
            census.validEntries += 1
            guard let pdpt = table(e4 & Self.frame) else { continue }
            for l3 in UInt64(0)..<512 {
                let e3 = word(pdpt, l3)
                guard e3 & Self.valid != 0 else { continue }
                let va3 = 0xffff_0000_0000_0000 | l4 << 39 | l3 << 30
                if e3 & Self.pageSizeBit != 0 {
                    for k in UInt64(0)..<512 {
                        census.largePages += 1
                        guard body(page(va: va3 | k << 21, pa: (e3 & Self.frame & ~0x3fff_ffff) + (k << 21), entry: e3, size: .size2M)) else { return }
                    }
                    continue
                }
                guard let pd = table(e3 & Self.frame) else { continue }
                for l2 in UInt64(0)..<512 {
                    let e2 = word(pd, l2)
                    guard e2 & Self.valid != 0 else { continue }
                    let va2 = va3 | l2 << 21
                    if e2 & Self.pageSizeBit != 0 {
                        census.largePages += 1
                        guard body(page(va: va2, pa: e2 & Self.frame & ~0x1f_ffff, entry: e2, size: .size2M)) else { return }
                        continue
                    }
                    guard let pt = table(e2 & Self.frame) else { continue }
                    for l1 in UInt64(0)..<512 {
                        let e1 = word(pt, l1)
                        guard e1 & Self.valid != 0 else { continue }
                        census.smallPages += 1
                        guard body(page(va: va2 | l1 << 12, pa: e1 & Self.frame, entry: e1, size: .size4K)) else { return }
                    }
                }
            }
        }
    }

    /// Describes the page at `va` mapped to `pa` by `entry`.
    private func page(va: UInt64, pa: UInt64, entry: UInt64, size: PageSize) -> MappedPage {
        let first = pages.offset(of: PhysicalAddress(pa))
        let present = size == .size4K ? (first == nil ? 0 : 1) : pages.presentPages(from: PhysicalAddress(pa), length: size.bytes)
        return MappedPage(virtualAddress: VirtualAddress(va), physicalAddress: PhysicalAddress(pa), size: size,
                          writable: entry & Self.writable != 0, executable: entry & Self.noExecute == 0,
                          fileOffset: first, presentPages: present)
    }
}
