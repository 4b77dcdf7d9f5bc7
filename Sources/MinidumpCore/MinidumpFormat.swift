import MappedBytes

/// The FreeBSD minidump (spec §2): a header page whose magic names the architecture, then the
/// sections the architecture lists (msgbuf, dump_avail, bitmap, page-table map), each padded to a
/// page, then the dumped pages in bitmap order. Every unit is the page size the architecture reads
/// from the header (`MinidumpHeader.pageSize`: 4 KiB, or 16 KiB on arm64 v3). The header's decoding, the section order and the
/// page-table map belong to the architecture (`MinidumpArchitecture`); this file holds what every
/// architecture's minidump shares.
enum MinidumpFormat: DumpFormat {
    /// The length of the magic field at the start of the header page.
    static let magicLength = 24
    /// What every minidump magic starts with.
    static let magicPrefix = "minidump FreeBSD/"

    static func probe(_ head: ByteView) -> Bool {
        (head.bytes(at: 0, length: UInt64(magicPrefix.utf8.count)) ?? []).elementsEqual(magicPrefix.utf8)
    }

    /// The magic field up to its first NUL, with bytes that are not printable ASCII shown as '?'.
    static func printableMagic(_ page: ByteView) -> String {
        let text = (page.bytes(at: 0, length: UInt64(magicLength)) ?? []).prefix { $0 != 0 }
        return String(decoding: text.map { $0 >= 0x20 && $0 < 0x7f ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }

    /// The registered architecture the magic names.
    private static func architecture(for page: ByteView) throws(DumpError.Problem) -> any MinidumpArchitecture.Type {
        let text = (page.bytes(at: 0, length: UInt64(magicLength)) ?? []).prefix { $0 != 0 }
        let printable = printableMagic(page)
        guard printable.hasPrefix(magicPrefix), text.count < magicLength else { throw .badMagic(found: printable) }
        let name = String(printable.dropFirst(magicPrefix.count))
        guard let backend = registeredArchitectures.first(where: { $0.name == name }) else {
            throw .unsupportedArchitecture(name)
        }
        return backend
    }

    /// What opening finds before the bitmap is read.
    private struct Opening {
        let backend: any MinidumpArchitecture.Type
        let header: MinidumpHeader
        let layout: SectionLayout
        let memory: PhysicalMemory
        let bitmap: ByteView
    }

    /// Validates the header and every section the reader needs in full, without touching the bitmap's contents.
    private static func begin(_ file: MappedFile) throws(DumpError.Problem) -> Opening {
        let bytes = file.bytes
        guard file.size >= SectionLayout.headerPageSize,
              let page = bytes.slice(offset: 0, length: SectionLayout.headerPageSize)
        else { throw .fileTooSmall(size: file.size) }
        let backend = try architecture(for: page)
        let header = try backend.parseHeader(page)
        let pageSize = header.pageSize
        precondition(pageSize >= SectionLayout.headerPageSize && pageSize & (pageSize - 1) == 0,
                     "an architecture's parseHeader returned page size \(pageSize)")
        let layout = try SectionLayout.compute(header: header, order: backend.sectionOrder(for: header))
        /// The sections needed in full, in file order: the first one cut off is the one reported.
        func whole(_ range: FileRange, _ name: String) throws(DumpError.Problem) -> ByteView {
            guard let view = bytes.slice(offset: range.offset.rawValue, length: range.length) else {
                throw .sectionPastEndOfFile(section: name, end: range.end.rawValue, fileSize: file.size)
            }
            return view
        }
        // The sections before the data pages, filled first when the bytes come on demand.
        if let supplier = file.supplier, layout.data.offset.rawValue > 0 {
            supplier.supply(offset: 0, length: min(layout.data.offset.rawValue, file.size))
        }
        _ = try whole(layout.messageBuffer, "msgbuf")
        let dumpAvailView = try whole(layout.dumpAvail, "dump_avail")
        let bitmapView = try whole(layout.bitmap, "bitmap")
        let bitmapBits = layout.bitmap.length * 8
        let memory: PhysicalMemory
        let shift = UInt64(pageSize.trailingZeroBitCount)
        if layout.dumpAvail.length > 0 {
            memory = try PhysicalMemory(dumpAvail: dumpAvailView, bitmapBits: bitmapBits, pageShift: shift)
        } else {
            memory = PhysicalMemory(impliedBy: bitmapBits, pageShift: shift)
        }
        try backend.validate(header: header, memory: memory.ranges)
        return Opening(backend: backend, header: header, layout: layout, memory: memory, bitmap: bitmapView)
    }

    static func outline(_ file: MappedFile, countLimit: UInt64) throws(DumpError.Problem) -> FormatOutline {
        let opening = try begin(file)
        guard opening.layout.bitmap.length <= countLimit else {
            return FormatOutline(header: opening.header, layout: opening.layout,
                                 physicalRanges: opening.memory.ranges, dumpedPageCount: nil)
        }
        let count = UInt64(opening.bitmap.popcount(words: 0..<opening.bitmap.count / 8))
        return FormatOutline(header: opening.header, layout: try opening.layout.withDataPages(count),
                             physicalRanges: opening.memory.ranges, dumpedPageCount: count)
    }

    /// Opens without counting the bitmap: the popcount bins are built as lookups need them, and
    /// the data section's size and the findings that need it are computed on first use.
    static func open(_ file: MappedFile) throws(DumpError.Problem) -> OpenedDump {
        let bytes = file.bytes
        let opening = try begin(file)
        let header = opening.header
        let index = PageIndex(bitmap: opening.bitmap, file: file, offset: opening.layout.bitmap.offset.rawValue)
        let uncounted = opening.layout
        let dataOffset = uncounted.data.offset
        let mapStart = uncounted.pageTableMap.offset.rawValue
        let mapPresent = mapStart >= file.size ? 0 : min(uncounted.pageTableMap.length, file.size - mapStart)
        let map = bytes.slice(offset: mapStart, length: mapPresent) ?? .empty
        let container = BitmapContainer(memory: opening.memory, index: index, dataOffset: dataOffset.rawValue,
                                        fileSize: file.size, bytes: bytes, supplier: file.supplier)
        let architecture = opening.backend.init(header: header, map: map, mapOffset: uncounted.pageTableMap.offset,
                                                pages: .bitmap(container))
        let fileSize = file.size
        let kernelMap = architecture.kernelMapRange, directMap = architecture.directMapRange
        let entriesCut = architecture.kernelMapEntriesCut, entrySize = architecture.mapEntrySize
        let counted = CountedParts {
            // Cannot fail: at most 2^35 pages of 4 KiB after a data offset below 2^33.
            let layout = (try? uncounted.withDataPages(index.population)) ?? uncounted
            var found = findings(layout: layout, fileSize: fileSize, pages: container, mapPresent: mapPresent,
                                 mapEntrySize: entrySize, kernelMap: kernelMap, directMap: directMap)
            if entriesCut > 0 {
                found.append(.kernelMapPastTopOfAddressSpace(kernbase: header.kernbase.rawValue,
                                                             entries: layout.pageTableMap.length / entrySize,
                                                             entriesCut: entriesCut))
            }
            return (layout, found)
        }
        return OpenedDump(header: header, layout: uncounted, container: .bitmap(container), architecture: architecture,
                          findings: [], counted: counted)
    }

    private static func findings(layout: SectionLayout, fileSize: UInt64, pages: BitmapContainer, mapPresent: UInt64,
                                 mapEntrySize: UInt64,
                                 kernelMap: ClosedRange<UInt64>?, directMap: ClosedRange<UInt64>?) -> [IntegrityFinding] {
        var findings: [IntegrityFinding] = []
        let expected = layout.expectedFileSize
        if fileSize < expected {
            findings.append(.truncated(expectedSize: expected, fileSize: fileSize,
                                       missingPages: pages.dumpedPageCount - pages.pagesInFile))
        } else if fileSize > expected {
            findings.append(.trailingBytes(expectedSize: expected, fileSize: fileSize))
        }
        if mapPresent < layout.pageTableMap.length {
            findings.append(.pageTableMapTruncated(entriesPresent: mapPresent / mapEntrySize,
                                                   entries: layout.pageTableMap.length / mapEntrySize))
        }
        let beyond = pages.bitsBeyondRanges
        if beyond.count > 0 { findings.append(.bitsBeyondRanges(count: beyond.count, firstBit: beyond.first)) }
        if layout.messageBuffer.length > UInt64(MsgbufStructure.maximumRingSize) {
            findings.append(.messageBufferOverstated(msgbufSize: layout.messageBuffer.length,
                                                     bytesRead: UInt64(MsgbufStructure.maximumRingSize)))
        }
        if let kernelMap, let directMap, kernelMap.overlaps(directMap) {
            findings.append(.kernelMapOverlapsDirectMap(kernelMap: kernelMap, directMap: directMap))
        }
        return findings
    }
}
