import MappedBytes

/// Everything the reader knows about amd64: the minidump, versions 1 to 3 (spec §2): header
/// fields and their checks, section order, the kernel-map walk, the direct-map rule, and the names
/// the tool prints for them. The core reaches it only through `registeredArchitectures`.

/// amd64 minidump backend.
final class AMD64Minidump: MinidumpArchitecture {
    static let name = "amd64"
    static let pointerSize = 8
    /// LP64: `msg_ptr` 8 bytes; 72 bytes from FreeBSD 9, 40 in 7 and 8.
    static let msgbufShape = MsgbufShape(pointerSize: 8, currentSize: 72, freebsd7Size: 40)
    static let walkStepNames: [WalkStep.Name?] = [
        .init(text: "map-index", key: "map_index", kind: .index),
        .init(text: "pde", key: "pde", kind: .entry),
        .init(text: "pte", key: "pte", kind: .entry),
        .init(text: "pt-page", key: "page_table_page", kind: .address),
    ]
    static let censusPageNames: (large: String?, small: String) = ("kernel_map_2m_pages", "kernel_map_4k_pages")
    /// Versions this backend reads.
    static let versions: ClosedRange<UInt32> = 1...3

    /// Entry bits.
    static let valid: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let pageSizeBit: UInt64 = 1 << 7
    static let noExecute: UInt64 = 1 << 63
    /// Frame masks.
    static let frame4K: UInt64 = 0x000f_ffff_ffff_f000
    static let frame2M: UInt64 = 0x000f_ffff_ffe0_0000

    let version: UInt32
    let kernbase: UInt64
    let directMapBase: UInt64
    let directMapEnd: UInt64
    /// Entries the header says the map has.
    let entryCount: UInt64
    /// The entries that describe addresses below 2^64: all of them unless kernbase is so high that
    /// the map would run past the top of the address space, where it is cut (spec §9 rule 2). The
    /// one extent `kernelMapRange`, the walk and `forEachKernelPage` all use.
    let usableEntryCount: UInt64
    /// The map bytes present in the file.
    let map: ByteView
    /// Where the dumped pages are (page-table pages for v2+).
    let pages: ContainerStorage
    /// The bytes the container's offsets refer to.
    let bytes: ByteView
    /// File offset of the map section.
    let mapOffset: UInt64
    /// log2 of the VA span of one map entry: 12 for v1 PTEs, 21 for v2+ PDEs.
    let entryShift: UInt64
    /// File offsets of the page-table pages named by valid non-PS PDEs (v2+), 512 per 1 GiB slot
    /// that has any, found by `buildIndex()` (spec §9 rule 10) so a 4 KiB translation does one index
    /// lookup instead of two: `tableSlots` gives a slot's first entry in `tableOffsets`, or `.max`.
    /// An entry of `.max`, a slot past the table, or a table not built yet means "look it up":
    /// absent, cut by truncation, beyond the first `tableSlotLimit` slots, or a one-shot command.
    private let tableSlots: FillOnceTable
    private let tableOffsets: FillOnceTable
    /// Only the first this many 1 GiB slots are scanned at open (16 MiB of map, at most 16 MiB of
    /// tables): a real 2 TiB kernel map has 2048.
    static let tableSlotLimit = 4096

