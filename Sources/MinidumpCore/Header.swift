/// The minidump header, as every architecture's backend normalises it, and the section layout
/// computed from it.

/// The fields of a minidump header page, decoded and validated by the architecture's backend.
public struct MinidumpHeader: Sendable, Equatable {
    /// Architecture named by the magic, e.g. "amd64".
    public let architecture: String
    /// Format version (amd64: 1, 2 or 3).
    public let version: UInt32
    /// Bytes of message-buffer ring (`msg_size`).
    public let msgbufSize: UInt32
    /// Bytes of page bitmap.
    public let bitmapSize: UInt32
    /// Bytes of the page-table map (`ptesize` in v1, `pmapsize` from v2).
    public let pageTableMapSize: UInt32
    /// Virtual address described by page-table map entry 0.
    public let kernbase: VirtualAddress
    /// First virtual address of the direct map.
    public let directMapBase: VirtualAddress
    /// End (exclusive) of the direct map.
    public let directMapEnd: VirtualAddress
    /// Bytes of the dump_avail section (0 before amd64 v3).
    public let dumpAvailSize: UInt32
    /// Bytes of the page the dump is written in: the header page, section rounding, data pages and
    /// bitmap bits all use it (4096 on amd64; 4096 or 16384 on arm64, from its flags).
    public let pageSize: UInt64
    /// Every field after the version, in the order and with the names the architecture's header
    /// has them (sizes first, then addresses): what `header` and `info` print.
    public let fields: [HeaderField]

    /// Creates a header from decoded fields; the architecture's `parseHeader` is the usual way.
    public init(architecture: String, version: UInt32, msgbufSize: UInt32, bitmapSize: UInt32,
                pageTableMapSize: UInt32, kernbase: VirtualAddress, directMapBase: VirtualAddress,
                directMapEnd: VirtualAddress, dumpAvailSize: UInt32, pageSize: UInt64 = 4096,
                fields: [HeaderField] = []) {
        self.fields = fields
        self.pageSize = pageSize
        self.architecture = architecture
        self.version = version
        self.msgbufSize = msgbufSize
        self.bitmapSize = bitmapSize
        self.pageTableMapSize = pageTableMapSize
        self.kernbase = kernbase
        self.directMapBase = directMapBase
        self.directMapEnd = directMapEnd
        self.dumpAvailSize = dumpAvailSize
    }
}

/// One header field as the architecture names it.
public struct HeaderField: Sendable, Equatable {
    /// A byte count, a virtual address, or a physical address (arm64's `dmapphys`).
    public enum Kind: Sendable, Equatable { case size, address, physicalAddress }
    /// The name in the kernel's header struct, e.g. "pmapsize" or "kernbase".
    public let name: String
    /// The value, widened to 64 bits.
    public let value: UInt64
    /// How it is printed.
    public let kind: Kind

    /// A field.
    public init(_ name: String, _ value: UInt64, _ kind: Kind) {
        self.name = name
        self.value = value
        self.kind = kind
    }
}

/// Where each section of a minidump lies in the file. Every section starts on a page boundary
/// and is padded to a whole number of pages (the header's `pageSize`); `FileRange.length` is the
/// unpadded size from the header.
public struct SectionLayout: Sendable, Equatable {
    /// The header page.
    public let header: FileRange
    /// The message-buffer ring.
    public let messageBuffer: FileRange
    /// The dump_avail ranges (empty before v3).
    public let dumpAvail: FileRange
    /// The page bitmap.
    public let bitmap: FileRange
    /// The page-table map (PTEs in v1, PDEs from v2).
    public let pageTableMap: FileRange
    /// Start of the data pages; `length` is `pageSize` × pages in the bitmap.
    public let data: FileRange
    /// Bytes of the dump's page (the header page, section padding, one data page).
    public let pageSize: UInt64
    /// The sections between the header page and the data, in file order.
    let order: [Section]
    /// What a format lists in place of "data" (an ELF full dump: one entry per PT_LOAD segment).
    var segments: [ListedSection] = []
    /// True for a format whose data are segments (an ELF full dump), not pages after metadata sections.
    public var hasSegments: Bool { !segments.isEmpty }

    /// A section as `header` lists it.
    public struct ListedSection: Sendable, Equatable {
        public let name: String
        public let range: FileRange
    }

