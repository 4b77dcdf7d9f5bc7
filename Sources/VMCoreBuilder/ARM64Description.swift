/// What the generator writes as an arm64 minidump (spec beyond-amd64-minidump.md §1): versions 1
/// to 3, 4 KiB or 16 KiB pages, a flat map of L3 entries (blocks written as synthetic L3 pages,
/// as the kernel's writer does), a direct map with a physical base.

/// One run of arm64 kernel-map mappings starting at `virtualAddress`.
public struct ARM64Mapping: Sendable, Equatable {
    /// What maps the run.
    public enum Kind: Sendable, Equatable {
        /// Pages of the dump's page size (valid L3 entries).
        case pages
        /// L2 blocks (2 MiB with 4 KiB pages, 32 MiB with 16 KiB), written as one synthetic L3 page each.
        case l2Blocks
        /// L1 blocks (1 GiB, 4 KiB pages only), written as 512 synthetic L3 pages each.
        case l1Blocks
        /// L3 entries with descriptor bits 0b01 (reserved at L3: invalid), pointing at RAM.
        case reservedEntries
    }

    /// First virtual address; aligned to the mapping's size.
    public var virtualAddress: UInt64
    /// What maps it.
    public var kind: Kind
    /// Number of pages or blocks.
    public var count: Int
    /// Clears AP_RO (pages only: synthetic block entries carry no AP bits, so they read as writable).
    public var writable: Bool
    /// Clears UXN and PXN (pages only: synthetic block entries read as executable).
    public var executable: Bool
    /// Physical placement of the run.
    public var placement: KernelMapping.Placement
    /// Sets bits a reader must mask out of the output address: software bits 55-58, contiguous 52,
    /// DBM 51, GP 50 and AttrIndx (pages only).
    public var attributeNoise: Bool

    /// A run of `count` pages or blocks at `virtualAddress`.
    public init(virtualAddress: UInt64, kind: Kind = .pages, count: Int = 1, writable: Bool = true,
                executable: Bool = false, placement: KernelMapping.Placement = .random, attributeNoise: Bool = false) {
        self.virtualAddress = virtualAddress
        self.kind = kind
        self.count = count
        self.writable = writable
        self.executable = executable
        self.placement = placement
        self.attributeNoise = attributeNoise
    }
}

/// Everything needed to generate one arm64 minidump; all addresses in bytes.
public struct ARM64DumpDescription: Sendable {
    /// The page size of the dumped kernel.
    public enum Granule: UInt64, Sendable {
        case size4K = 0x1000
        case size16K = 0x4000
    }

    /// Minidump version: 1, 2 or 3 (16 KiB pages need 3: only v3 has the flags word).
    public var version: UInt32
    /// Page size.
    public var granule: Granule
    /// Seed of the SplitMix64 generator that places pages.
    public var seed: UInt64
    /// RAM (dump_avail): ascending, aligned to the page size, non-overlapping.
    public var physicalRanges: [Range<UInt64>]
    /// VM_MIN_KERNEL_ADDRESS: VA of L3 entry 0.
    public var kernbase: UInt64
    /// DMAP_MIN_PHYSADDR: the physical address dmapbase maps; nil = the start of the first range.
    public var dmapPhys: UInt64?
    /// DMAP_MIN_ADDRESS and DMAP_MAX_ADDRESS.
    public var dmapBase: UInt64
    public var dmapEnd: UInt64
    /// L2 regions from kernbase to kernel_vm_end: one page of L3 entries each (pmapsize = pages × this).
    public var l2Regions: Int
    /// Kernel-map mappings, applied in order (explicit placements are reserved before random ones).
    public var mappings: [ARM64Mapping]
    /// Random dumped pages reachable only through the direct map.
    public var directMapOnlyPages: Int
    /// The message buffer (its reservation a multiple of the page size).
    public var messageBuffer: MessageBufferDescription
    /// Bytes written over page contents, applied last, in order (kernel-map or direct-map addresses).
    public var overlays: [Overlay]
    /// When false, ordinary data pages are zero; the msgbuf and overlays are still written.
    public var stampPages: Bool

