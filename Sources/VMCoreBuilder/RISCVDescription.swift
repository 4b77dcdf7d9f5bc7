/// What a riscv minidump (versions 1 and 2, spec beyond-amd64-minidump.md §3) is generated from:
/// RAM, the direct map with its physical base, the kernel map's leaves (4 KiB pages and 2 MiB
/// superpages, which the writer expands to 512 synthetic L3 entries), raw map entries and the rest.

/// riscv PTE bits (`sys/riscv/include/pte.h`).
public enum RISCVEntryBits {
    public static let valid: UInt64 = 1 << 0
    public static let read: UInt64 = 1 << 1
    public static let write: UInt64 = 1 << 2
    public static let execute: UInt64 = 1 << 3
    public static let global: UInt64 = 1 << 5
    public static let accessed: UInt64 = 1 << 6
    public static let dirty: UInt64 = 1 << 7
    public static let softwareWired: UInt64 = 1 << 8
    /// Bits 63–54, reserved (Svpbmt puts the memory type in 62–61, Svnapot uses 63).
    public static let reservedHigh: UInt64 = 0xffc0_0000_0000_0000
    /// Where the PPN starts.
    public static let ppnShift: UInt64 = 10

    /// The entry mapping the page at `pa` with `flags`.
    public static func entry(pa: UInt64, flags: UInt64) -> UInt64 { (pa >> 12) << ppnShift | flags }
}

/// One run of riscv kernel-map leaves.
public struct RISCVMapping: Sendable, Equatable {
    /// A 4 KiB L3 leaf, or a 2 MiB L2 superpage (written as 512 synthetic L3 entries `l2e | i << 10`).
    public enum PageSize: UInt64, Sendable { case size4K = 0x1000, size2M = 0x20_0000 }

    /// First virtual address; aligned to the page size.
    public var virtualAddress: UInt64
    public var pageSize: PageSize
    /// Number of pages.
    public var count: Int
    /// W bit (R is always set).
    public var writable: Bool
    /// X bit.
    public var executable: Bool
    /// Where the memory is; `.physical` may lie partly or wholly outside RAM (not dumped there).
    public var placement: KernelMapping.Placement
    /// Bits of `RISCVEntryBits.reservedHigh` set in the leaves (a reader must mask them).
    public var reservedBits: UInt64

    /// A mapping of `count` pages.
    public init(virtualAddress: UInt64, pageSize: PageSize, count: Int = 1, writable: Bool = true,
                executable: Bool = false, placement: KernelMapping.Placement = .random, reservedBits: UInt64 = 0) {
        self.virtualAddress = virtualAddress
        self.pageSize = pageSize
        self.count = count
        self.writable = writable
        self.executable = executable
        self.placement = placement
        self.reservedBits = reservedBits
    }
}

/// A map entry written as it is: an invalid one (V clear) or a non-leaf one (V set, R, W and X clear).
public struct RISCVRawEntry: Sendable, Equatable {
    /// The virtual address the entry describes (4 KiB aligned).
    public var virtualAddress: UInt64
    /// The entry.
    public var entry: UInt64

    /// A raw entry at `virtualAddress`.
    public init(virtualAddress: UInt64, entry: UInt64) {
        self.virtualAddress = virtualAddress
        self.entry = entry
    }
}

/// Everything needed to generate one riscv minidump; addresses in bytes.
public struct RISCVDumpDescription: Sendable {
    /// 1 or 2.
    public var version: UInt32
    /// Seed of the placement generator.
    public var seed: UInt64
    /// RAM (dump_avail in v2): ascending, page aligned; gaps are holes.
    public var physicalRanges: [Range<UInt64>]
    /// VA of map entry 0 (`VM_MIN_KERNEL_ADDRESS`).
    public var kernbase: UInt64
    /// Physical address at dmapbase (`dmap_phys_base`).
    public var dmapPhys: UInt64
    /// First VA of the direct map (`DMAP_MIN_ADDRESS`).
    public var dmapBase: UInt64
    /// End (exclusive) of the direct map (`DMAP_MAX_ADDRESS`, a constant).
    public var dmapEnd: UInt64
    /// 2 MiB regions of KVA from kernbase to kernel_vm_end: pmapsize = 4096 × chunks.
    public var kernelMapChunks: Int
    /// Kernel-map leaves, applied in order.
    public var mappings: [RISCVMapping]
    /// Entries written as given, after the mappings.
    public var rawEntries: [RISCVRawEntry]
    /// Random dumped pages reachable only through the direct map.
    public var directMapOnlyPages: Int
    /// The message buffer (its `physicalAddress` must be set and inside the direct map).
    public var messageBuffer: MessageBufferDescription
    /// Bytes written over page contents (kernel-map or direct-map VAs), applied last.
    public var overlays: [Overlay]
    /// When false, ordinary data pages are zero.
    public var stampPages: Bool

    /// FreeBSD's riscv constants (`sys/riscv/include/vmparam.h`).
    public static let defaultKernbase: UInt64 = 0xffff_ffc0_0000_0000
    public static let defaultDMAPBase: UInt64 = 0xffff_ffd0_0000_0000
    public static let defaultDMAPEnd: UInt64 = 0xffff_fff0_0000_0000

    /// A description.
    public init(version: UInt32 = 2, seed: UInt64 = 0, physicalRanges: [Range<UInt64>],
                kernbase: UInt64 = RISCVDumpDescription.defaultKernbase, dmapPhys: UInt64,
                dmapBase: UInt64 = RISCVDumpDescription.defaultDMAPBase,
                dmapEnd: UInt64 = RISCVDumpDescription.defaultDMAPEnd, kernelMapChunks: Int,
                mappings: [RISCVMapping] = [], rawEntries: [RISCVRawEntry] = [], directMapOnlyPages: Int = 0,
                messageBuffer: MessageBufferDescription, overlays: [Overlay] = [], stampPages: Bool = true) {
        self.version = version
        self.seed = seed
        self.physicalRanges = physicalRanges
        self.kernbase = kernbase
        self.dmapPhys = dmapPhys
        self.dmapBase = dmapBase
        self.dmapEnd = dmapEnd
        self.kernelMapChunks = kernelMapChunks
        self.mappings = mappings
        self.rawEntries = rawEntries
        self.directMapOnlyPages = directMapOnlyPages
        self.messageBuffer = messageBuffer
        self.overlays = overlays
        self.stampPages = stampPages
    }
}