    static func parseHeader(_ page: ByteView) throws(DumpError.Problem) -> MinidumpHeader {
        func u32(_ offset: UInt64) -> UInt32 { page.uint32(at: offset) ?? 0 }
        func u64(_ offset: UInt64) -> UInt64 { page.uint64(at: offset) ?? 0 }
        let version = u32(24)
        guard versions.contains(version) else { throw .unsupportedVersion(version, supported: versions) }
        let header = MinidumpHeader(
            architecture: name, version: version, msgbufSize: u32(28), bitmapSize: u32(32),
            pageTableMapSize: u32(36), kernbase: VirtualAddress(u64(40)), directMapBase: VirtualAddress(u64(48)),
            directMapEnd: VirtualAddress(u64(56)), dumpAvailSize: version >= 3 ? u32(64) : 0,
            fields: [
                HeaderField("msgbufsize", UInt64(u32(28)), .size), HeaderField("bitmapsize", UInt64(u32(32)), .size),
                HeaderField("pmapsize", UInt64(u32(36)), .size),
                HeaderField("dumpavailsize", version >= 3 ? UInt64(u32(64)) : 0, .size),
                HeaderField("kernbase", u64(40), .address), HeaderField("dmapbase", u64(48), .address),
                HeaderField("dmapend", u64(56), .address),
            ])
        let mapField = version == 1 ? "ptesize" : "pmapsize"
        let mapSize = UInt64(header.pageTableMapSize)
        guard mapSize > 0 else { throw .invalidField(field: mapField, value: 0, reason: "the kernel map is empty") }
        let mapAlignment: UInt64 = version == 1 ? 8 : 4096
        guard mapSize % mapAlignment == 0 else {
            throw .misaligned(field: mapField, value: mapSize, alignment: mapAlignment)
        }
        let bitmapAlignment: UInt64 = version >= 3 ? 4096 : 8
        guard UInt64(header.bitmapSize) % bitmapAlignment == 0 else {
            throw .misaligned(field: "bitmapsize", value: UInt64(header.bitmapSize), alignment: bitmapAlignment)
        }
        guard header.bitmapSize > 0 else {
            throw .invalidField(field: "bitmapsize", value: 0, reason: "the bitmap is empty")
        }
        if version >= 3 {
            guard header.dumpAvailSize > 0 else {
                throw .invalidField(field: "dumpavailsize", value: 0, reason: "version 3 needs a dump_avail section")
            }
            guard header.dumpAvailSize % 16 == 0 else {
                throw .misaligned(field: "dumpavailsize", value: UInt64(header.dumpAvailSize), alignment: 16)
            }
        }
        let kernbaseAlignment: UInt64 = version == 1 ? 0x1000 : 0x20_0000
        guard header.kernbase.rawValue % kernbaseAlignment == 0 else {
            throw .misaligned(field: "kernbase", value: header.kernbase.rawValue, alignment: kernbaseAlignment)
        }
        guard header.directMapBase.rawValue % 0x1000 == 0 else {
            throw .misaligned(field: "dmapbase", value: header.directMapBase.rawValue, alignment: 0x1000)
        }
        guard header.directMapBase < header.directMapEnd else {
            throw .invalidField(field: "dmapend", value: header.directMapEnd.rawValue,
                                reason: "not above dmapbase (\(header.directMapBase))")
        }
        return header
    }

    static func sectionOrder(for header: MinidumpHeader) -> [SectionLayout.Section] {
        header.version >= 3
            ? [.messageBuffer, .dumpAvail, .bitmap, .pageTableMap]
            : [.messageBuffer, .bitmap, .pageTableMap]
    }

    init(header: MinidumpHeader, map: ByteView, mapOffset: FileOffset, pages: ContainerStorage) {
        self.pages = pages
        bytes = pages.bytes
        self.mapOffset = mapOffset.rawValue
        version = header.version
        kernbase = header.kernbase.rawValue
        directMapBase = header.directMapBase.rawValue
        directMapEnd = header.directMapEnd.rawValue
        entryCount = UInt64(header.pageTableMapSize) / 8
        entryShift = header.version == 1 ? 12 : 21
        usableEntryCount = mapEntriesBelowTop(kernbase: header.kernbase.rawValue, entries: entryCount, shift: entryShift)
        self.map = map
        let entries = header.version == 1 ? 0 : min(map.count / 8, Self.tableSlotLimit * 512)
        tableSlots = FillOnceTable(capacity: (entries + 511) / 512)
        tableOffsets = FillOnceTable(capacity: entries)
    }