    /// The bytes of the VA span one L2 region covers: page size × entries per page.
    public var l2Size: UInt64 { granule.rawValue * (granule.rawValue / 8) }
    /// The direct map's physical base as written.
    public var effectiveDmapPhys: UInt64 { dmapPhys ?? physicalRanges.first?.lowerBound ?? 0 }
    /// kernel_vm_end as the map covers it: kernbase + regions × L2 size.
    public var kernelVMEnd: UInt64 { kernbase &+ UInt64(l2Regions) &* l2Size }

    /// A description with FreeBSD's constants for the addresses (VM_MIN_KERNEL_ADDRESS,
    /// DMAP_MIN_ADDRESS, DMAP_MAX_ADDRESS) and a 96 KiB panic message buffer.
    public init(version: UInt32 = 3, granule: Granule = .size4K, seed: UInt64 = 0, physicalRanges: [Range<UInt64>],
                kernbase: UInt64 = 0xffff_0000_0000_0000, dmapPhys: UInt64? = nil,
                dmapBase: UInt64 = 0xffff_a000_0000_0000, dmapEnd: UInt64 = 0xffff_ff00_0000_0000,
                l2Regions: Int = 4, mappings: [ARM64Mapping] = [], directMapOnlyPages: Int = 0,
                messageBuffer: MessageBufferDescription? = nil, overlays: [Overlay] = [], stampPages: Bool = true) {
        self.version = version
        self.granule = granule
        self.seed = seed
        self.physicalRanges = physicalRanges
        self.kernbase = kernbase
        self.dmapPhys = dmapPhys
        self.dmapBase = dmapBase
        self.dmapEnd = dmapEnd
        self.l2Regions = l2Regions
        self.mappings = mappings
        self.directMapOnlyPages = directMapOnlyPages
        let ram = physicalRanges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) }
        self.messageBuffer = messageBuffer ?? .panicDmesg(seed: seed, physicalMemory: ram)
        self.overlays = overlays
        self.stampPages = stampPages
    }
}

/// One valid L3 entry of a generated arm64 map, as the ground truth knows it.
public struct ARM64KernelPage: Sendable, Equatable {
    /// Virtual address of the page.
    public var va: UInt64
    /// Physical address of the page.
    public var pa: UInt64
    /// AP_RO clear.
    public var writable: Bool
    /// UXN and PXN clear.
    public var executable: Bool
    /// Whether its page is in the dump.
    public var present: Bool
}

/// What a generated arm64 file contains, independent of any reader: the tests' ground truth.
public struct ARM64GroundTruth: Sendable {
    /// Header fields.
    public var version: UInt32
    public var pageSize: UInt64
    public var flags: UInt32
    public var msgbufSize: UInt32
    public var bitmapSize: UInt32
    public var pmapSize: UInt32
    public var dumpAvailSize: UInt32
    public var kernbase: UInt64
    public var dmapPhys: UInt64
    public var dmapBase: UInt64
    public var dmapEnd: UInt64
    /// Section offsets.
    public var msgbufOffset: UInt64
    public var dumpAvailOffset: UInt64
    public var bitmapOffset: UInt64
    public var pmapOffset: UInt64
    public var dataOffset: UInt64
    /// File length.
    public var fileSize: UInt64
    /// RAM ranges.
    public var physicalRanges: [Range<UInt64>]
    /// Sorted physical addresses of every dumped page (data page k holds `dumpedPages[k]`).
    public var dumpedPages: [UInt64]
    /// The pmap section as L3 entries.
    public var l3Map: [UInt64]
    /// Every valid L3 entry, in VA order.
    public var kernelPages: [ARM64KernelPage]
    /// Sorted physical addresses of the pages dumped only for the direct map.
    public var directMapOnlyPages: [UInt64]
    /// kernel_vm_end (the map's end).
    public var kernelVMEnd: UInt64
    /// The message buffer: text in the ring, unread part, `msg_ptr` (a DMAP address), ring PA, struct VA.
    public var messageText: [UInt8]
    public var unreadText: [UInt8]
    public var msgbufVirtualAddress: UInt64
    public var msgbufPhysicalAddress: UInt64
    public var msgbufStructVirtualAddress: UInt64?
    /// Whether ordinary pages carry `pageStamp` bytes (else zeros).
    public var stampPages: Bool
    /// Full content of every page that is not a plain stamp (msgbuf, overlaid pages), page-size long.
    var specialPages: [UInt64: [UInt8]]

