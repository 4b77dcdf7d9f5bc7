import MappedBytes

/// Everything the reader knows about arm64 (aarch64): the minidump, versions 1 to 3 (spec
/// beyond-amd64-minidump.md §1): header fields and their checks, the page size from the v3 flags
/// (4 KiB or 16 KiB; every unit of the file is in it), section order, the flat L3 map, the
/// direct map with a physical base (`dmapphys`) tested before the kernel map, the canonicalisation
/// of pointer-authentication and top-byte tags, and the names the tool prints. The core reaches it
/// only through `registeredArchitectures`.

/// arm64 minidump backend.
final class ARM64Minidump: MinidumpArchitecture {
    static let name = "arm64"
    static let pointerSize = 8
    /// LP64, as amd64: `msg_ptr` 8 bytes; 72 bytes from FreeBSD 9, 40 before.
    static let msgbufShape = MsgbufShape(pointerSize: 8, currentSize: 72, freebsd7Size: 40)
    /// The map holds L3 entries only: no PDE and no page-table page slots.
    static let walkStepNames: [WalkStep.Name?] = [
        .init(text: "map-index", key: "map_index", kind: .index),
        nil,
        .init(text: "l3", key: "l3_entry", kind: .entry),
        nil,
        .init(text: "canonical-va", key: "canonical_va", kind: .virtualAddress),
    ]
    /// Blocks are written as L3 pages, so the map has no large pages to count.
    static let censusPageNames: (large: String?, small: String) = (nil, "kernel_map_l3_pages")
    /// libkvm's arm64 walker never reports pages reachable only through the direct map (spec §1.7).
    static let reportsDirectMapOnlyPages = true
    /// Versions this backend reads.
    static let versions: ClosedRange<UInt32> = 1...3

    /// An L3 entry is a valid page iff its two low bits are 0b11 (`L3_PAGE`).
    static let descriptorMask: UInt64 = 3
    static let l3Page: UInt64 = 3
    /// `ATTR_MASK`: the bits that are not the output address (high attributes 50–63, low 0–11).
    static let attributeMask: UInt64 = 0xfffc_0000_0000_0fff
    /// `ATTR_S1_AP(ATTR_S1_AP_RO)`: read-only.
    static let readOnly: UInt64 = 1 << 7
    /// PXN and UXN: execution is allowed only if both are clear.
    static let executeNever: UInt64 = 1 << 53 | 1 << 54
    /// The high 16 bits that pointer authentication and TBI tags occupy.
    static let tagBits: UInt64 = 0xffff_0000_0000_0000
    /// Page-size codes of the v3 `flags` word (bits 0–1).
    static let pageSizeCodes: [UInt32: UInt64] = [0: 0x1000, 1: 0x4000]

    let kernbase: UInt64
    let directMapPhysical: UInt64
    let directMapBase: UInt64
    let directMapEnd: UInt64
    /// Bytes of the dump's page, and log2 of it.
    let pageSize: UInt64
    let pageShift: UInt64
    /// Entries the header says the map has, and those below 2^64 (see `mapEntriesBelowTop`).
    let entryCount: UInt64
    let usableEntryCount: UInt64
    /// The map bytes present in the file.
    let map: ByteView
    /// File offset of the map section.
    let mapOffset: UInt64
    /// Where the dumped pages are.
    let pages: ContainerStorage

    /// ADDR_MAKE_CANONICAL (sys/arm64/include/vmparam.h): the high 16 bits cleared, then all set if
    /// bit 55 (kernel half) is set.
    @inline(__always)
    static func canonical(_ va: UInt64) -> UInt64 {
        va & (1 << 55) != 0 ? va | tagBits : va & ~tagBits
    }

