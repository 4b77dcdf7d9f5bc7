import MappedBytes

/// The dump façade: opens a minidump and answers questions about it.

/// The bytes a read got, and why it stopped early if it did.
public struct ReadResult: Sendable, Equatable {
    /// The bytes read, starting at the requested address; shorter than requested if `error` is set.
    public let bytes: [UInt8]
    /// The failure at the first unreadable address (`bytes.count` bytes after the start), or nil.
    public let error: TranslationError?
}

/// Something about the dump that is not fatal but worth knowing.
public enum IntegrityFinding: Sendable, Equatable, CustomStringConvertible {
    /// The file is shorter than its header and bitmap say; pages past the end are absent.
    case truncated(expectedSize: UInt64, fileSize: UInt64, missingPages: UInt64)
    /// The file is longer than its header and bitmap say.
    case trailingBytes(expectedSize: UInt64, fileSize: UInt64)
    /// The compressed file's stream stopped (corrupt or cut short) after `decodedBytes` bytes of the
    /// dump: those are read as a truncated dump. `reason` names the format, the fault and its
    /// compressed offset.
    case compressedStreamStopped(reason: String, decodedBytes: UInt64)
    /// Bitmap bits are set past the last dump_avail range: their pages have no physical address.
    case bitsBeyondRanges(count: UInt64, firstBit: UInt64)
    /// The page-table map section itself is cut short; its later entries are unknown.
    case pageTableMapTruncated(entriesPresent: UInt64, entries: UInt64)
    /// The header's msgbufsize is more than any message buffer (`MsgbufStructure.maximumRingSize`):
    /// only the first `bytesRead` bytes of the section are read as the ring.
    case messageBufferOverstated(msgbufSize: UInt64, bytesRead: UInt64)
    /// kernbase plus the page-table map's span runs past 2^64: the map is cut at the top of the
    /// address space, and its last `entriesCut` of `entries` entries are not used.
    case kernelMapPastTopOfAddressSpace(kernbase: UInt64, entries: UInt64, entriesCut: UInt64)
    /// The kernel map's virtual range overlaps the direct map.
    case kernelMapOverlapsDirectMap(kernelMap: ClosedRange<UInt64>, directMap: ClosedRange<UInt64>)

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case .truncated(let expected, let size, let missing):
            return "file is truncated: \(hex(size)) bytes of the expected \(hex(expected)); \(missing) dumped pages are missing"
        case .compressedStreamStopped(let reason, let decoded):
            return "compressed stream stopped after \(hex(decoded)) bytes of the dump: \(reason)"
        case .trailingBytes(let expected, let size):
            return "file has \(size - expected) bytes after the last data page (expected size \(hex(expected)))"
        case .bitsBeyondRanges(let count, let first):
            return "\(count) bitmap bits are set past the last dump_avail range (first: bit \(first))"
        case .pageTableMapTruncated(let present, let entries):
            return "page-table map is truncated: \(present) of \(entries) entries are in the file"
        case .messageBufferOverstated(let size, let read):
            return "header msgbufsize \(hex(size)) overstates the message buffer: only its first \(hex(read)) bytes are read as the ring"
        case .kernelMapPastTopOfAddressSpace(let kernbase, let entries, let cut):
            return "kernel map from kernbase \(hex(kernbase)) runs past the top of the address space: \(cut) of its \(entries) entries are cut off"
        case .kernelMapOverlapsDirectMap(let kernel, let direct):
            return "kernel map [\(hex(kernel.lowerBound)), \(hex(kernel.upperBound))] overlaps the direct map [\(hex(direct.lowerBound)), \(hex(direct.upperBound))]"
        }
    }
}

/// An open FreeBSD kernel minidump. Immutable and safe to share between threads and tasks.
///
/// Opening maps the file read-only, validates the header and every section offset, reads the
/// physical ranges and builds the page index. A truncated file opens (pages past its end are
/// reported absent) as long as everything up to the end of the bitmap is present.
public final class Dump: Sendable {
    /// The path the dump was opened with.
    public let path: String
    /// The header fields.
    public let header: MinidumpHeader
    /// Where each section is; `layout.data.length` counts every page the bitmap lists (the first
    /// use counts them: a pass over the whole bitmap).
    public var layout: SectionLayout { counted?.parts.layout ?? openedLayout }
    /// The physical ranges the bitmap describes (v3: dump_avail; v1/v2: one range from 0).
    public var physicalRanges: [PhysicalRange] { pages.physicalRanges }
    /// Non-fatal problems found in the file (the first use counts the dumped pages, as `layout`).
    public var findings: [IntegrityFinding] { notes + (counted?.parts.findings ?? openedFindings) }
    private let openedLayout: SectionLayout
    private let openedFindings: [IntegrityFinding]
    private let notes: [IntegrityFinding]
    /// The layout and findings that need the dumped pages counted, when opening left them to first use.
    private let counted: CountedParts?

