import MappedBytes

/// The table of operations every architecture's minidump backend fills in. The core (`Dump`)
/// never names an architecture; adding one means adding a file and a line to `registered`.

/// Where a successful page-table walk ended, before the physical page is looked up in the dump.
struct MapWalk: Sendable {
    /// The entries seen on the way; "none" is `.max` for indexes and addresses and 0 for entries
    /// (an entry that was used has its valid bit set, so it is never 0). The slots are named by the
    /// architecture (`walkStepNames`); one that has no page-table pages leaves those slots unused.
    struct Path: Sendable, Equatable {
        var mapIndex: UInt64 = .max
        var pde: UInt64 = 0
        var pte: UInt64 = 0
        var pageTablePage: UInt64 = .max
        /// The address the walk used when the architecture canonicalised the one asked for (arm64
        /// pointer-authentication and top-byte tags cleared), else 0: a walk that succeeds never
        /// uses address 0.
        var canonicalAddress: UInt64 = 0
    }

    /// The physical address the virtual address maps to.
    let physicalAddress: PhysicalAddress
    /// Size of the mapping page.
    let pageSize: PageSize
    /// The map it was found in.
    let map: AddressMap
    /// Kernel-map entry index, PDE, PTE and page-table page seen.
    var path = Path()
}

/// What one architecture knows, in one file per architecture: the header fields beyond the
/// common ones, page size, the section order of its minidump, the page-table walk, the direct-map
/// rule, the msgbuf struct and pointer size, and the names `header`, `stats` and
/// `translate --explain` print. The core (`Dump`, the formats, the tool) only reads this table.
protocol MinidumpArchitecture: AnyObject, Sendable {
    /// The name in the magic, e.g. "amd64" in "minidump FreeBSD/amd64".
    static var name: String { get }
    /// Size of a kernel pointer in bytes (msgbuf's `msg_ptr`, `msgbufp`).
    static var pointerSize: Int { get }
    /// The layout of `struct msgbuf` on this architecture.
    static var msgbufShape: MsgbufShape { get }
    /// Bits of a kernel virtual address (64, or 32 on i386); 64 unless the architecture says.
    static var addressBits: Int { get }

    /// Decodes and validates the header page (`page` holds its first 4096 bytes); the header's
    /// `fields` list every field after the version, named as the architecture's header names them,
    /// and its `pageSize` is the page the dump is written in (header page, section rounding, data
    /// pages, bitmap bits): a power of two, at least 4096.
    static func parseHeader(_ page: ByteView) throws(DumpError.Problem) -> MinidumpHeader

    /// Checks the header against the physical memory the dump describes (for example that a direct
    /// map's physical base lies in it), once the ranges are known. The default accepts everything.
    static func validate(header: MinidumpHeader, memory: [PhysicalRange]) throws(DumpError.Problem)

    /// The sections that follow the header page, in file order, for this header.
    static func sectionOrder(for header: MinidumpHeader) -> [SectionLayout.Section]

    /// What `translate --explain` calls the slots of `MapWalk.Path`, in slot order (map index, PDE,
    /// PTE, page-table page, canonical address); nil for a slot the architecture never fills, and
    /// slots past the list's end are not printed.
    static var walkStepNames: [WalkStep.Name?] { get }

    /// What `stats` calls the census's large-page and small-page counts (amd64: 2 MiB and 4 KiB);
    /// a nil name leaves the count out (a map without large pages).
    static var censusPageNames: (large: String?, small: String) { get }

    /// True if `stats` also counts the dumped pages reachable only through the direct map: for
    /// architectures whose libkvm walker never reports them (arm64, riscv). Default false.
    static var reportsDirectMapOnlyPages: Bool { get }

    /// Builds the translator over the page-table map bytes present in the file (`map` may be
    /// shorter than the header says if the file is truncated); `pages` finds page-table pages. Before
    /// reading bytes of a page it located, call `pages.supply(offset:length:)` (a gzip dump decodes them
    /// then; a no-op otherwise): the amd64 walk and census do.
    init(header: MinidumpHeader, map: ByteView, mapOffset: FileOffset, pages: ContainerStorage)

    /// The kernel map's virtual range, or nil if it is empty: the one extent every reader uses,
    /// cut at the top of the address space if the header's map would run past 2^64.
    var kernelMapRange: ClosedRange<UInt64>? { get }

    /// Entries of the page-table map past the top of the address space (cut off; 0 normally).
    var kernelMapEntriesCut: UInt64 { get }

    /// Bytes of one entry of the page-table map section (8 unless the architecture says).
    var mapEntrySize: UInt64 { get }

    /// The direct map's virtual range, or nil if the architecture or dump has none.
    var directMapRange: ClosedRange<UInt64>? { get }

    /// The direct-map address of the whole page at `pa`, or nil if the direct map does not reach it.
    func directMapAddress(of pa: PhysicalAddress) -> VirtualAddress?

