import MappedBytes

/// The container layer: "physical address → bytes in the file". A format (`DumpFormat`) builds one
/// when it opens a file; the architecture's page-table walk and `Dump` ask it where a physical page
/// is, and never how it knows.
///
/// Implementations:
/// - `BitmapContainer`: a minidump's page bitmap, its popcount index and the data section after it
///   (the only one today);
/// - planned: an ELF full dump's PT_LOAD segments (a sorted table of `[p_paddr, p_paddr + p_filesz)`
///   → `p_offset`, found by binary search; `p_memsz` beyond `p_filesz` is memory not in the file),
///   and a decompressed view (the same answers over a buffer the format decompressed, which is then
///   `bytes`). Both fit: they answer `locate` with an offset into `bytes`, have no bitmap bit (they
///   fill `PageLookup` with the segment or block number and its position), and enumerate runs.

/// Why a container could not give the bytes of a physical address.
enum ContainerMiss: Error {
    /// The address is in no physical range the container describes.
    case outsideRanges
    /// The container describes the page but the kernel did not dump it (`bit`: its slot number).
    case notDumped(bit: UInt64)
    /// The page is dumped but this byte of it lies past the end of the (truncated) file.
    case pastEndOfFile(offset: FileOffset)
}

/// Where the bytes of each dumped physical page are.
protocol PhysicalContainer: Sendable {
    /// The bytes offsets refer to: the mapped file, or a decompressed view.
    var bytes: ByteView { get }
    /// Bytes in one page of the container (the unit of `locate`, `presentPages` and runs).
    var pageSize: UInt64 { get }
    /// Pages the container can describe (a minidump: bitmap bits).
    var describablePages: UInt64 { get }
    /// Pages the kernel dumped.
    var dumpedPageCount: UInt64 { get }
    /// Of those, pages wholly in the file (fewer if it is truncated).
    var pagesInFile: UInt64 { get }
    /// The physical memory the container describes, in ascending order.
    var physicalRanges: [PhysicalRange] { get }
    /// Bytes of memory the container's index occupies, and its number of bins (0 if it has none).
    var indexMemoryBytes: Int { get }
    var indexBins: Int { get }

    /// The offset in `bytes` of the page holding `pa`, and how it was found. The `bytes` bytes from
    /// `pa` (within its page) must be present: a page cut by truncation still serves those before the cut.
    func locate(_ pa: PhysicalAddress, bytes: UInt64) throws(ContainerMiss) -> (offset: FileOffset, lookup: PageLookup)

    /// The offset of the page holding `pa`, or nil if the whole page is not in the file (the
    /// default asks `locate` for the whole page).
    func offset(of pa: PhysicalAddress) -> FileOffset?

    /// How many of the pages in `[pa, pa + length)` are present in the file.
    func presentPages(from pa: PhysicalAddress, length: UInt64) -> Int

    /// How `lookup` found the page, as `translate --explain` prints it.
    func steps(of lookup: PageLookup) -> [WalkStep]

    /// The reason a person reads for a miss at `pa`.
    func reason(_ miss: ContainerMiss, _ pa: PhysicalAddress) -> TranslationError.Reason

    /// Calls `body` with every run of dumped pages wholly in the file that are consecutive both in
    /// physical memory and in `bytes`: first physical address, its offset, page count; until `body`
    /// returns false. Memory: constant.
    func forEachRun(_ body: (PhysicalAddress, FileOffset, UInt64) -> Bool)

    /// Calls `body` with every dumped page, in physical order, that lies in none of the `covered`
    /// spans (start, length; in any order), with its offset (nil if it is not wholly in the file),
    /// until `body` returns false.
    func forEachDumpedPage(notIn covered: [(start: PhysicalAddress, length: UInt64)],
                           _ body: (PhysicalAddress, FileOffset?) -> Bool)

}

/// Translates `va` with `architecture`'s walk, then finds the physical address with a container's
/// `locate`: the one implementation of translation, for every container (`ContainerStorage`).
/// `pageSize` is the container's page: the walk gives its base, the address's low bits its byte.
@inline(__always)
func translateAddress(
    _ va: VirtualAddress, through architecture: any MinidumpArchitecture, file: MappedFile, pageSize: UInt64,
    locate: (PhysicalAddress) throws(ContainerMiss) -> (offset: FileOffset, lookup: PageLookup),
    reason: (ContainerMiss, PhysicalAddress) -> TranslationError.Reason
) throws(TranslationError) -> Translation {
    // Every failure and the success are checked against a shrunk file: a walk that read zeros
    // where the file lost its bytes must not be believed (see `MappedFile.hasShrunk`).
    let found: MapWalk?
    do throws(TranslationError) {
        found = try architecture.walk(va)
    } catch {
        throw file.hasShrunk ? file.shrankError(va) : error
    }
    guard let walk = found else {
        throw TranslationError(virtualAddress: va, reason: architecture.outsideReason(va))
    }
    let mask = pageSize &- 1
    let pa = PhysicalAddress(walk.physicalAddress.rawValue | (va.rawValue & mask))
    let located: (offset: FileOffset, lookup: PageLookup)
    do throws(ContainerMiss) {
        located = try locate(pa)
    } catch {
        throw file.hasShrunk ? file.shrankError(va) : TranslationError(virtualAddress: va, reason: reason(error, pa))
    }
    guard !file.hasShrunk else { throw file.shrankError(va) }
    return Translation(va, walk: walk, physicalAddress: pa, located: located, pageSize: pageSize)
}