    static func parseHeader(_ page: ByteView) throws(DumpError.Problem) -> MinidumpHeader {
        func u32(_ offset: UInt64) -> UInt32 { page.uint32(at: offset) ?? 0 }
        func u64(_ offset: UInt64) -> UInt64 { page.uint64(at: offset) ?? 0 }
        let version = u32(24)
        guard versions.contains(version) else { throw .unsupportedVersion(version, supported: versions) }
        let msgbufSize = u32(28), bitmapSize = u32(32), mapSize = u32(36)
        let kernbase = u64(40), dmapPhys = u64(48), dmapBase = u64(56), dmapEnd = u64(64)
        let dumpAvailSize = version >= 2 ? u32(72) : 0
        let flags = version >= 3 ? u32(76) : 0
        guard let pageSize = pageSizeCodes[flags & 3] else {
            throw .invalidField(field: "flags", value: UInt64(flags),
                                reason: "unknown page size code \(flags & 3) in bits 0-1 (0 = 4 KiB, 1 = 16 KiB)")
        }
        let header = MinidumpHeader(
            architecture: name, version: version, msgbufSize: msgbufSize, bitmapSize: bitmapSize,
            pageTableMapSize: mapSize, kernbase: VirtualAddress(kernbase), directMapBase: VirtualAddress(dmapBase),
            directMapEnd: VirtualAddress(dmapEnd), dumpAvailSize: dumpAvailSize, pageSize: pageSize,
            fields: [
                HeaderField("msgbufsize", UInt64(msgbufSize), .size), HeaderField("bitmapsize", UInt64(bitmapSize), .size),
                HeaderField("pmapsize", UInt64(mapSize), .size), HeaderField("dumpavailsize", UInt64(dumpAvailSize), .size),
                HeaderField("flags", UInt64(flags), .size),
                HeaderField("kernbase", kernbase, .address), HeaderField("dmapphys", dmapPhys, .physicalAddress),
                HeaderField("dmapbase", dmapBase, .address), HeaderField("dmapend", dmapEnd, .address),
            ])
        // The writer rounds every section to its page (minidump_machdep.c: round_page); a v3
        // section that is a whole number of 4 KiB pages but not of the flagged 16 KiB is a 4 KiB
        // layout carrying the 16 KiB flag.
        if version >= 3 {
            for (field, value) in [("dumpavailsize", dumpAvailSize), ("bitmapsize", bitmapSize), ("pmapsize", mapSize)]
            where UInt64(value) % pageSize != 0 && UInt64(value) % 0x1000 == 0 {
                throw .invalidField(field: "flags", value: UInt64(flags), reason:
                    "it gives \(pageSize >> 10) KiB pages, but \(field) \(hex(UInt64(value))) is not a multiple of \(hex(pageSize)): a 4 KiB layout with the 16 KiB flag")
            }
        }
        guard mapSize > 0 else { throw .invalidField(field: "pmapsize", value: 0, reason: "the kernel map is empty") }
        guard UInt64(mapSize) % pageSize == 0 else {
            throw .misaligned(field: "pmapsize", value: UInt64(mapSize), alignment: pageSize)
        }
        guard bitmapSize > 0 else { throw .invalidField(field: "bitmapsize", value: 0, reason: "the bitmap is empty") }
        let bitmapAlignment: UInt64 = version >= 3 ? pageSize : 8
        guard UInt64(bitmapSize) % bitmapAlignment == 0 else {
            throw .misaligned(field: "bitmapsize", value: UInt64(bitmapSize), alignment: bitmapAlignment)
        }
        if version >= 2 {
            guard dumpAvailSize > 0 else {
                throw .invalidField(field: "dumpavailsize", value: 0, reason: "version \(version) needs a dump_avail section")
            }
            let alignment: UInt64 = version >= 3 ? pageSize : 16
            guard UInt64(dumpAvailSize) % alignment == 0 else {
                throw .misaligned(field: "dumpavailsize", value: UInt64(dumpAvailSize), alignment: alignment)
            }
        }
        for (field, value) in [("kernbase", kernbase), ("dmapphys", dmapPhys), ("dmapbase", dmapBase)]
        where value % pageSize != 0 {
            throw .misaligned(field: field, value: value, alignment: pageSize)
        }
        guard dmapBase < dmapEnd else {
            throw .invalidField(field: "dmapend", value: dmapEnd, reason: "not above dmapbase (\(hex(dmapBase, width: 16)))")
        }
        guard !dmapPhys.addingReportingOverflow(dmapEnd - dmapBase).overflow else {
            throw .invalidField(field: "dmapphys", value: dmapPhys, reason:
                "the direct map [dmapbase, dmapend) would reach physical addresses past 2^64")
        }
        return header
    }

    /// The direct map starts at physical `dmapphys`: it must lie in the memory the dump describes.
    static func validate(header: MinidumpHeader, memory: [PhysicalRange]) throws(DumpError.Problem) {
        let dmapPhys = header.fields.first { $0.name == "dmapphys" }?.value ?? 0
        guard let last = memory.last, dmapPhys < last.end.rawValue else {
            throw .invalidField(field: "dmapphys", value: dmapPhys, reason:
                "beyond the physical memory the dump describes (it ends at \(hex(memory.last?.end.rawValue ?? 0)))")
        }
    }

    static func sectionOrder(for header: MinidumpHeader) -> [SectionLayout.Section] {
        header.version >= 2
            ? [.messageBuffer, .dumpAvail, .bitmap, .pageTableMap]
            : [.messageBuffer, .bitmap, .pageTableMap]
    }