    /// Finds the physical address of `va` in the kernel map or the direct map, in the order the
    /// architecture requires; nil if `va` is in neither.
    /// - Throws: `TranslationError` when the walk reaches an invalid or missing entry.
    func walk(_ va: VirtualAddress) throws(TranslationError) -> MapWalk?

    /// Calls `body` for every mapped page of the kernel map in VA order until it returns false;
    /// counts what it saw into `census`.
    func forEachKernelPage(census: inout KernelMapCensus, _ body: (MappedPage) -> Bool)

    /// Builds whatever the walk caches (amd64: where each page-table page is), for batch work;
    /// until then the walk finds things as it goes.
    func buildIndex()

    /// The walks of `vas` for batch work (`Dump.translate(_:_:)`), in order, into `walks` (emptied
    /// first): each what `walk` returns, or nil where `walk` returns nil or throws (the caller asks
    /// `walk` again for the error). An architecture may interleave the loads of the group's walks
    /// so that their cache misses overlap; the default walks one address at a time.
    func walks(_ vas: ArraySlice<VirtualAddress>, into walks: inout [MapWalk?])
}

extension MinidumpArchitecture {
    func buildIndex() {}
    func walks(_ vas: ArraySlice<VirtualAddress>, into walks: inout [MapWalk?]) {
        walks.removeAll(keepingCapacity: true)
        for va in vas { walks.append(try? walk(va)) }
    }
}

extension MinidumpArchitecture {
    static var addressBits: Int { 64 }
    var mapEntrySize: UInt64 { 8 }

    /// Why `va` is in none of the architecture's maps: `.outsideMaps`, or `.outsideKernelMap` when
    /// the architecture has no direct map (so the message can say so).
    func outsideReason(_ va: VirtualAddress) -> TranslationError.Reason {
        guard directMapRange == nil else { return .outsideMaps(kernelMap: kernelMapRange, directMap: directMapRange) }
        let bits = Self.addressBits
        return .outsideKernelMap(kernelMap: kernelMapRange, architecture: Self.name, addressBits: bits,
                                 beyondAddressSpace: bits < 64 && va.rawValue >> UInt64(bits) != 0)
    }

    static func validate(header: MinidumpHeader, memory: [PhysicalRange]) throws(DumpError.Problem) {}
    static var reportsDirectMapOnlyPages: Bool { false }
}

/// How many of `entries` map entries of `1 << shift` bytes from `kernbase` start below 2^64 (a
/// map that would run past the top of the address space is cut there, spec §9 rule 2). With
/// kernbase aligned to the entry span, as the architectures require, they also end by 2^64.
func mapEntriesBelowTop(kernbase: UInt64, entries: UInt64, shift: UInt64) -> UInt64 {
    guard kernbase != 0 else { return entries }  // 2^64 - 0 does not fit; every map fits below 2^64
    let room = (0 &- kernbase) >> shift           // 2^64 - kernbase, in entries (rounded down)
    let partial: UInt64 = (0 &- kernbase) & ((1 << shift) - 1) == 0 ? 0 : 1
    return min(entries, room + partial)
}

/// Counts gathered while walking the kernel map, for statistics.
public struct KernelMapCensus: Sendable, Equatable {
    /// Entries in the page-table map section.
    public var entries: UInt64 = 0
    /// Entries whose valid bit is set.
    public var validEntries: UInt64 = 0
    /// Valid entries that map a large page (amd64: a 2 MiB PDE; 0 where the map has none).
    public var largePages: UInt64 = 0
    /// Valid entries that map one page of the dump's size (amd64: 4 KiB PTEs, from the map section
    /// in v1, from page-table pages in v2+; arm64: valid L3 entries).
    public var smallPages: UInt64 = 0
    /// Page-table pages referenced by valid PDEs and present in the file.
    public var pageTablePagesPresent: UInt64 = 0
    /// Page-table pages referenced by valid PDEs but absent from the dump or past the end of the file.
    public var pageTablePagesMissing: UInt64 = 0
    /// Entries that lie past the end of a truncated file.
    public var entriesPastEndOfFile: UInt64 = 0
}

/// Every architecture this build can read; the minidump's magic names one of them. Adding an
/// architecture is one file and one line here.
let registeredArchitectures: [any MinidumpArchitecture.Type] = [AMD64Minidump.self, RISCVMinidump.self, I386Minidump.self, ARM64Minidump.self]

/// One step of a walk as `translate --explain` prints it.
public struct WalkStep: Sendable, Equatable {
    /// What a value is, which decides how it is printed.
    public enum Kind: Sendable { case index, entry, address, virtualAddress, count }
    /// A step's names: in text (`pde`) and as a JSON key (`page_table_page`).
    public struct Name: Sendable, Equatable {
        public let text: String
        public let key: String
        public let kind: Kind
    }
    /// The step's names.
    public let name: Name
    /// Its value, or nil where the walk did not use it.
    public let value: UInt64?
}