    let file: MappedFile
    /// The architecture's table of operations (page-table walk, direct map, names).
    let architecture: any MinidumpArchitecture
    /// Where each dumped physical page is in the file.
    private let pages: any PhysicalContainer
    /// The same container, for the translation path.
    let storage: ContainerStorage
    /// The container, for the physical reads (PhysicalReads.swift).
    var containerStorage: ContainerStorage { storage }
    /// The bitmap container, for the batch interfaces' prefetch hints (nil for other containers).
    let bitmapPages: BitmapPrefetcher?

    /// Size of the file in bytes.
    public var fileSize: UInt64 { file.size }
    /// Bytes of the dump's page: the unit of data pages, bitmap bits and section padding (4096,
    /// or 16384 for an arm64 16K dump).
    public var pageSize: UInt64 { pages.pageSize }
    /// True if the file ends before the last data page.
    public var isTruncated: Bool { file.size < layout.expectedFileSize }
    /// Number of pages the bitmap lists (set bits).
    public var dumpedPageCount: UInt64 { pages.dumpedPageCount }
    /// Bytes of memory used by the page index (the popcount bins).
    public var indexMemoryBytes: Int { pages.indexMemoryBytes }
    /// The kernel map's virtual range, or nil if empty.
    public var kernelMapRange: ClosedRange<UInt64>? { architecture.kernelMapRange }
    /// The direct map's virtual range, or nil if there is none.
    public var directMapRange: ClosedRange<UInt64>? { architecture.directMapRange }
    /// Size of a kernel pointer on the dump's architecture, in bytes.
    public var pointerSize: Int { type(of: architecture).pointerSize }
    /// The digits the dump's virtual addresses are shown with, from `pointerSize` (8 on i386, else 16).
    public var addressWidth: AddressWidth { AddressWidth(pointerSize: pointerSize) }
    /// The dump's architecture's `struct msgbuf` layout (pointer size and struct sizes).
    public var msgbufShape: MsgbufShape { type(of: architecture).msgbufShape }
    /// Every architecture this build reads, by the name its minidump magic carries.
    public static var supportedArchitectures: [String] { registeredArchitectures.map { $0.name } }