    /// Every section in file order, named as `header` lists them: header, the format's sections
    /// (e.g. msgbuf, dump_avail, bitmap, pmap), data.
    public var listing: [(name: String, range: FileRange)] {
        [("header", header)] + order.map { ($0.listingName, range(of: $0)) }
            + (segments.isEmpty ? [("data", data)] : segments.map { ($0.name, $0.range) })
    }

    /// The range of `section`.
    func range(of section: Section) -> FileRange {
        switch section {
        case .messageBuffer: messageBuffer
        case .dumpAvail: dumpAvail
        case .bitmap: bitmap
        case .pageTableMap: pageTableMap
        }
    }

    /// Bytes read from the start of the file to decode a header: the smallest page any
    /// architecture writes its header page in (the header page itself is `pageSize` bytes).
    public static let headerPageSize: UInt64 = 4096

    /// Size the file should have: end of the data pages.
    public var expectedFileSize: UInt64 { data.end.rawValue }

    /// Computes the layout for `header` in the section order `order`, with overflow-checked
    /// 64-bit arithmetic; `dataPages` is the number of set bits in the bitmap.
    /// - Throws: `.sectionOffsetOverflow` naming the first section whose end does not fit in 64 bits.
    static func compute(header: MinidumpHeader, order: [Section], dataPages: UInt64 = 0)
        throws(DumpError.Problem) -> SectionLayout {
        let pageSize = header.pageSize
        var cursor = pageSize
        var ranges: [Section: FileRange] = [:]
        for section in order {
            let length = section.length(in: header)
            guard let padded = roundUpToPage(length, pageSize),
                  case (let next, false) = cursor.addingReportingOverflow(padded)
            else { throw .sectionOffsetOverflow(section: section.rawValue) }
            ranges[section] = FileRange(offset: FileOffset(cursor), length: length)
            cursor = next
        }
        guard case (let dataLength, false) = dataPages.multipliedReportingOverflow(by: pageSize),
              case (_, false) = cursor.addingReportingOverflow(dataLength)
        else { throw .sectionOffsetOverflow(section: "data") }
        let empty = FileRange(offset: FileOffset(cursor), length: 0)
        return SectionLayout(
            header: FileRange(offset: FileOffset(0), length: pageSize),
            messageBuffer: ranges[.messageBuffer] ?? empty,
            dumpAvail: ranges[.dumpAvail] ?? FileRange(offset: (ranges[.messageBuffer] ?? empty).end, length: 0),
            bitmap: ranges[.bitmap] ?? empty,
            pageTableMap: ranges[.pageTableMap] ?? empty,
            data: FileRange(offset: FileOffset(cursor), length: dataLength), pageSize: pageSize, order: order)
    }

    /// Returns the same layout with the data section sized for `pages` dumped pages.
    func withDataPages(_ pages: UInt64) throws(DumpError.Problem) -> SectionLayout {
        guard case (let length, false) = pages.multipliedReportingOverflow(by: pageSize),
              case (_, false) = data.offset.rawValue.addingReportingOverflow(length)
        else { throw .sectionOffsetOverflow(section: "data") }
        return SectionLayout(header: header, messageBuffer: messageBuffer, dumpAvail: dumpAvail, bitmap: bitmap,
                             pageTableMap: pageTableMap, data: FileRange(offset: data.offset, length: length),
                             pageSize: pageSize, order: order)
    }

    /// The sections that follow the header page, named as in error messages.
    enum Section: String, Sendable {
        case messageBuffer = "msgbuf"
        case dumpAvail = "dump_avail"
        case bitmap = "bitmap"
        case pageTableMap = "page-table map"

        /// The name `header` lists it under.
        var listingName: String {
            switch self {
            case .messageBuffer: "msgbuf"
            case .dumpAvail: "dump_avail"
            case .bitmap: "bitmap"
            case .pageTableMap: "pmap"
            }
        }

        func length(in header: MinidumpHeader) -> UInt64 {
            switch self {
            case .messageBuffer: UInt64(header.msgbufSize)
            case .dumpAvail: UInt64(header.dumpAvailSize)
            case .bitmap: UInt64(header.bitmapSize)
            case .pageTableMap: UInt64(header.pageTableMapSize)
            }
        }
    }
}
