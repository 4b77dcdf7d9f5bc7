import MappedBytes

/// Everything the reader knows about i386 minidumps, versions 1 and 2, PAE and non-PAE (spec
/// beyond-amd64-minidump.md §2; FreeBSD `sys/i386/i386/minidump_machdep_base.c`,
/// `lib/libkvm/kvm_minidump_i386.c`): a 52-byte header with a 32-bit kernbase and `paemode`, a
/// flat map of PTEs (one per 4 KiB page from kernbase, 8 bytes with PAE, 4 without; the writer
/// has already expanded superpages into synthetic page-table pages), and no direct map. The core
/// reaches it only through `registeredArchitectures`.

/// i386 minidump backend.
final class I386Minidump: MinidumpArchitecture {
    static let name = "i386"
    static let pointerSize = 4
    /// ILP32: `msg_ptr` 4 bytes, `struct mtx` 20 (a 16-byte `lock_object` and `mtx_lock`): 56
    /// bytes from FreeBSD 9 (with `msg_flags`), 32 in 7 and 8.
    static let msgbufShape = MsgbufShape(pointerSize: 4, currentSize: 56, freebsd7Size: 32)
    static let pageSize = PageSize.bytes4K
    static let addressBits = 32
    static let walkStepNames: [WalkStep.Name] = [
        .init(text: "map-index", key: "map_index", kind: .index),
        .init(text: "pde", key: "pde", kind: .entry),
        .init(text: "pte", key: "pte", kind: .entry),
        .init(text: "pt-page", key: "page_table_page", kind: .address),
    ]
    /// Superpages reach the dump already split into 4 KiB PTEs, so the large count is always 0.
    static let censusPageNames = (large: "kernel_map_large_pages", small: "kernel_map_4k_pages")
    /// Versions this backend reads: 1 (2006) and 2 (2020, dump_avail).
    static let versions: ClosedRange<UInt32> = 1...2

    /// PTE bits (`kvm_i386.h`).
    static let valid: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let noExecute: UInt64 = 1 << 63
    /// Frame masks: PAE and non-PAE.
    static let framePAE: UInt64 = 0x000f_ffff_ffff_f000
    static let frameNoPAE: UInt64 = 0xffff_f000
    /// One past the highest i386 virtual address.
    static let addressSpaceEnd: UInt64 = 1 << 32

    let kernbase: UInt64
    /// True for 8-byte PAE entries (the header's `paemode` is 1).
    let pae: Bool
    /// Bytes per map entry: 8 with PAE, 4 without.
    let mapEntrySize: UInt64
    /// Entries the header says the map has (`ptesize / mapEntrySize`).
    let entryCount: UInt64
    /// The map bytes present in the file.
    let map: ByteView
    /// Where the dumped pages are.
    let pages: ContainerStorage
    /// File offset of the map section.
    let mapOffset: UInt64

    static func parseHeader(_ page: ByteView) throws(DumpError.Problem) -> MinidumpHeader {
        func u32(_ offset: UInt64) -> UInt32 { page.uint32(at: offset) ?? 0 }
        let version = u32(24)
        guard versions.contains(version) else { throw .unsupportedVersion(version, supported: versions) }
        let kernbase = UInt64(u32(40))
        let paemode = u32(44)
        let dumpAvailSize = version >= 2 ? u32(48) : 0
        let header = MinidumpHeader(
            architecture: name, version: version, msgbufSize: u32(28), bitmapSize: u32(32),
            pageTableMapSize: u32(36), kernbase: VirtualAddress(kernbase), directMapBase: VirtualAddress(0),
            directMapEnd: VirtualAddress(0), dumpAvailSize: dumpAvailSize,
            fields: [
                HeaderField("msgbufsize", UInt64(u32(28)), .size), HeaderField("bitmapsize", UInt64(u32(32)), .size),
                HeaderField("ptesize", UInt64(u32(36)), .size), HeaderField("dumpavailsize", UInt64(dumpAvailSize), .size),
                HeaderField("paemode", UInt64(paemode), .size), HeaderField("kernbase", kernbase, .address),
            ])
        guard paemode <= 1 else {
            throw .invalidField(field: "paemode", value: UInt64(paemode),
                                reason: "expected 0 (4-byte PTEs) or 1 (PAE, 8-byte PTEs)")
        }
        let mapSize = UInt64(header.pageTableMapSize)
        guard mapSize > 0 else { throw .invalidField(field: "ptesize", value: 0, reason: "the kernel map is empty") }
        // The writer emits one whole page of PTEs per page-directory entry.
        guard mapSize % 4096 == 0 else { throw .misaligned(field: "ptesize", value: mapSize, alignment: 4096) }
        guard kernbase % 4096 == 0 else { throw .misaligned(field: "kernbase", value: kernbase, alignment: 4096) }
        let entrySize: UInt64 = paemode == 1 ? 8 : 4
        let span = (mapSize / entrySize) << 12  // < 2^42: mapSize < 2^32
        guard span <= addressSpaceEnd - kernbase else {
            throw .invalidField(field: "ptesize", value: mapSize, reason:
                "\(mapSize / entrySize) PTEs of \(entrySize) bytes from kernbase \(hex(kernbase)) map \(hex(span)) bytes, "
                + "past the top of the 32-bit address space (the map may span at most \(hex(addressSpaceEnd - kernbase)))")
        }
        guard header.bitmapSize > 0 else { throw .invalidField(field: "bitmapsize", value: 0, reason: "the bitmap is empty") }
        guard UInt64(header.bitmapSize) % 8 == 0 else {
            throw .misaligned(field: "bitmapsize", value: UInt64(header.bitmapSize), alignment: 8)
        }
        if version >= 2 {
            guard dumpAvailSize > 0 else {
                throw .invalidField(field: "dumpavailsize", value: 0, reason: "version 2 needs a dump_avail section")
            }
            guard dumpAvailSize % 16 == 0 else {
                throw .misaligned(field: "dumpavailsize", value: UInt64(dumpAvailSize), alignment: 16)
            }
        }
        return header
    }