    /// Locates the page-table page of every valid non-PS PDE in the map, slot by slot (once).
    func buildIndex() {
        let map = map, pages = pages, limit = tableSlots.capacity
        tableSlots.fill { slots, _ in
            guard slots.count == 0 else { return }
            var firsts: [UInt64] = []
            tableOffsets.fill { offsets, _ in
                for slot in 0..<limit {
                    var located: [UInt64]?
                    for index in (slot * 512)..<(slot * 512 + 512) {
                        guard let pde = map.word(index) else { break }
                        guard pde & Self.valid != 0, pde & Self.pageSizeBit == 0,
                              let offset = pages.offset(of: PhysicalAddress(pde & Self.frame4K)) else { continue }
                        if located == nil { located = [UInt64](repeating: .max, count: 512) }
                        located![index % 512] = offset.rawValue
                    }
                    if let located {
                        firsts.append(UInt64(offsets.count))
                        for offset in located { offsets.append(offset) }
                    } else {
                        firsts.append(.max)
                    }
                }
            }
            for first in firsts { slots.append(first) }
        }
    }

    /// The file offset of the page-table page named by PDE `index`, if `buildIndex()` located it.
    @inline(__always)
    private func knownTablePage(_ index: UInt64) -> UInt64? {
        guard let first = tableSlots.word(Int(truncatingIfNeeded: index >> 9)), first != .max,
              let known = tableOffsets.word(Int(truncatingIfNeeded: first &+ (index & 511))), known != .max else { return nil }
        return known
    }

    /// The group's walks with their loads interleaved: first every map entry (and the located
    /// page-table page's slot) is prefetched, then every entry is read and the PTE it leads to
    /// prefetched, then the PTEs are read; 2 MiB pages and the direct map are answered in the second
    /// pass. An address the passes cannot answer (an invalid entry, a page-table page not located,
    /// v1) is walked by `walk`, so the answers are `walk`'s.
    func walks(_ vas: ArraySlice<VirtualAddress>, into walks: inout [MapWalk?]) {
        walks.removeAll(keepingCapacity: true)
        guard version >= 2 else {
            for va in vas { walks.append(try? walk(va)) }
            return
        }
        for va in vas {
            guard let index = kernelMapIndex(va) else { continue }
            map.prefetch(index &* 8)
            if let first = tableSlots.word(Int(truncatingIfNeeded: index >> 9)), first != .max {
                tableOffsets.prefetch(Int(truncatingIfNeeded: first &+ (index & 511)))
            }
        }
        // A 4 KiB page's walk waits for its PTE: its `physicalAddress` holds the PTE's file offset
        // until the last pass, and its `path.pte` is 0.
        var pending = false
        for va in vas {
            guard let index = kernelMapIndex(va) else {
                if va.rawValue >= directMapBase, va.rawValue < directMapEnd {
                    walks.append(MapWalk(physicalAddress: PhysicalAddress(va.rawValue &- directMapBase), pageSize: .size4K, map: .directMap))
                } else {
                    walks.append(try? walk(va))
                }
                continue
            }
            guard let entry = entry(index), entry & Self.valid != 0 else {
                walks.append(try? walk(va))
                continue
            }
            if entry & Self.pageSizeBit != 0 {
                walks.append(MapWalk(physicalAddress: PhysicalAddress((entry & Self.frame2M) | (va.rawValue & 0x1f_f000)),
                                     pageSize: .size2M, map: .kernelMap, path: .init(mapIndex: index, pde: entry)))
                continue
            }
            guard let table = knownTablePage(index) else {
                walks.append(try? walk(va))
                continue
            }
            let at = table &+ ((va.rawValue >> 12) & 511) &* 8
            bytes.prefetch(at)
            walks.append(MapWalk(physicalAddress: PhysicalAddress(at), pageSize: .size4K, map: .kernelMap,
                                 path: .init(mapIndex: index, pde: entry, pte: 0, pageTablePage: entry & Self.frame4K)))
            pending = true
        }
        guard pending else { return }
        let supplied = pages.suppliesOnDemand
        var k = 0
        for va in vas {
            defer { k &+= 1 }
            guard let waiting = walks[k], waiting.map == .kernelMap, waiting.pageSize == .size4K, waiting.path.pte == 0 else { continue }
            let at = waiting.physicalAddress.rawValue
            if supplied { pages.supply(offset: at, length: 8) }
            guard let pte = bytes.uint64(at: at), pte & Self.valid != 0 else {
                walks[k] = try? walk(va)
                continue
            }
            var path = waiting.path
            path.pte = pte
            walks[k] = MapWalk(physicalAddress: PhysicalAddress(pte & Self.frame4K), pageSize: .size4K, map: .kernelMap, path: path)
        }
    }