    /// Opens the minidump at `path` read-only.
    /// - Throws: `DumpError` naming the file, the field or section, and the value at fault.
    public convenience init(path: String) throws(DumpError) {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw DumpError(path: path, problem: DumpError.Problem(error))
        }
        try self.init(file: file)
    }

    /// Opens a dump held in memory (for example one decompressed by the caller); `name` stands
    /// for the path in error messages.
    /// - Throws: `DumpError` as `init(path:)`.
    public convenience init(contents: [UInt8], name: String) throws(DumpError) {
        try self.init(file: MappedFile(name: name, contents: contents))
    }

    /// Opens the file at `path` as the dump called `name` (in `path` and in messages): a compressed
    /// dump's decompressed cache, or its decoded prefix, under the compressed file's name. `notes`
    /// (where the bytes came from, such as a compressed stream that ended early) lead the findings.
    /// - Throws: `DumpError` as `init(path:)`, naming `name`.
    public convenience init(path: String, shownAs name: String, notes: [IntegrityFinding] = []) throws(DumpError) {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw DumpError(path: name, problem: DumpError.Problem(error))
        }
        try self.init(file: file, name: name, notes: notes)
    }

    /// The dump in `file` (zero-filled memory whose supplier decodes it on demand), called `name`,
    /// with `notes` leading the findings (see `init(path:shownAs:notes:)`).
    public convenience init(file: MappedFile, name: String, notes: [IntegrityFinding]) throws(DumpError) {
        try self.init(file: file, name: Optional(name), notes: notes)
    }

    /// A dump held in memory, called `name`, with `notes` leading the findings (see `init(path:shownAs:notes:)`).
    public convenience init(contents: [UInt8], name: String, notes: [IntegrityFinding]) throws(DumpError) {
        try self.init(file: MappedFile(name: name, contents: contents), name: name, notes: notes)
    }

    /// Asks the format registry what the file is, and lets that format open it.
    private init(file: MappedFile, name: String? = nil, notes: [IntegrityFinding] = []) throws(DumpError) {
        let path = name ?? file.path
        self.path = path
        self.file = file
        do throws(DumpError.Problem) {
            let opened = try format(of: file).open(file)
            header = opened.header
            openedLayout = opened.layout
            storage = opened.container
            if case .bitmap(let container) = opened.container { bitmapPages = BitmapPrefetcher(container) } else { bitmapPages = nil }
            pages = opened.container.container
            architecture = opened.architecture
            self.notes = notes
            openedFindings = opened.findings
            counted = opened.counted
        } catch {
            throw DumpError(path: path, problem: error)
        }
    }

    /// A copy of `dump` with another translator (an ELF full dump's, once its tables are found).
    private init(_ dump: Dump, architecture: any MinidumpArchitecture) {
        path = dump.path
        file = dump.file
        header = dump.header
        openedLayout = dump.openedLayout
        storage = dump.storage
        bitmapPages = dump.bitmapPages
        pages = dump.pages
        notes = dump.notes
        openedFindings = dump.openedFindings
        counted = dump.counted
        self.architecture = architecture
    }

    // MARK: ELF full dumps: the kernel page tables

    /// True for an ELF full dump (PT_LOAD segments) rather than a minidump.
    public var isFullDump: Bool {
        if case .segments = storage { return true }
        return false
    }

    /// True if no virtual address translates until the kernel page tables are found
    /// (`withKernelTables`): an ELF full dump opened without them.
    public var needsKernelTables: Bool { (architecture as? AMD64FullDump)?.tables == nil && isFullDump }

    /// How the kernel page tables of an ELF full dump were found (the PML4, the kernel's physical
    /// base and the rule), or why they are not known; nil for a minidump.
    public var kernelTables: (tables: KernelTables?, reason: String?)? {
        guard isFullDump, let full = architecture as? AMD64FullDump else { return nil }
        return (full.tables, full.missingTablesReason)
    }

    /// This ELF full dump with its kernel page tables, found from the kernel image's symbols: the
    /// value of `kernbase` and the address of `KPML4phys` (spec beyond-amd64-minidump.md §4.3:
    /// PT_DUMP_DELTA, else the 2 MiB load address validated, else a search of 2 MiB bases).
    /// A minidump is returned as it is.
    /// - Throws: `DumpError` naming KPML4phys and why every rule failed.
    public func withKernelTables(kernbase: UInt64, kpml4physAddress: UInt64) throws(DumpError) -> Dump {
        guard case .segments(let container) = storage else { return self }
        do throws(DumpError.Problem) {
            let located = try ELFFullDumpFormat.locateTables(in: container, kernbase: kernbase, kpml4physAddress: kpml4physAddress)
            return Dump(self, architecture: located)
        } catch {
            throw DumpError(path: path, problem: error)
        }
    }

    // MARK: Translation and reads

    /// Builds the whole page index now: the popcount bins over the whole bitmap and where each
    /// page-table page of the kernel map is. Without it they are built as lookups need them, which
    /// suits a one-shot command; batch work (many lookups anywhere) calls this first, once.
    /// Thread-safe; later calls return at once.
    public func buildIndex() {
        storage.buildIndex()
        architecture.buildIndex()
    }

    /// Translates a kernel virtual address to its physical address and file offset.
    /// - Throws: `TranslationError` saying which step failed: outside both maps, invalid PDE/PTE,
    ///   page-table page missing, physical page not dumped, or past the end of a truncated file.
    @inline(__always)
    public func translate(_ va: VirtualAddress) throws(TranslationError) -> Translation {
        // A minidump's container through the class that holds it: switching over `storage` copied
        // the whole enum payload (two memcpy calls per translation) into the closures.
        if let pages = bitmapPages {
            return try translateAddress(va, through: architecture, file: file, pageSize: pages.container.pageSize,
                                        locate: { pa throws(ContainerMiss) in try pages.container.locate(pa, bytes: 1) },
                                        reason: { pages.container.reason($0, $1) })
        }
        // One call into the container, specialised for its type (see `PhysicalContainer.translate`).
        return try storage.translate(va, through: architecture, file: file)
    }

    /// The steps of `translation`'s walk, named by the architecture (its page-table entries) and by
    /// the container (where the page is in the file), for `translate --explain`.
    public func walkSteps(of translation: Translation) -> [WalkStep] {
        let walk = translation.walk
        let values: [UInt64?] = [walk.mapIndex, walk.pde, walk.pte, walk.pageTablePage?.rawValue,
                                 walk.canonicalAddress?.rawValue]
        let names = type(of: architecture).walkStepNames
        let lookup = PageLookup(bit: walk.bit, bin: walk.bin, edgeCount: walk.edgeCount, pagesBefore: walk.pagesBefore)
        return zip(names, values).compactMap { name, value in name.map { WalkStep(name: $0, value: value) } }
            + pages.steps(of: lookup)
    }

    /// The error for any operation once the file has shrunk under the mapping.
    private func shrankError(_ va: VirtualAddress) -> TranslationError { file.shrankError(va) }

    /// Nil while the file is as it was opened; its current size if it shrank and a read touched a
    /// page past its new end (`MappedFile.hasShrunk`): answers computed since then are not to be used.
    public var shrunkFileSize: UInt64? { file.shrunkSize() }

    /// One line per file (dump or kernel image) that shrank under its mapping and has since been
    /// closed: "PATH: the file shrank to N bytes while it was read (it had M when opened)". A tool
    /// reports them at exit, since whatever it printed from those files may be wrong.
    public static func shrunkFileReports() -> [String] {
        ShrunkFiles.closed().map { "\($0.path): " + shrankText(size: $0.size, openedSize: $0.openedSize) }
    }

    /// Throws `.fileShrank` if the file shrank under the mapping while it was read: for callers of
    /// the non-throwing readers (`statistics()`, `messageBuffer()`, the page enumerations) before
    /// they use what those returned.
    public func checkFileUnchanged() throws(DumpError) {
        if let size = file.shrunkSize() {
            throw DumpError(path: path, problem: .fileShrank(size: size, openedSize: file.size))
        }
    }

    /// Reads `count` bytes of kernel memory starting at `va`, page by page.
    ///
    /// Unlike libkvm's all-or-nothing read, a read that fails part way returns the bytes before the
    /// first unreadable address and the error for that address.
    public func read(_ va: VirtualAddress, count: Int) -> ReadResult {
        let result = readUnchecked(va, count: count)
        return file.hasShrunk ? ReadResult(bytes: [], error: shrankError(va)) : result
    }

    private func readUnchecked(_ va: VirtualAddress, count: Int) -> ReadResult {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(max(count, 0), 1 << 20))
        var cursor = va.rawValue
        var remaining = max(count, 0)
        while remaining > 0 {
            let translation: Translation
            do {
                translation = try translate(VirtualAddress(cursor))
            } catch {
                return ReadResult(bytes: bytes, error: error)
            }
            let inFile = fileSize - translation.fileOffset.rawValue
            let chunk = Int(min(UInt64(remaining), translation.contiguousBytes, inFile))
            storage.supply(offset: translation.fileOffset.rawValue, length: UInt64(chunk))
            _ = file.bytes.append(at: translation.fileOffset.rawValue, length: UInt64(chunk), to: &bytes)
            remaining -= chunk
            let (next, overflow) = cursor.addingReportingOverflow(UInt64(chunk))
            if overflow && remaining > 0 {
                return ReadResult(bytes: bytes, error: TranslationError(
                    virtualAddress: VirtualAddress(0), reason: architecture.outsideReason(VirtualAddress(0))))
            }
            cursor = next
        }
        return ReadResult(bytes: bytes, error: nil)
    }

    /// Reads the little-endian 64-bit word at `va` (which may straddle two pages).
    /// - Throws: `TranslationError` for the first unreadable byte.
    public func readUInt64(_ va: VirtualAddress) throws(TranslationError) -> UInt64 {
        let translation = try translate(va)
        if translation.contiguousBytes >= 8 { storage.supply(offset: translation.fileOffset.rawValue, length: 8) }
        if translation.contiguousBytes >= 8, let word = file.bytes.uint64(at: translation.fileOffset.rawValue) {
            if file.hasShrunk { throw shrankError(va) }
            return word
        }
        let result = read(va, count: 8)
        if let error = result.error { throw error }
        return result.bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Reads the little-endian kernel pointer at `va`: `pointerSize` bytes (8, or 4 on i386),
    /// zero-extended to 64 bits.
    /// - Throws: `TranslationError` for the first unreadable byte.
    public func readPointer(_ va: VirtualAddress) throws(TranslationError) -> UInt64 {
        guard pointerSize == 4 else { return try readUInt64(va) }
        let result = read(va, count: 4)
        if let error = result.error { throw error }
        return result.bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The bytes of the physical page at `pa` (`pageSize` bytes), or nil if it is not in the file.
    public func physicalPage(_ pa: PhysicalAddress) -> [UInt8]? {
        guard let offset = storage.offset(of: pa) else { return nil }
        storage.supply(offset: offset.rawValue, length: pageSize)
        return file.bytes.bytes(at: offset.rawValue, length: pageSize)
    }

    /// The file offset of the physical page holding `pa`, or nil if it is not in the file.
    public func fileOffset(ofPhysical pa: PhysicalAddress) -> FileOffset? {
        storage.offset(of: pa).map { FileOffset($0.rawValue | (pa.rawValue & (pageSize &- 1))) }
    }

    // MARK: Message buffer

    /// The message buffer from the msgbuf section, using the `struct msgbuf` the kernel keeps right
    /// after the ring (in the section's padding) when it is there and valid.
    ///
    /// A header msgbufsize above `MsgbufStructure.maximumRingSize` is not believed (a finding says
    /// so): only that many bytes are copied, read as a ring without a structure.
    ///
    /// The struct's layout is `layout` when given (from the kernel's osreldate), else the one the
    /// section's padding implies (`messageBufferLayout`): 72 bytes, or 40 for FreeBSD 7/8.
    public func messageBuffer(layout given: MsgbufLayout? = nil) -> MessageBuffer {
        let section = layout.messageBuffer
        if isFullDump {
            return MessageBuffer(ring: [], structure: nil, missingReason:
                "an ELF full dump has no msgbuf section: the message buffer is found through msgbufp with the kernel image (-N)")
        }
        let limit = UInt64(MsgbufStructure.maximumRingSize)
        guard section.length <= limit else {
            let ring = file.bytes.bytes(at: section.offset.rawValue, length: limit) ?? []
            return MessageBuffer(ring: ring, structure: nil, missingReason:
                "header msgbufsize \(hex(section.length)) is more than any message buffer; the first \(hex(limit)) bytes are read, without a struct msgbuf")
        }
        let ring = file.bytes.bytes(at: section.offset.rawValue, length: section.length) ?? []
        let padding = roundUpToPage(section.length, layout.pageSize).map { $0 - section.length } ?? 0
        let shape = msgbufShape
        guard let structLayout = given ?? MsgbufLayout.implied(byPadding: padding, shape: shape) else {
            return MessageBuffer(ring: ring, structure: nil)
        }
        let structSize = UInt64(shape.size(of: structLayout))
        guard padding >= structSize, let bytes = file.bytes.bytes(at: section.end.rawValue, length: structSize) else {
            return MessageBuffer(ring: ring, structure: nil, missingReason:
                "no room for the \(structLayout) struct msgbuf after the ring (\(padding) bytes of padding)")
        }
        return MessageBuffer(ring: ring, structure: MsgbufStructure(bytes: bytes, layout: structLayout, shape: shape))
    }

    /// The `struct msgbuf` layout the msgbuf section's padding implies (see `MsgbufLayout.implied`),
    /// or nil when the padding has room for neither.
    public var messageBufferLayout: MsgbufLayout? {
        let section = layout.messageBuffer
        return MsgbufLayout.implied(byPadding: roundUpToPage(section.length, layout.pageSize).map { $0 - section.length } ?? 0,
                                    shape: msgbufShape)
    }

    // MARK: Page enumeration

    /// Calls `body` for every mapped page of the kernel map, in VA order, until it returns false.
    /// Page-table pages missing from the dump are skipped (`statistics()` counts them).
    public func forEachKernelPage(_ body: (MappedPage) -> Bool) {
        var census = KernelMapCensus()
        architecture.forEachKernelPage(census: &census, body)
    }

    /// Every mapped page of the kernel map, in VA order.
    public func kernelPages() -> [MappedPage] {
        var result: [MappedPage] = []
        forEachKernelPage { result.append($0); return true }
        return result
    }

    /// Calls `body` with every dumped page that is reachable only through the direct map (not mapped
    /// by the kernel map), in physical order, with its file offset (nil past the end of a truncated
    /// file), until it returns false.
    ///
    /// Iterates the dump's own bitmap, skipping pages the kernel map reaches (spec §10 explains
    /// why libkvm's walk gets this wrong).
    public func forEachDirectMapOnlyPage(_ body: (PhysicalAddress, FileOffset?) -> Bool) {
        var covered: [(start: PhysicalAddress, length: UInt64)] = []
        forEachKernelPage { page in
            if let last = covered.last, last.start.rawValue &+ last.length == page.physicalAddress.rawValue {
                covered[covered.count - 1].length &+= page.size.bytes
            } else {
                covered.append((page.physicalAddress, page.size.bytes))
            }
            return true
        }
        pages.forEachDumpedPage(notIn: covered) { pa, offset in
            guard architecture.directMapAddress(of: pa) != nil else { return true }
            return body(pa, offset)
        }
    }

    /// The direct-map virtual address of the page at `pa`, or nil if the direct map does not reach
    /// it (or the architecture has none).
    public func directMapAddress(ofPhysical pa: PhysicalAddress) -> VirtualAddress? {
        architecture.directMapAddress(of: pa)
    }

    /// How many dumped pages are reachable only through the direct map.
    private func countDirectMapOnlyPages() -> UInt64 {
        var count: UInt64 = 0
        forEachDirectMapOnlyPage { _, _ in count += 1; return true }
        return count
    }

    /// Physical addresses of the dumped pages reachable only through the direct map.
    public func directMapOnlyPages() -> [PhysicalAddress] {
        var result: [PhysicalAddress] = []
        forEachDirectMapOnlyPage { pa, _ in result.append(pa); return true }
        return result
    }

    // MARK: Statistics

    /// Counts over the whole dump; walks the kernel map, so it costs time on large dumps.
    public func statistics() -> DumpStatistics {
        var census = KernelMapCensus()
        architecture.forEachKernelPage(census: &census) { _ in true }
        return DumpStatistics(
            bitmapBits: pages.describablePages, dumpedPages: dumpedPageCount,
            pagesInFile: pages.pagesInFile,
            physicalBytesCovered: physicalRanges.reduce(0) { $0 + ($1.end.rawValue - $1.start.rawValue) }, physicalBytesDumped: dumpedPageCount &* pageSize,
            physicalRanges: physicalRanges, kernelMap: census,
            kernelMapBytes: kernelMapRange.map { $0.upperBound - $0.lowerBound + 1 } ?? 0,
            expectedFileSize: layout.expectedFileSize, fileSize: fileSize,
            indexMemoryBytes: indexMemoryBytes, indexBins: pages.indexBins, findings: findings,
            directMapOnlyPages: type(of: architecture).reportsDirectMapOnlyPages ? countDirectMapOnlyPages() : nil,
            censusPageNames: type(of: architecture).censusPageNames)
    }
}

// MARK: - Core export (issue 11): the data section as it is in the file, and its physical runs

extension Dump {
    /// The mapped bytes of the whole dump file (read-only).
    public var fileBytes: ByteView { file.bytes }

    /// Where the data pages start in the file, and how many of them are wholly in it (all of them
    /// unless the file is truncated). Data page `k` is at `dataOffset + k * pageSize`.
    public var dataPagesInFile: (offset: UInt64, count: UInt64) { (layout.data.offset.rawValue, pages.pagesInFile) }

    /// The data-page number (position in the data section) of the physical page holding
    /// `pa`, or nil if that page is not wholly in the file.
    public func dataPageNumber(ofPhysical pa: PhysicalAddress) -> UInt64? {
        guard let offset = storage.offset(of: pa) else { return nil }
        return (offset.rawValue - layout.data.offset.rawValue) / pageSize
    }

    /// Calls `body` with every run of dumped pages wholly in the file that are consecutive both in
    /// physical memory and in the data section, in physical order: the run's first physical address,
    /// its first data-page number and its page count; until `body` returns false. Memory: constant.
    public func forEachDumpedRun(_ body: (PhysicalAddress, UInt64, UInt64) -> Bool) {
        let dataOffset = layout.data.offset.rawValue
        let pageSize = pageSize
        pages.forEachRun { pa, offset, count in body(pa, (offset.rawValue &- dataOffset) / pageSize, count) }
    }
}

extension Dump {
    /// True if the dump's bytes are a mapping of the file at `path` (not in-memory contents).
    public var isFileMapped: Bool { file.isFileMapped }

    /// Makes the bytes `[offset, offset + length)` of `fileBytes` present before they are read
    /// directly (a compressed dump decoded on demand); nothing for a mapped file.
    public func prepareFileBytes(offset: UInt64, length: UInt64) { storage.supply(offset: offset, length: length) }

    /// Lets the mapped bytes `[offset, offset + length)` of the file leave the resident set (a
    /// streaming reader calls this behind itself); no effect for in-memory contents.
    public func releaseFileBytes(offset: UInt64, length: UInt64) { file.release(offset: offset, length: length) }
}