    init(header: MinidumpHeader, map: ByteView, mapOffset: FileOffset, pages: ContainerStorage) {
        kernbase = header.kernbase.rawValue
        directMapPhysical = header.fields.first { $0.name == "dmapphys" }?.value ?? 0
        directMapBase = header.directMapBase.rawValue
        directMapEnd = header.directMapEnd.rawValue
        pageSize = header.pageSize
        pageShift = UInt64(header.pageSize.trailingZeroBitCount)
        entryCount = UInt64(header.pageTableMapSize) / 8
        usableEntryCount = mapEntriesBelowTop(kernbase: kernbase, entries: entryCount, shift: pageShift)
        self.map = map
        self.mapOffset = mapOffset.rawValue
        self.pages = pages
    }

    var kernelMapRange: ClosedRange<UInt64>? {
        guard usableEntryCount > 0 else { return nil }
        let (span, spanOverflow) = usableEntryCount.multipliedReportingOverflow(by: pageSize)
        let (last, overflow) = kernbase.addingReportingOverflow(span &- 1)
        return spanOverflow || overflow ? kernbase...UInt64.max : kernbase...last
    }

    var kernelMapEntriesCut: UInt64 { entryCount - usableEntryCount }

    var directMapRange: ClosedRange<UInt64>? { directMapBase...(directMapEnd - 1) }

    /// `va = dmapbase + pa - dmapphys`, for a whole page inside [dmapbase, dmapend).
    func directMapAddress(of pa: PhysicalAddress) -> VirtualAddress? {
        guard pa.rawValue >= directMapPhysical else { return nil }
        let offset = pa.rawValue - directMapPhysical
        let span = directMapEnd - directMapBase
        guard offset < span, span - offset >= pageSize else { return nil }
        return VirtualAddress(directMapBase + offset)
    }

    /// The address is canonicalised first; then the direct map is tested before the kernel map,
    /// as libkvm does (on arm64 the direct map lies above kernbase).
    func walk(_ va: VirtualAddress) throws(TranslationError) -> MapWalk? {
        let address = Self.canonical(va.rawValue)
        let tagged: UInt64 = address == va.rawValue ? 0 : address
        if address >= directMapBase, address < directMapEnd {
            // Below 2^64: parseHeader checked dmapphys + (dmapend - dmapbase).
            let pa = (address - directMapBase + directMapPhysical) & ~(pageSize - 1)
            return MapWalk(physicalAddress: PhysicalAddress(pa), pageSize: PageSize(rawValue: pageSize),
                           map: .directMap, path: .init(canonicalAddress: tagged))
        }
        guard address >= kernbase else { return nil }
        let index = (address - kernbase) >> pageShift
        guard index < usableEntryCount else { return nil }
        guard let entry = map.word(Int(truncatingIfNeeded: index)) else {
            throw TranslationError(virtualAddress: va, reason: .mapEntryPastEndOfFile(
                index: index, offset: FileOffset(mapOffset + index * 8)))
        }
        guard entry & Self.descriptorMask == Self.l3Page else {
            throw TranslationError(virtualAddress: va, reason: .mapEntryInvalid(index: index, entry: entry, kind: "L3 entry"))
        }
        return MapWalk(physicalAddress: PhysicalAddress(frame(entry)), pageSize: PageSize(rawValue: pageSize),
                       map: .kernelMap, path: .init(mapIndex: index, pte: entry, canonicalAddress: tagged))
    }

    /// The page an L3 entry names: `e & ~ATTR_MASK`, truncated to the dump's page (libkvm looks the
    /// page up by `pa / page_size`).
    @inline(__always)
    private func frame(_ entry: UInt64) -> UInt64 { entry & ~Self.attributeMask & ~(pageSize - 1) }

    func forEachKernelPage(census: inout KernelMapCensus, _ body: (MappedPage) -> Bool) {
        census.entries = entryCount
        let size = PageSize(rawValue: pageSize)
        for index in 0..<usableEntryCount {
            guard let entry = map.word(Int(truncatingIfNeeded: index)) else {
                census.entriesPastEndOfFile = usableEntryCount - index
                return
            }
            guard entry & Self.descriptorMask == Self.l3Page else { continue }
            census.validEntries += 1
            census.smallPages += 1
            let pa = PhysicalAddress(frame(entry))
            let offset = pages.offset(of: pa)
            let page = MappedPage(virtualAddress: VirtualAddress(kernbase &+ index << pageShift), physicalAddress: pa,
                                  size: size, writable: entry & Self.readOnly == 0,
                                  executable: entry & Self.executeNever == 0,
                                  fileOffset: offset, presentPages: offset == nil ? 0 : 1)
            guard body(page) else { return }
        }
    }
}
