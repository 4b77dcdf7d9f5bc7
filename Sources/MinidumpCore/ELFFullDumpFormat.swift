import MappedBytes

/// The amd64 full (ELF) dump, `debug.minidump=0` (spec beyond-amd64-minidump.md §4.1): an ELF64
/// LSB ET_CORE for EM_X86_64 with OSABI 255 (ELFOSABI_STANDALONE) and `e_version` 0, one PT_LOAD
/// per physical range (`p_paddr` = the range's PA) and no sections or notes. Its container is the
/// PT_LOAD table (`SegmentContainer`); its translator walks the kernel's own page tables
/// (`AMD64FullDump`), which need the kernel image's symbols to be found (`locateTables`).
enum ELFFullDumpFormat: DumpFormat {
    /// What every translation says before the kernel page tables are found.
    static let needsKernelImage = "an ELF full dump has no kernel map of its own: its page tables are found through the kernel image's kernbase and KPML4phys symbols (give the kernel with -N); physical reads (read --physical) need no kernel"

    /// An ELF file whose OSABI byte is ELFOSABI_STANDALONE: the kernel's dump, or a damaged one
    /// (which `open` then refuses naming the field).
    static func probe(_ head: ByteView) -> Bool {
        guard let ident = head.bytes(at: 0, length: 8) else { return false }
        return ident[0..<4].elementsEqual([0x7f, 0x45, 0x4c, 0x46]) && ident[7] == 255
    }

    /// The program headers, checked.
    private static func segments(_ file: MappedFile) throws(DumpError.Problem) -> FullDumpSegments {
        // Bytes decoded on demand (a gzip checkpoint view) reach the bitmap container only: refused,
        // never read as zeros (DumpFiles reads a compressed full dump through a decompressed copy).
        guard file.supplier == nil else {
            throw .unsupportedFormat("an ELF full dump whose bytes are decoded on demand: read it through a decompressed copy (DumpFiles does)")
        }
        do throws(FullDumpError) {
            return try FullDumpSegments(file.bytes)
        } catch {
            throw .fullDump(error)
        }
    }

    /// The ELF header as `header` prints it: the fields the kernel sets, and the PT_DUMP_DELTA pair.
    private static func header(_ file: MappedFile, _ s: FullDumpSegments) -> MinidumpHeader {
        let bytes = file.bytes
        var fields = [
            HeaderField("osabi", UInt64(s.osabi), .size),
            HeaderField("e_phoff", bytes.uint64(at: 32) ?? 0, .size),
            HeaderField("e_phnum", UInt64(bytes.uint16(at: 56) ?? 0), .size),
            HeaderField("pt_loads", UInt64(s.segments.count), .size),
        ]
        if let delta = s.dumpDelta {
            fields.append(HeaderField("dump_delta_vaddr", delta.virtualAddress, .address))
            fields.append(HeaderField("dump_delta_paddr", delta.physicalAddress, .address))
        }
        return MinidumpHeader(
            architecture: AMD64FullDump.name, version: s.elfVersion, msgbufSize: 0, bitmapSize: 0, pageTableMapSize: 0,
            kernbase: VirtualAddress(AMD64FullDump.kernelMapStart), directMapBase: VirtualAddress(AMD64FullDump.directMapStart),
            directMapEnd: VirtualAddress(AMD64FullDump.directMapEnd), dumpAvailSize: 0, fields: fields)
    }

    /// The ELF and program headers as "header", then one section per PT_LOAD, in file order.
    private static func layout(_ file: MappedFile, _ s: FullDumpSegments) -> SectionLayout {
        let phoff = file.bytes.uint64(at: 32) ?? 0
        let phnum = UInt64(file.bytes.uint16(at: 56) ?? 0)
        let headersEnd = phoff + phnum * 56  // checked inside the file by FullDumpSegments
        let byOffset = s.segments.sorted { $0.fileOffset < $1.fileOffset }
        let dataStart = byOffset.first?.fileOffset ?? headersEnd
        let dataEnd = byOffset.map { $0.fileOffset + $0.fileSize }.max() ?? dataStart
        let empty = FileRange(offset: FileOffset(dataStart), length: 0)
        var layout = SectionLayout(
            header: FileRange(offset: FileOffset(0), length: headersEnd), messageBuffer: empty, dumpAvail: empty,
            bitmap: empty, pageTableMap: empty,
            data: FileRange(offset: FileOffset(dataStart), length: dataEnd - dataStart), pageSize: PageSize.bytes4K, order: [])
        layout.segments = byOffset.map { segment in
            SectionLayout.ListedSection(
                name: "PT_LOAD[\(segment.index)] PA \(hex(segment.physicalStart))-\(hex(segment.physicalEnd))",
                range: FileRange(offset: FileOffset(segment.fileOffset), length: segment.fileSize))
        }
        return layout
    }

    static func outline(_ file: MappedFile, countLimit: UInt64) throws(DumpError.Problem) -> FormatOutline {
        let s = try segments(file)
        let container = SegmentContainer(segments: s, bytes: file.bytes)
        return FormatOutline(header: header(file, s), layout: layout(file, s), physicalRanges: container.physicalRanges,
                             dumpedPageCount: container.dumpedPageCount)
    }

    static func open(_ file: MappedFile) throws(DumpError.Problem) -> OpenedDump {
        let s = try segments(file)
        let container = SegmentContainer(segments: s, bytes: file.bytes)
        let layout = layout(file, s)
        var findings: [IntegrityFinding] = []
        if file.size > layout.expectedFileSize {
            findings.append(.trailingBytes(expectedSize: layout.expectedFileSize, fileSize: file.size))
        }
        let architecture = AMD64FullDump(pages: .segments(container), tables: nil, reason: needsKernelImage)
        return OpenedDump(header: header(file, s), layout: layout, container: .segments(container),
                          architecture: architecture, findings: findings)
    }

    /// The translator over the kernel page tables `findKernelTables` finds in `container` from the
    /// kernel image's `kernbase` value and `KPML4phys` address.
    /// - Throws: `.fullDump` naming KPML4phys and its address, with every rule's reason.
    static func locateTables(in container: SegmentContainer, kernbase: UInt64, kpml4physAddress: UInt64)
        throws(DumpError.Problem) -> AMD64FullDump {
        do throws(KernelTablesError) {
            let tables = try findKernelTables(segments: container.segments, bytes: container.bytes, kernbase: kernbase,
                                              kpml4physAddress: kpml4physAddress)
            return AMD64FullDump(pages: .segments(container), tables: tables, reason: nil)
        } catch {
            throw .fullDump(FullDumpError(field: "KPML4phys", value: kpml4physAddress, why: error.description))
        }
    }
}