    /// The kernel-map entry index of `va`, or nil if `va` is outside the kernel map.
    @inline(__always)
    private func kernelMapIndex(_ va: VirtualAddress) -> UInt64? {
        guard va.rawValue >= kernbase else { return nil }
        let index = (va.rawValue &- kernbase) >> entryShift
        return index < usableEntryCount ? index : nil
    }

    var kernelMapRange: ClosedRange<UInt64>? {
        guard usableEntryCount > 0 else { return nil }
        // usableEntryCount << entryShift ≤ 2^64 - kernbase + one entry; the last byte is capped at 2^64 - 1.
        let (span, spanOverflow) = usableEntryCount.multipliedReportingOverflow(by: 1 << entryShift)
        let (last, overflow) = kernbase.addingReportingOverflow(span &- 1)
        return spanOverflow || overflow ? kernbase...UInt64.max : kernbase...last
    }

    var kernelMapEntriesCut: UInt64 { entryCount - usableEntryCount }

    var directMapRange: ClosedRange<UInt64>? { directMapBase...(directMapEnd - 1) }

    /// The direct map shows physical memory from 0 at dmapbase: `va = dmapbase + pa`.
    func directMapAddress(of pa: PhysicalAddress) -> VirtualAddress? {
        let span = directMapEnd - directMapBase
        guard pa.rawValue < span, span - pa.rawValue >= PageSize.bytes4K else { return nil }
        return VirtualAddress(directMapBase + pa.rawValue)
    }

    /// The kernel map is checked first, as libkvm does (on amd64 the direct map lies below kernbase).
    @inline(__always)
    func walk(_ va: VirtualAddress) throws(TranslationError) -> MapWalk? {
        if let walk = try walkKernelMap(va) { return walk }
        guard va.rawValue >= directMapBase, va.rawValue < directMapEnd else { return nil }
        return MapWalk(physicalAddress: PhysicalAddress(va.rawValue - directMapBase), pageSize: .size4K, map: .directMap)
    }

    /// The map entry at `index`, or nil if it lies past the end of a truncated file.
    @inline(__always)
    private func entry(_ index: UInt64) -> UInt64? { map.word(Int(truncatingIfNeeded: index)) }

