import MappedBytes

/// Everything the reader knows about riscv (RV64, Sv39 and Sv48): the minidump, versions 1 and 2
/// (spec beyond-amd64-minidump.md §3; FreeBSD `sys/riscv/include/minidump.h`,
/// `sys/riscv/riscv/minidump_machdep.c`, `lib/libkvm/kvm_minidump_riscv.c`): header fields and their
/// checks, section order, the flat L3 page-table map, the direct map with its physical base, and
/// the names the tool prints. Pages are always 4 KiB. The core reaches it only through
/// `registeredArchitectures`.

/// riscv minidump backend.
final class RISCVMinidump: MinidumpArchitecture {
    static let name = "riscv"
    static let pointerSize = 8
    /// LP64, like amd64: `msg_ptr` 8 bytes; 72 bytes from FreeBSD 9, 40 before.
    static let msgbufShape = MsgbufShape.lp64
    /// The map holds only L3 leaves: no PDE and no page-table page is ever used ('-').
    static let walkStepNames: [WalkStep.Name] = [
        .init(text: "map-index", key: "map_index", kind: .index),
        .init(text: "pde", key: "pde", kind: .entry),
        .init(text: "pte", key: "pte", kind: .entry),
        .init(text: "pt-page", key: "page_table_page", kind: .address),
    ]
    /// Superpages are written as 512 synthetic L3 entries, so the large-page count is always 0.
    static let censusPageNames = (large: "kernel_map_2m_pages", small: "kernel_map_4k_pages")
    /// Versions this backend reads: 1 (2019) and 2 (2020, adds dump_avail).
    static let versions: ClosedRange<UInt32> = 1...2

    /// PTE bits (`sys/riscv/include/pte.h`).
    static let valid: UInt64 = 1 << 0
    static let readable: UInt64 = 1 << 1
    static let writable: UInt64 = 1 << 2
    static let executable: UInt64 = 1 << 3
    static let readWriteExecute: UInt64 = readable | writable | executable
    /// Bits 63–54 are reserved (Svpbmt/Svnapot use some of them); masked before the PPN is taken.
    static let reservedHighBits: UInt64 = 0xffc0_0000_0000_0000
    /// The PPN starts at bit 10 (`PTE_PPN0_S`).
    static let ppnShift: UInt64 = 10

    /// Header field offsets (the same in both versions; `dumpavailsize` from version 2).
    private enum Offset {
        static let msgbufSize: UInt64 = 28, bitmapSize: UInt64 = 32, pmapSize: UInt64 = 36
        static let kernbase: UInt64 = 40, dmapPhys: UInt64 = 48, dmapBase: UInt64 = 56, dmapEnd: UInt64 = 64
        static let dumpAvailSize: UInt64 = 72
    }

    let kernbase: UInt64
    let directMapBase: UInt64
    /// The last VA of the direct map whose physical address fits in 64 bits (normally dmapend - 1).
    let directMapLast: UInt64
    /// Physical address shown at dmapbase (`dmapphys`).
    let directMapPhysicalBase: UInt64
    /// Entries the header says the map has (pmapsize / 8).
    let entryCount: UInt64
    /// The entries that describe addresses below 2^64.
    let usableEntryCount: UInt64
    /// The map bytes present in the file.
    let map: ByteView
    /// File offset of the map section.
    let mapOffset: UInt64
    /// Where the dumped pages are.
    let pages: ContainerStorage

    /// The physical address an L3 entry maps: reserved bits cleared, PPN shifted to a page address.
    @inline(__always)
    static func physicalAddress(of entry: UInt64) -> UInt64 { ((entry & ~reservedHighBits) >> ppnShift) << 12 }

    /// A leaf the reader uses: V set and at least one of R, W, X (else it points at a table).
    @inline(__always)
    static func isLeaf(_ entry: UInt64) -> Bool { entry & valid != 0 && entry & readWriteExecute != 0 }

    /// The value of the architecture's own header field `name` (`dmapphys`), 0 if absent.
    private static func field(_ name: String, of header: MinidumpHeader) -> UInt64 {
        header.fields.first { $0.name == name }?.value ?? 0
    }

