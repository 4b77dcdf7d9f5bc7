import MappedBytes

/// What `kvmdump header` shows, read without building the page index: the header, the section
/// layout and the physical ranges, plus the expected file size when the bitmap is small enough to
/// count at once. A hostile header may claim a 4 GiB bitmap; counting it would read 4 GiB.

/// A minidump's header and layout, opened with the same checks as `Dump` but without indexing
/// the bitmap. Immutable.
public struct DumpOutline: Sendable {
    /// The path as given.
    public let path: String
    /// The header fields.
    public let header: MinidumpHeader
    /// The section layout; `layout.data.length` is the page size × the dumped pages when they were counted,
    /// else 0 (see `dumpedPageCount`).
    public let layout: SectionLayout
    /// The physical ranges the bitmap describes (v3: dump_avail; v1/v2: one range from 0).
    public let physicalRanges: [PhysicalRange]
    /// Size of the file in bytes.
    public let fileSize: UInt64
    /// Set bits in the bitmap, or nil when the bitmap is larger than `countLimit` and was not read.
    public let dumpedPageCount: UInt64?

    /// The digits the dump's virtual addresses are shown with: the pointer size of the architecture
    /// table the header names, as `Dump.addressWidth` (16 when no registered architecture has the name).
    public var addressWidth: AddressWidth {
        registeredArchitectures.first { $0.name == header.architecture }.map { AddressWidth(pointerSize: $0.pointerSize) } ?? .bits64
    }

    /// The largest bitmap counted for an outline: 64 MiB, which describes 2 TiB of RAM.
    public static let countLimit: UInt64 = 64 << 20

    /// The size the file should have, when the pages were counted.
    public var expectedFileSize: UInt64? { dumpedPageCount == nil ? nil : layout.expectedFileSize }
    /// True if the file ends before the last data page: known at once when it ends before the data
    /// section, else only when the pages were counted.
    public var isTruncated: Bool? {
        if fileSize < layout.data.offset.rawValue { return true }
        return expectedFileSize.map { fileSize < $0 }
    }

    /// Opens the minidump at `path` and reads its header, sections and physical ranges.
    /// - Throws: `DumpError` as `Dump(path:)` does for everything before the page index.
    public init(path: String) throws(DumpError) {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw DumpError(path: path, problem: DumpError.Problem(error))
        }
        try self.init(file: file)
    }

    /// An outline of a dump held in memory; `name` stands for the path.
    public init(contents: [UInt8], name: String) throws(DumpError) {
        try self.init(file: MappedFile(name: name, contents: contents))
    }

    /// An outline of the first bytes of a dump (`prefix`: a compressed dump's decoded prefix, through
    /// at least its bitmap) called `name`, whose whole size is `fileSize`, or, if nil, the size the
    /// header and bitmap imply (the prefix's own size when the pages are not counted).
    public init(prefix: [UInt8], name: String, fileSize: UInt64?) throws(DumpError) {
        try self.init(file: MappedFile(name: name, contents: prefix), assumedSize: fileSize, impliedSize: fileSize == nil)
    }

    private init(file: MappedFile, assumedSize: UInt64? = nil, impliedSize: Bool = false) throws(DumpError) {
        path = file.path
        do throws(DumpError.Problem) {
            let outline = try format(of: file).outline(file, countLimit: Self.countLimit)
            header = outline.header
            physicalRanges = outline.physicalRanges
            dumpedPageCount = outline.dumpedPageCount
            layout = outline.layout
            fileSize = impliedSize && outline.dumpedPageCount != nil ? outline.layout.expectedFileSize
                : assumedSize ?? file.size
        } catch {
            throw DumpError(path: file.path, problem: error)
        }
    }
}