    static func sectionOrder(for header: MinidumpHeader) -> [SectionLayout.Section] {
        header.version >= 2
            ? [.messageBuffer, .dumpAvail, .bitmap, .pageTableMap]
            : [.messageBuffer, .bitmap, .pageTableMap]
    }

    init(header: MinidumpHeader, map: ByteView, mapOffset: FileOffset, pages: ContainerStorage) {
        kernbase = header.kernbase.rawValue
        pae = header.fields.first { $0.name == "paemode" }?.value == 1
        mapEntrySize = pae ? 8 : 4
        entryCount = UInt64(header.pageTableMapSize) / mapEntrySize
        self.map = map
        self.pages = pages
        self.mapOffset = mapOffset.rawValue
    }

    /// Ends below 2^32: `parseHeader` refuses a map that would pass it.
    var kernelMapRange: ClosedRange<UInt64>? {
        entryCount == 0 ? nil : kernbase...(kernbase + (entryCount << 12) - 1)
    }

    var kernelMapEntriesCut: UInt64 { 0 }

    /// i386 has no direct map.
    var directMapRange: ClosedRange<UInt64>? { nil }

    func directMapAddress(of pa: PhysicalAddress) -> VirtualAddress? { nil }

    /// The map entry at `index`, or nil if it lies past the end of a truncated file.
    @inline(__always)
    private func entry(_ index: UInt64) -> UInt64? {
        pae ? map.uint64(at: index * 8) : map.uint32(at: index * 4).map(UInt64.init)
    }

    /// Only the kernel map translates: one PTE per 4 KiB page from kernbase.
    func walk(_ va: VirtualAddress) throws(TranslationError) -> MapWalk? {
        guard va.rawValue >= kernbase else { return nil }
        let index = (va.rawValue - kernbase) >> 12
        guard index < entryCount else { return nil }
        guard let entry = entry(index) else {
            throw TranslationError(virtualAddress: va, reason: .mapEntryPastEndOfFile(
                index: index, offset: FileOffset(mapOffset + index * mapEntrySize)))
        }
        guard entry & Self.valid != 0 else {
            throw TranslationError(virtualAddress: va, reason: .mapEntryInvalid(index: index, entry: entry, kind: "PTE"))
        }
        return MapWalk(physicalAddress: PhysicalAddress(entry & (pae ? Self.framePAE : Self.frameNoPAE)),
                       pageSize: .size4K, map: .kernelMap, path: .init(mapIndex: index, pte: entry))
    }

    func forEachKernelPage(census: inout KernelMapCensus, _ body: (MappedPage) -> Bool) {
        census.entries = entryCount
        for index in 0..<entryCount {
            guard let entry = entry(index) else {
                census.entriesPastEndOfFile = entryCount - index
                return
            }
            guard entry & Self.valid != 0 else { continue }
            census.validEntries += 1
            census.smallPages += 1
            let pa = PhysicalAddress(entry & (pae ? Self.framePAE : Self.frameNoPAE))
            let offset = pages.offset(of: pa)
            let page = MappedPage(virtualAddress: VirtualAddress(kernbase + (index << 12)), physicalAddress: pa,
                                  size: .size4K, writable: entry & Self.writable != 0,
                                  executable: entry & Self.noExecute == 0, fileOffset: offset,
                                  presentPages: offset == nil ? 0 : 1)
            guard body(page) else { return }
        }
    }
}