    static func parseHeader(_ page: ByteView) throws(DumpError.Problem) -> MinidumpHeader {
        func u32(_ offset: UInt64) -> UInt32 { page.uint32(at: offset) ?? 0 }
        func u64(_ offset: UInt64) -> UInt64 { page.uint64(at: offset) ?? 0 }
        let version = u32(24)
        guard versions.contains(version) else { throw .unsupportedVersion(version, supported: versions) }
        let dumpAvailSize = version >= 2 ? u32(Offset.dumpAvailSize) : 0
        var fields = [
            HeaderField("msgbufsize", UInt64(u32(Offset.msgbufSize)), .size),
            HeaderField("bitmapsize", UInt64(u32(Offset.bitmapSize)), .size),
            HeaderField("pmapsize", UInt64(u32(Offset.pmapSize)), .size),
        ]
        if version >= 2 { fields.append(HeaderField("dumpavailsize", UInt64(dumpAvailSize), .size)) }
        fields += [
            HeaderField("kernbase", u64(Offset.kernbase), .address), HeaderField("dmapphys", u64(Offset.dmapPhys), .physicalAddress),
            HeaderField("dmapbase", u64(Offset.dmapBase), .address), HeaderField("dmapend", u64(Offset.dmapEnd), .address),
        ]
        let header = MinidumpHeader(
            architecture: name, version: version, msgbufSize: u32(Offset.msgbufSize), bitmapSize: u32(Offset.bitmapSize),
            pageTableMapSize: u32(Offset.pmapSize), kernbase: VirtualAddress(u64(Offset.kernbase)),
            directMapBase: VirtualAddress(u64(Offset.dmapBase)), directMapEnd: VirtualAddress(u64(Offset.dmapEnd)),
            dumpAvailSize: dumpAvailSize, pageSize: 4096, fields: fields)
        let mapSize = UInt64(header.pageTableMapSize)
        guard mapSize > 0 else { throw .invalidField(field: "pmapsize", value: 0, reason: "the kernel map is empty") }
        // The writer puts one page of L3 entries in the map for every 2 MiB of kernel VA.
        guard mapSize % 4096 == 0 else { throw .misaligned(field: "pmapsize", value: mapSize, alignment: 4096) }
        guard header.bitmapSize > 0 else { throw .invalidField(field: "bitmapsize", value: 0, reason: "the bitmap is empty") }
        let bitmapAlignment: UInt64 = version >= 2 ? 4096 : 8
        guard UInt64(header.bitmapSize) % bitmapAlignment == 0 else {
            throw .misaligned(field: "bitmapsize", value: UInt64(header.bitmapSize), alignment: bitmapAlignment)
        }
        if version >= 2 {
            guard dumpAvailSize > 0 else {
                throw .invalidField(field: "dumpavailsize", value: 0, reason: "version 2 needs a dump_avail section")
            }
            guard dumpAvailSize % 16 == 0 else {
                throw .misaligned(field: "dumpavailsize", value: UInt64(dumpAvailSize), alignment: 16)
            }
        }
        // Map entry 0 is VM_MIN_KERNEL_ADDRESS, and the writer steps through the map by 2 MiB.
        guard header.kernbase.rawValue % 0x20_0000 == 0 else {
            throw .misaligned(field: "kernbase", value: header.kernbase.rawValue, alignment: 0x20_0000)
        }
        let dmapPhys = u64(Offset.dmapPhys)
        guard dmapPhys % 0x1000 == 0 else { throw .misaligned(field: "dmapphys", value: dmapPhys, alignment: 0x1000) }
        guard header.directMapBase.rawValue % 0x1000 == 0 else {
            throw .misaligned(field: "dmapbase", value: header.directMapBase.rawValue, alignment: 0x1000)
        }
        guard header.directMapBase < header.directMapEnd else {
            throw .invalidField(field: "dmapend", value: header.directMapEnd.rawValue,
                                reason: "not above dmapbase (\(header.directMapBase))")
        }
        return header
    }

    /// `dmapphys` is the lowest physical address of the direct map (`dmap_phys_base`, RAM's start
    /// rounded down): above the end of the memory the dump describes, no direct-map address could
    /// be read.
    static func validate(header: MinidumpHeader, memory: [PhysicalRange]) throws(DumpError.Problem) {
        let dmapPhys = field("dmapphys", of: header)
        let end = memory.last?.end.rawValue ?? 0
        guard dmapPhys < end else {
            throw .invalidField(field: "dmapphys", value: dmapPhys,
                                reason: "at or beyond the end of the physical memory the dump describes (\(hex(end)))")
        }
    }

    /// Header page, msgbuf, dump_avail (v2), bitmap, L3 map (`kvm_minidump_riscv.c`).
    static func sectionOrder(for header: MinidumpHeader) -> [SectionLayout.Section] {
        header.version >= 2
            ? [.messageBuffer, .dumpAvail, .bitmap, .pageTableMap]
            : [.messageBuffer, .bitmap, .pageTableMap]
    }

