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
    /// Where each section is; `layout.data.length` counts every page the bitmap lists.
    public let layout: SectionLayout
    /// The physical ranges the bitmap describes (v3: dump_avail; v1/v2: one range from 0).
    public var physicalRanges: [PhysicalRange] { pages.memory.ranges }
    /// Non-fatal problems found while opening.
    public let findings: [IntegrityFinding]

    private let file: MappedFile
    private let architecture: any MinidumpArchitecture
    private let pages: DataPages

    /// Size of the file in bytes.
    public var fileSize: UInt64 { file.size }
    /// True if the file ends before the last data page.
    public var isTruncated: Bool { file.size < layout.expectedFileSize }
    /// Number of pages the bitmap lists (set bits).
    public var dumpedPageCount: UInt64 { pages.index.population }
    /// Bytes of memory used by the page index (the popcount bins).
    public var indexMemoryBytes: Int { pages.index.memoryBytes }
    /// The kernel map's virtual range, or nil if empty.
    public var kernelMapRange: ClosedRange<UInt64>? { architecture.kernelMapRange }
    /// The direct map's virtual range, or nil if there is none.
    public var directMapRange: ClosedRange<UInt64>? { architecture.directMapRange }

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

    /// What opening finds before the bitmap is read: the backend, header, layout (data section
    /// not yet sized), physical ranges and the bitmap's bytes. Shared by `Dump` and `DumpOutline`.
    struct Opening {
        let backend: any MinidumpArchitecture.Type
        let header: MinidumpHeader
        let layout: SectionLayout
        let memory: PhysicalMemory
        let bitmap: ByteView
    }

    /// Validates the header and every section the reader needs in full, without touching the bitmap's contents.
    static func open(_ file: MappedFile) throws(DumpError.Problem) -> Opening {
        let bytes = file.bytes
        guard file.size >= SectionLayout.headerPageSize,
              let page = bytes.slice(offset: 0, length: SectionLayout.headerPageSize)
        else { throw .fileTooSmall(size: file.size) }
        let backend = try Self.architecture(for: page)
        let header = try backend.parseHeader(page)
        let layout = try SectionLayout.compute(header: header, order: backend.sectionOrder(for: header))
        /// The sections needed in full, in file order: the first one cut off is the one reported.
        func whole(_ range: FileRange, _ name: String) throws(DumpError.Problem) -> ByteView {
            guard let view = bytes.slice(offset: range.offset.rawValue, length: range.length) else {
                throw .sectionPastEndOfFile(section: name, end: range.end.rawValue, fileSize: file.size)
            }
            return view
        }
        _ = try whole(layout.messageBuffer, "msgbuf")
        let dumpAvailView = try whole(layout.dumpAvail, "dump_avail")
        let bitmapView = try whole(layout.bitmap, "bitmap")
        let bitmapBits = layout.bitmap.length * 8
        let memory: PhysicalMemory
        if layout.dumpAvail.length > 0 {
            memory = try PhysicalMemory(dumpAvail: dumpAvailView, bitmapBits: bitmapBits)
        } else {
            memory = PhysicalMemory(impliedBy: bitmapBits)
        }
        return Opening(backend: backend, header: header, layout: layout, memory: memory, bitmap: bitmapView)
    }

    private init(file: MappedFile) throws(DumpError) {
        let path = file.path
        self.path = path
        self.file = file
        do throws(DumpError.Problem) {
            let bytes = file.bytes
            let opening = try Self.open(file)
            let (backend, header, memory, bitmapView) = (opening.backend, opening.header, opening.memory, opening.bitmap)
            var layout = opening.layout
            let index = PageIndex(bitmap: bitmapView)
            layout = try layout.withDataPages(index.population)
            let mapStart = layout.pageTableMap.offset.rawValue
            let mapPresent = mapStart >= file.size ? 0 : min(layout.pageTableMap.length, file.size - mapStart)
            let map = bytes.slice(offset: mapStart, length: mapPresent) ?? .empty
            pages = DataPages(memory: memory, index: index, dataOffset: layout.data.offset.rawValue,
                              fileSize: file.size, file: bytes)
            architecture = backend.init(header: header, map: map, mapOffset: layout.pageTableMap.offset, pages: pages)
            self.header = header
            self.layout = layout
            var found = Self.findings(layout: layout, fileSize: file.size, pages: pages, mapPresent: mapPresent,
                                      kernelMap: architecture.kernelMapRange, directMap: architecture.directMapRange)
            if architecture.kernelMapEntriesCut > 0 {
                found.append(.kernelMapPastTopOfAddressSpace(kernbase: header.kernbase.rawValue,
                                                             entries: layout.pageTableMap.length / 8,
                                                             entriesCut: architecture.kernelMapEntriesCut))
            }
            findings = found
        } catch {
            throw DumpError(path: path, problem: error)
        }
    }

    /// Picks the backend whose magic the header page carries.
    private static func architecture(for page: ByteView) throws(DumpError.Problem) -> any MinidumpArchitecture.Type {
        let magic = page.bytes(at: 0, length: UInt64(magicLength)) ?? []
        for (signature, format) in otherFormats where magic.starts(with: signature) {
            throw .unsupportedFormat(format)
        }
        let text = magic.prefix { $0 != 0 }
        let printable = String(decoding: text.map { $0 >= 0x20 && $0 < 0x7f ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        guard printable.hasPrefix(magicPrefix), text.count < magicLength else { throw .badMagic(found: printable) }
        let name = String(printable.dropFirst(magicPrefix.count))
        guard let backend = registeredArchitectures.first(where: { $0.name == name }) else {
            throw .unsupportedArchitecture(name)
        }
        return backend
    }

    /// Signatures of files that are crash dumps, but not minidumps this reader can open as they are.
    private static let otherFormats: [([UInt8], String)] = [
        ([0x7f, 0x45, 0x4c, 0x46], "an ELF full dump (debug.minidump=0), which is not supported yet"),
        ([0x1f, 0x8b], "gzip-compressed: decompress it first (gunzip, or savecore -u)"),
        ([0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed: decompress it first (zstd -d, or savecore -u)"),
        (Array("FreeBSD Kernel Dump".utf8), "a raw dump device image: extract the dump with savecore(8) first"),
        (Array("FreeBSD Text Dump".utf8), "a textdump (a tar file of ddb output), not a memory image"),
    ]

    private static func findings(layout: SectionLayout, fileSize: UInt64, pages: DataPages, mapPresent: UInt64,
                                 kernelMap: ClosedRange<UInt64>?, directMap: ClosedRange<UInt64>?) -> [IntegrityFinding] {
        var findings: [IntegrityFinding] = []
        let expected = layout.expectedFileSize
        if fileSize < expected {
            findings.append(.truncated(expectedSize: expected, fileSize: fileSize,
                                       missingPages: pages.index.population - pages.pagesInFile))
        } else if fileSize > expected {
            findings.append(.trailingBytes(expectedSize: expected, fileSize: fileSize))
        }
        if mapPresent < layout.pageTableMap.length {
            findings.append(.pageTableMapTruncated(entriesPresent: mapPresent / 8, entries: layout.pageTableMap.length / 8))
        }
        var beyond: UInt64 = 0
        var first: UInt64 = 0
        pages.index.forEachSetBit(from: pages.memory.totalBits) { bit in
            if beyond == 0 { first = bit }
            beyond += 1
            return true
        }
        if beyond > 0 { findings.append(.bitsBeyondRanges(count: beyond, firstBit: first)) }
        if layout.messageBuffer.length > UInt64(MsgbufStructure.maximumRingSize) {
            findings.append(.messageBufferOverstated(msgbufSize: layout.messageBuffer.length,
                                                     bytesRead: UInt64(MsgbufStructure.maximumRingSize)))
        }
        if let kernelMap, let directMap, kernelMap.overlaps(directMap) {
            findings.append(.kernelMapOverlapsDirectMap(kernelMap: kernelMap, directMap: directMap))
        }
        return findings
    }

    // MARK: Translation and reads

    /// Translates a kernel virtual address to its physical address and file offset.
    /// - Throws: `TranslationError` saying which step failed: outside both maps, invalid PDE/PTE,
    ///   page-table page missing, physical page not dumped, or past the end of a truncated file.
    @inline(__always)
    public func translate(_ va: VirtualAddress) throws(TranslationError) -> Translation {
        // Every failure and the success are checked against a shrunk file: a walk that read zeros
        // where the file lost its bytes must not be believed (see `MappedFile.hasShrunk`).
        let found: MapWalk?
        do throws(TranslationError) {
            found = try architecture.walk(va, pages: pages)
        } catch {
            throw file.hasShrunk ? shrankError(va) : error
        }
        guard let walk = found else {
            throw TranslationError(virtualAddress: va, reason: .outsideMaps(
                kernelMap: architecture.kernelMapRange, directMap: architecture.directMapRange))
        }
        let pa = PhysicalAddress(walk.physicalAddress.rawValue | (va.rawValue & PageSize.mask4K))
        let located: (offset: FileOffset, lookup: PageLookup)
        do throws(DataPages.Miss) {
            located = try pages.locate(pa)
        } catch {
            throw file.hasShrunk ? shrankError(va) : TranslationError(virtualAddress: va, reason: pages.reason(error, pa))
        }
        guard !file.hasShrunk else { throw shrankError(va) }
        let lookup = located.lookup
        return Translation(
            virtualAddress: va, physicalAddress: pa,
            fileOffset: FileOffset(located.offset.rawValue | (va.rawValue & PageSize.mask4K)),
            map: walk.map, pageSize: walk.pageSize,
            walk: TranslationWalk(bit: lookup.bit, bin: lookup.bin, edgeCount: lookup.edgeCount,
                                  pagesBefore: lookup.pagesBefore, path: walk.path))
    }

    /// The error for any operation once the file has shrunk under the mapping.
    private func shrankError(_ va: VirtualAddress) -> TranslationError {
        TranslationError(virtualAddress: va, reason: .fileShrank(size: file.shrunkSize() ?? 0, openedSize: file.size))
    }

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
            _ = file.bytes.append(at: translation.fileOffset.rawValue, length: UInt64(chunk), to: &bytes)
            remaining -= chunk
            let (next, overflow) = cursor.addingReportingOverflow(UInt64(chunk))
            if overflow && remaining > 0 {
                return ReadResult(bytes: bytes, error: TranslationError(
                    virtualAddress: VirtualAddress(0), reason: .outsideMaps(
                        kernelMap: architecture.kernelMapRange, directMap: architecture.directMapRange)))
            }
            cursor = next
        }
        return ReadResult(bytes: bytes, error: nil)
    }

    /// Reads the little-endian 64-bit word at `va` (which may straddle two pages).
    /// - Throws: `TranslationError` for the first unreadable byte.
    public func readUInt64(_ va: VirtualAddress) throws(TranslationError) -> UInt64 {
        let translation = try translate(va)
        if translation.contiguousBytes >= 8, let word = file.bytes.uint64(at: translation.fileOffset.rawValue) {
            if file.hasShrunk { throw shrankError(va) }
            return word
        }
        let result = read(va, count: 8)
        if let error = result.error { throw error }
        return result.bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The bytes of the physical page at `pa` (4096 bytes), or nil if it is not in the file.
    public func physicalPage(_ pa: PhysicalAddress) -> [UInt8]? {
        guard let offset = pages.offset(of: pa) else { return nil }
        return file.bytes.bytes(at: offset.rawValue, length: PageSize.bytes4K)
    }

    /// The file offset of the physical page holding `pa`, or nil if it is not in the file.
    public func fileOffset(ofPhysical pa: PhysicalAddress) -> FileOffset? {
        pages.offset(of: pa).map { FileOffset($0.rawValue | (pa.rawValue & PageSize.mask4K)) }
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
        let limit = UInt64(MsgbufStructure.maximumRingSize)
        guard section.length <= limit else {
            let ring = file.bytes.bytes(at: section.offset.rawValue, length: limit) ?? []
            return MessageBuffer(ring: ring, structure: nil, missingReason:
                "header msgbufsize \(hex(section.length)) is more than any message buffer; the first \(hex(limit)) bytes are read, without a struct msgbuf")
        }
        let ring = file.bytes.bytes(at: section.offset.rawValue, length: section.length) ?? []
        let padding = roundUpToPage(section.length).map { $0 - section.length } ?? 0
        guard let structLayout = given ?? MsgbufLayout.implied(byPadding: padding) else {
            return MessageBuffer(ring: ring, structure: nil)
        }
        guard padding >= UInt64(structLayout.size),
              let bytes = file.bytes.bytes(at: section.end.rawValue, length: UInt64(structLayout.size)) else {
            return MessageBuffer(ring: ring, structure: nil, missingReason:
                "no room for the \(structLayout) struct msgbuf after the ring (\(padding) bytes of padding)")
        }
        return MessageBuffer(ring: ring, structure: MsgbufStructure(bytes: bytes, layout: structLayout))
    }

    /// The `struct msgbuf` layout the msgbuf section's padding implies (see `MsgbufLayout.implied`),
    /// or nil when the padding has room for neither.
    public var messageBufferLayout: MsgbufLayout? {
        let section = layout.messageBuffer
        return MsgbufLayout.implied(byPadding: roundUpToPage(section.length).map { $0 - section.length } ?? 0)
    }

    // MARK: Page enumeration

    /// Calls `body` for every mapped page of the kernel map, in VA order, until it returns false.
    /// Page-table pages missing from the dump are skipped (`statistics()` counts them).
    public func forEachKernelPage(_ body: (MappedPage) -> Bool) {
        var census = KernelMapCensus()
        architecture.forEachKernelPage(pages: pages, census: &census, body)
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
        var covered: [Range<UInt64>] = []
        forEachKernelPage { page in
            pages.memory.forEachBitRun(from: page.physicalAddress, length: page.size.bytes) { bits in
                if let last = covered.last, last.upperBound == bits.lowerBound {
                    covered[covered.count - 1] = last.lowerBound..<bits.upperBound
                } else {
                    covered.append(bits)
                }
            }
            return true
        }
        covered.sort { $0.lowerBound < $1.lowerBound }
        var next = 0
        let directMapSpan = header.directMapEnd.rawValue - header.directMapBase.rawValue
        pages.index.forEachSetBit { bit in
            guard bit < pages.memory.totalBits else { return false }
            while next < covered.count, covered[next].upperBound <= bit { next += 1 }
            if next < covered.count, covered[next].contains(bit) { return true }
            guard let pa = pages.memory.physicalAddress(ofBit: bit) else { return false }
            guard pa.rawValue < directMapSpan, directMapSpan - pa.rawValue >= PageSize.bytes4K else { return true }
            return body(pa, pages.offset(of: pa))
        }
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
        architecture.forEachKernelPage(pages: pages, census: &census) { _ in true }
        return DumpStatistics(
            bitmapBits: pages.index.bitCount, dumpedPages: dumpedPageCount,
            pagesInFile: pages.pagesInFile,
            physicalBytesCovered: pages.memory.coveredBytes, physicalBytesDumped: dumpedPageCount * PageSize.bytes4K,
            physicalRanges: physicalRanges, kernelMap: census,
            kernelMapBytes: kernelMapRange.map { $0.upperBound - $0.lowerBound + 1 } ?? 0,
            expectedFileSize: layout.expectedFileSize, fileSize: fileSize,
            indexMemoryBytes: indexMemoryBytes, indexBins: pages.index.binCount, findings: findings)
    }
}

// MARK: - Core export (issue 11): the data section as it is in the file, and its physical runs

extension Dump {
    /// The mapped bytes of the whole dump file (read-only).
    public var fileBytes: ByteView { file.bytes }

    /// Where the data pages start in the file, and how many of them are wholly in it (all of them
    /// unless the file is truncated). Data page `k` is at `dataOffset + k * 4096`.
    public var dataPagesInFile: (offset: UInt64, count: UInt64) { (layout.data.offset.rawValue, pages.pagesInFile) }

    /// The data-page number (position in the data section) of the 4 KiB physical page holding
    /// `pa`, or nil if that page is not wholly in the file.
    public func dataPageNumber(ofPhysical pa: PhysicalAddress) -> UInt64? {
        guard let offset = pages.offset(of: pa) else { return nil }
        return (offset.rawValue - layout.data.offset.rawValue) >> 12
    }

    /// Calls `body` with every run of dumped pages wholly in the file that are consecutive both in
    /// physical memory and in the data section, in physical order: the run's first physical address,
    /// its first data-page number and its page count; until `body` returns false. Memory: constant.
    public func forEachDumpedRun(_ body: (PhysicalAddress, UInt64, UInt64) -> Bool) {
        let inFile = pages.pagesInFile
        var number: UInt64 = 0
        var runPA: UInt64 = 0
        var runFirst: UInt64 = 0
        var runCount: UInt64 = 0
        var lastBit: UInt64 = 0
        var stopped = false
        pages.index.forEachSetBit { bit in
            guard number < inFile, bit < pages.memory.totalBits,
                  let pa = pages.memory.physicalAddress(ofBit: bit) else { return false }
            if runCount > 0, bit == lastBit &+ 1, pa.rawValue == runPA &+ runCount &* PageSize.bytes4K {
                runCount += 1
            } else {
                if runCount > 0, !body(PhysicalAddress(runPA), runFirst, runCount) { stopped = true; return false }
                runPA = pa.rawValue
                runFirst = number
                runCount = 1
            }
            lastBit = bit
            number += 1
            return true
        }
        if !stopped, runCount > 0 { _ = body(PhysicalAddress(runPA), runFirst, runCount) }
    }
}

extension Dump {
    /// True if the dump's bytes are a mapping of the file at `path` (not in-memory contents).
    public var isFileMapped: Bool { file.isFileMapped }

    /// Lets the mapped bytes `[offset, offset + length)` of the file leave the resident set (a
    /// streaming reader calls this behind itself); no effect for in-memory contents.
    public func releaseFileBytes(offset: UInt64, length: UInt64) { file.release(offset: offset, length: length) }
}