    /// The end of the physical memory the dump describes: the last range's end (v2+), or what the
    /// bitmap's bits cover from address 0 (v1, which has no dump_avail).
    public var describedMemoryEnd: UInt64 {
        version >= 2 ? physicalRanges.last!.upperBound : UInt64(bitmapSize) * 8 * pageSize
    }

    /// Index of the dumped page holding `pa`, or nil.
    func rank(of pa: UInt64) -> Int? {
        let page = pa & ~(pageSize - 1)
        var lo = 0, hi = dumpedPages.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if dumpedPages[mid] < page { lo = mid + 1 } else { hi = mid }
        }
        return lo < dumpedPages.count && dumpedPages[lo] == page ? lo : nil
    }

    /// File offset of `pa` if its page is dumped, else nil.
    public func fileOffset(ofPhysical pa: UInt64) -> UInt64? {
        rank(of: pa).map { dataOffset + UInt64($0) * pageSize + (pa & (pageSize - 1)) }
    }

    /// Physical address of `va` (canonical): the direct map first, then the kernel map; nil if unmapped.
    public func physicalAddress(ofVirtual va: UInt64) -> UInt64? {
        if va >= dmapBase && va < dmapEnd { return va - dmapBase + dmapPhys }
        guard va >= kernbase else { return nil }
        let index = (va - kernbase) / pageSize
        guard index < UInt64(l3Map.count), let page = kernelPage(at: kernbase + index * pageSize) else { return nil }
        return page.pa + (va & (pageSize - 1))
    }

    /// The valid L3 entry mapping the page at `va`, if any.
    public func kernelPage(at va: UInt64) -> ARM64KernelPage? {
        var lo = 0, hi = kernelPages.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if kernelPages[mid].va < va { lo = mid + 1 } else { hi = mid }
        }
        return lo < kernelPages.count && kernelPages[lo].va == va ? kernelPages[lo] : nil
    }

    /// Expected content of the byte at `pa`, or nil if its page is not dumped.
    public func byte(atPhysical pa: UInt64) -> UInt8? {
        guard rank(of: pa) != nil else { return nil }
        let page = pa & ~(pageSize - 1)
        if let special = specialPages[page] { return special[Int(pa - page)] }
        return stampPages ? pageStamp(physicalAddress: pa & ~0xfff, offset: Int(pa & 0xfff)) : 0
    }

    /// Expected content of the dumped page holding `pa` (`pageSize` bytes), or nil.
    public func page(atPhysical pa: UInt64) -> [UInt8]? {
        let page = pa & ~(pageSize - 1)
        guard rank(of: page) != nil else { return nil }
        return specialPages[page] ?? arm64PageContent(page, size: pageSize, stamped: stampPages)
    }

    /// Expected bytes of `count` bytes at `va`; nil if any byte is unreadable.
    public func bytes(atVirtual va: UInt64, count: Int) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for i in 0..<UInt64(count) {
            guard let pa = physicalAddress(ofVirtual: va &+ i), let b = byte(atPhysical: pa) else { return nil }
            out.append(b)
        }
        return out
    }
}

/// A page's ordinary content: the 4 KiB stamp of each of its 4 KiB pieces (or zeros).
func arm64PageContent(_ page: UInt64, size: UInt64, stamped: Bool) -> [UInt8] {
    guard stamped else { return [UInt8](repeating: 0, count: Int(size)) }
    var bytes = [UInt8](repeating: 0, count: Int(size))
    for piece in stride(from: 0, to: Int(size), by: 4096) { fillStamp(&bytes, at: piece, page: page + UInt64(piece)) }
    return bytes
}

/// A generated arm64 minidump held in memory, with its ground truth.
public struct GeneratedARM64Dump: Sendable {
    /// The whole file.
    public var bytes: [UInt8]
    /// What it contains.
    public var truth: ARM64GroundTruth
}