    init(header: MinidumpHeader, map: ByteView, mapOffset: FileOffset, pages: ContainerStorage) {
        self.pages = pages
        self.map = map
        self.mapOffset = mapOffset.rawValue
        kernbase = header.kernbase.rawValue
        directMapBase = header.directMapBase.rawValue
        directMapPhysicalBase = Self.field("dmapphys", of: header)
        // PA = va - dmapbase + dmapphys must fit in 64 bits.
        let reachable = UInt64.max - directMapPhysicalBase
        let (last, overflow) = directMapBase.addingReportingOverflow(reachable)
        directMapLast = overflow ? header.directMapEnd.rawValue - 1 : min(header.directMapEnd.rawValue - 1, last)
        entryCount = UInt64(header.pageTableMapSize) / 8
        // kernbase is 2 MiB aligned, so 2^64 - kernbase is a whole number of 4 KiB entries.
        usableEntryCount = kernbase == 0 ? entryCount : min(entryCount, (0 &- kernbase) >> 12)
    }

    var kernelMapRange: ClosedRange<UInt64>? {
        guard usableEntryCount > 0 else { return nil }
        return kernbase...(kernbase &+ (usableEntryCount << 12) &- 1)  // ≤ 2^64 - 1 by usableEntryCount
    }

    var kernelMapEntriesCut: UInt64 { entryCount - usableEntryCount }

    var directMapRange: ClosedRange<UInt64>? { directMapBase...directMapLast }

    /// `va = dmapbase + pa - dmapphys`, for the pages from dmapphys that the direct map reaches.
    func directMapAddress(of pa: PhysicalAddress) -> VirtualAddress? {
        guard pa.rawValue >= directMapPhysicalBase else { return nil }
        let offset = pa.rawValue - directMapPhysicalBase
        let span = directMapLast - directMapBase  // bytes after dmapbase, less one
        guard offset <= span, span - offset >= PageSize.mask4K else { return nil }
        return VirtualAddress(directMapBase + offset)
    }

    /// The direct map is checked first, as libkvm does: on riscv it lies above kernbase.
    func walk(_ va: VirtualAddress) throws(TranslationError) -> MapWalk? {
        let address = va.rawValue
        if address >= directMapBase, address <= directMapLast {
            let pa = directMapPhysicalBase + ((address - directMapBase) & ~PageSize.mask4K)
            return MapWalk(physicalAddress: PhysicalAddress(pa), pageSize: .size4K, map: .directMap)
        }
        guard address >= kernbase else { return nil }
        let index = (address - kernbase) >> 12
        guard index < usableEntryCount else { return nil }
        guard let entry = map.word(Int(truncatingIfNeeded: index)) else {
            throw TranslationError(virtualAddress: va, reason: .mapEntryPastEndOfFile(
                index: index, offset: FileOffset(mapOffset + index * 8)))
        }
        guard Self.isLeaf(entry) else {
            let kind = entry & Self.valid == 0 ? "PTE" : "non-leaf PTE (V set, R, W and X clear)"
            throw TranslationError(virtualAddress: va, reason: .mapEntryInvalid(index: index, entry: entry, kind: kind))
        }
        return MapWalk(physicalAddress: PhysicalAddress(Self.physicalAddress(of: entry)), pageSize: .size4K,
                       map: .kernelMap, path: .init(mapIndex: index, pte: entry))
    }

    func forEachKernelPage(census: inout KernelMapCensus, _ body: (MappedPage) -> Bool) {
        census.entries = entryCount
        for index in 0..<usableEntryCount {
            guard let entry = map.word(Int(truncatingIfNeeded: index)) else {
                census.entriesPastEndOfFile = usableEntryCount - index
                return
            }
            guard Self.isLeaf(entry) else { continue }
            census.validEntries += 1
            census.smallPages += 1
            let pa = PhysicalAddress(Self.physicalAddress(of: entry))
            let offset = pages.offset(of: pa)
            let page = MappedPage(
                virtualAddress: VirtualAddress(kernbase &+ (index << 12)), physicalAddress: pa, size: .size4K,
                writable: entry & Self.writable != 0, executable: entry & Self.executable != 0,
                fileOffset: offset, presentPages: offset == nil ? 0 : 1)
            guard body(page) else { return }
        }
    }
}