extension Translation {
    /// The translation of `va` that `walk` and the container's `located` found (`pa`: the walk's
    /// page with the address's byte in a container page of `pageSize` bytes).
    @inline(__always)
    init(_ va: VirtualAddress, walk: MapWalk, physicalAddress pa: PhysicalAddress,
         located: (offset: FileOffset, lookup: PageLookup), pageSize: UInt64) {
        let lookup = located.lookup
        self.init(
            virtualAddress: va, physicalAddress: pa,
            fileOffset: FileOffset(located.offset.rawValue | (va.rawValue & (pageSize &- 1))),
            map: walk.map, pageSize: walk.pageSize, filePageSize: pageSize,
            walk: TranslationWalk(bit: lookup.bit, bin: lookup.bin, edgeCount: lookup.edgeCount,
                                  pagesBefore: lookup.pagesBefore, path: walk.path))
    }
}

/// The containers this build has, as one value the translation path dispatches on statically.
/// Containers are a closed set of the core (a format picks one; the architectures stay open, in the
/// registry): an existential call per translation cost 10 to 30% more instructions (callgrind,
/// translate-kernel), a switch costs nothing. A new container is one case here.
enum ContainerStorage: Sendable {
    case bitmap(BitmapContainer)
    /// An ELF full dump's PT_LOAD segments (SegmentContainer.swift).
    case segments(SegmentContainer)

    /// The container, for everything but the translation path.
    var container: any PhysicalContainer {
        switch self {
        case .bitmap(let container): container
        case .segments(let container): container
        }
    }

    /// The bytes the container's offsets refer to.
    var bytes: ByteView {
        switch self {
        case .bitmap(let container): container.bytes
        case .segments(let container): container.bytes
        }
    }

    /// `PhysicalContainer.locate`, called on the concrete type.
    @inline(__always)
    func locate(_ pa: PhysicalAddress, bytes: UInt64) throws(ContainerMiss) -> (offset: FileOffset, lookup: PageLookup) {
        switch self {
        case .bitmap(let container): try container.locate(pa, bytes: bytes)
        case .segments(let container): try container.locate(pa, bytes: bytes)
        }
    }

    /// `PhysicalContainer.offset(of:)`, called on the concrete type.
    @inline(__always)
    func offset(of pa: PhysicalAddress) -> FileOffset? {
        switch self {
        case .bitmap(let container): container.offset(of: pa)
        case .segments(let container): container.offset(of: pa)
        }
    }

    /// Makes `[offset, offset + length)` of `bytes` hold their bytes before they are read (a
    /// container whose bytes come on demand); nothing for the others.
    func supply(offset: UInt64, length: UInt64) {
        if case .bitmap(let container) = self, let supplier = container.supplier {
            supplier.supply(offset: offset, length: length)
        }
    }

    /// True if the container's bytes come on demand (`supply` does something).
    var suppliesOnDemand: Bool {
        if case .bitmap(let container) = self { return container.supplier != nil }
        return false
    }

    /// Builds the container's whole index now (see `Dump.buildIndex()`).
    func buildIndex() {
        if case .bitmap(let container) = self { container.index.buildAll() }
    }

    /// `PhysicalContainer.presentPages`, called on the concrete type.
    func presentPages(from pa: PhysicalAddress, length: UInt64) -> Int {
        switch self {
        case .bitmap(let container): container.presentPages(from: pa, length: length)
        case .segments(let container): container.presentPages(from: pa, length: length)
        }
    }

    /// Translates `va` (see `translateAddress`), specialised for the container's type.
    @inline(__always)
    func translate(_ va: VirtualAddress, through architecture: any MinidumpArchitecture, file: MappedFile)
        throws(TranslationError) -> Translation {
        switch self {
        case .bitmap(let container):
            // The container's own locate and reason, called directly so that they are inlined.
            try translateAddress(va, through: architecture, file: file, pageSize: container.pageSize,
                                 locate: { pa throws(ContainerMiss) in try container.locate(pa, bytes: 1) },
                                 reason: { container.reason($0, $1) })
        case .segments(let container):
            try translateAddress(va, through: architecture, file: file, pageSize: container.pageSize,
                                 locate: { pa throws(ContainerMiss) in try container.locate(pa, bytes: 1) },
                                 reason: { container.reason($0, $1) })
        }
    }
}

extension MappedFile {
    /// The error for any operation at `va` once the file has shrunk under the mapping.
    func shrankError(_ va: VirtualAddress) -> TranslationError {
        TranslationError(virtualAddress: va, reason: .fileShrank(size: shrunkSize() ?? 0, openedSize: size))
    }
}

extension PhysicalContainer {
    func offset(of pa: PhysicalAddress) -> FileOffset? {
        try? locate(PhysicalAddress(pa.rawValue & ~(pageSize &- 1)), bytes: pageSize).offset
    }
}