    /// Walks the kernel map; nil if `va` is outside it.
    @inline(__always)
    private func walkKernelMap(_ va: VirtualAddress) throws(TranslationError) -> MapWalk? {
        guard va.rawValue >= kernbase else { return nil }
        let index = (va.rawValue - kernbase) >> entryShift
        guard index < usableEntryCount else { return nil }
        guard let entry = entry(index) else {
            throw TranslationError(virtualAddress: va, reason: .mapEntryPastEndOfFile(
                index: index, offset: FileOffset(mapOffset + index * 8)))
        }
        guard entry & Self.valid != 0 else {
            throw TranslationError(virtualAddress: va, reason: .mapEntryInvalid(
                index: index, entry: entry, kind: version == 1 ? "PTE" : "PDE"))
        }
        if version == 1 {
            return MapWalk(physicalAddress: PhysicalAddress(entry & Self.frame4K), pageSize: .size4K,
                           map: .kernelMap, path: .init(mapIndex: index, pte: entry))
        }
        if entry & Self.pageSizeBit != 0 {
            let pa = (entry & Self.frame2M) | (va.rawValue & 0x1f_f000)
            return MapWalk(physicalAddress: PhysicalAddress(pa), pageSize: .size2M,
                           map: .kernelMap, path: .init(mapIndex: index, pde: entry))
        }
        let table = PhysicalAddress(entry & Self.frame4K)
        let slot = ((va.rawValue >> 12) & 511) * 8
        let located: FileOffset
        if let known = knownTablePage(index) {
            located = FileOffset(known)
        } else {
            do throws(ContainerMiss) {
                located = try pages.locate(PhysicalAddress(table.rawValue | slot), bytes: 8).offset
            } catch .pastEndOfFile(let offset) {
                throw TranslationError(virtualAddress: va, reason: .pageTablePagePastEndOfFile(
                    pde: entry, physicalAddress: table, offset: offset))
            } catch {
                throw TranslationError(virtualAddress: va, reason: .pageTablePageMissing(pde: entry, physicalAddress: table))
            }
        }
        pages.supply(offset: located.rawValue + slot, length: 8)
        let pte = bytes.uint64(at: located.rawValue + slot) ?? 0
        guard pte & Self.valid != 0 else {
            throw TranslationError(virtualAddress: va, reason: .pteInvalid(pde: entry, pte: pte))
        }
        return MapWalk(physicalAddress: PhysicalAddress(pte & Self.frame4K), pageSize: .size4K, map: .kernelMap,
                       path: .init(mapIndex: index, pde: entry, pte: pte, pageTablePage: table.rawValue))
    }

    func forEachKernelPage(census: inout KernelMapCensus, _ body: (MappedPage) -> Bool) {
        census.entries = entryCount
        for index in 0..<usableEntryCount {
            guard let entry = entry(index) else {
                census.entriesPastEndOfFile = usableEntryCount - index
                return
            }
            guard entry & Self.valid != 0 else { continue }
            census.validEntries += 1
            let va = kernbase &+ (index << entryShift)  // < 2^64: index < usableEntryCount
            if version == 1 {
                census.smallPages += 1
                guard body(page(va: va, entry: entry, size: .size4K)) else { return }
            } else if entry & Self.pageSizeBit != 0 {
                census.largePages += 1
                guard body(page(va: va, entry: entry, size: .size2M)) else { return }
            } else {
                guard let table = pages.offset(of: PhysicalAddress(entry & Self.frame4K)) else {
                    census.pageTablePagesMissing += 1
                    continue
                }
                census.pageTablePagesPresent += 1
                pages.supply(offset: table.rawValue, length: 512 * 8)
                for slot in UInt64(0)..<512 {
                    let pte = bytes.uint64(at: table.rawValue + slot * 8) ?? 0
                    guard pte & Self.valid != 0 else { continue }
                    census.smallPages += 1
                    guard body(page(va: va &+ slot << 12, entry: pte, size: .size4K)) else { return }
                }
            }
        }
    }

    /// Describes the page mapped by `entry` at `va`.
    private func page(va: UInt64, entry: UInt64, size: PageSize) -> MappedPage {
        let pa = entry & (size == .size2M ? Self.frame2M : Self.frame4K)
        let first = pages.offset(of: PhysicalAddress(pa))
        let present = size == .size4K ? (first == nil ? 0 : 1)
            : pages.presentPages(from: PhysicalAddress(pa), length: size.bytes)
        return MappedPage(virtualAddress: VirtualAddress(va), physicalAddress: PhysicalAddress(pa), size: size,
                          writable: entry & Self.writable != 0, executable: entry & Self.noExecute == 0,
                          fileOffset: first, presentPages: present)
    }
}
