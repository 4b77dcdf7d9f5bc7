import MappedBytes

/// What a translation and a page walk return: plain values a person or a script can print.

/// Which of the kernel's address maps a virtual address was found in.
public enum AddressMap: String, Sendable, CustomStringConvertible {
    /// The kernel map, walked through the dump's page-table map section.
    case kernelMap = "kernel"
    /// The direct map: physical address = virtual address - direct-map base.
    case directMap = "dmap"
    /// "kernel" or "dmap".
    public var description: String { rawValue }
}

/// The entries and index positions a translation went through, for `translate --explain`.
public struct TranslationWalk: Sendable, Equatable {
    /// Index of the kernel-map entry used (nil for the direct map).
    public var mapIndex: UInt64? { path.mapIndex == .max ? nil : path.mapIndex }
    /// The page-directory entry (v2+ kernel map), nil otherwise.
    public var pde: UInt64? { path.pde == 0 ? nil : path.pde }
    /// The page-table entry: from the map section (v1) or from a page-table page (v2+ 4 KiB pages).
    public var pte: UInt64? { path.pte == 0 ? nil : path.pte }
    /// Physical address of the page-table page read (v2+ 4 KiB pages), nil otherwise.
    public var pageTablePage: PhysicalAddress? {
        path.pageTablePage == .max ? nil : PhysicalAddress(path.pageTablePage)
    }
    /// The address translated after the architecture canonicalised it (arm64: pointer-authentication
    /// and top-byte tags cleared), or nil when it was already canonical.
    public var canonicalAddress: VirtualAddress? { path.canonicalAddress == 0 ? nil : VirtualAddress(path.canonicalAddress) }
    /// Bitmap bit of the final physical page.
    public let bit: UInt64
    /// Popcount bin of that bit (bit / 1024).
    public let bin: Int
    /// Set bits below the bin edge the count started from.
    public let edgeCount: UInt64
    /// Dumped pages before this one: its position in the data section.
    public let pagesBefore: UInt64
    /// The page-table entries seen, kept without optionals so a translation stays small.
    let path: MapWalk.Path
}

/// A successful translation of one virtual address to a byte of the dump file.
public struct Translation: Sendable, Equatable {
    /// The address translated.
    public let virtualAddress: VirtualAddress
    /// The physical address it maps to.
    public let physicalAddress: PhysicalAddress
    /// Where that byte is in the dump file.
    public let fileOffset: FileOffset
    /// The map the address was found in.
    public let map: AddressMap
    /// Size of the page that maps it (amd64 minidump: 4 KiB or 2 MiB, 1 GiB pages being dumped as
    /// 2 MiB ones; amd64 full dump: also 1 GiB; arm64: the dump's page size, blocks being dumped as pages).
    public let pageSize: PageSize
    /// Bytes of the dump's page, the unit its file holds pages in (4 KiB, or 16 KiB on arm64).
    public let filePageSize: UInt64
    /// How the address was found.
    public let walk: TranslationWalk

    /// Bytes readable contiguously in the file from `fileOffset`: to the end of the dump's page.
    public var contiguousBytes: UInt64 { filePageSize - (virtualAddress.rawValue & (filePageSize &- 1)) }
}

/// One page of the kernel map, as found by walking the page-table map section.
public struct MappedPage: Sendable, Equatable {
    /// First virtual address of the page.
    public let virtualAddress: VirtualAddress
    /// First physical address of the page.
    public let physicalAddress: PhysicalAddress
    /// The page's size (amd64: 4 KiB or 2 MiB; arm64: the dump's page size).
    public let size: PageSize
    /// The entry's RW bit.
    public let writable: Bool
    /// True unless the entry's NX bit is set.
    public let executable: Bool
    /// File offset of the page's first dump page, or nil if that part is not in the file.
    public let fileOffset: FileOffset?
    /// How many of the page's pieces (of the dump's page size) are in the file (amd64: 0 to 1 or 512).
    public let presentPages: Int
}
