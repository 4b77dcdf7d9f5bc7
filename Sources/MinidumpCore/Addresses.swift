/// Typed addresses and offsets, so that a physical address can never be passed where a virtual
/// address or a file offset is expected.

/// A kernel virtual address (bytes).
public struct VirtualAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The address in bytes.
    public let rawValue: UInt64
    /// Wraps a raw virtual address.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Wraps a raw virtual address.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    /// `0x` followed by 16 lowercase hex digits.
    public var description: String { hex(rawValue, width: 16) }
    /// Orders by numeric value.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    /// The address `bytes` further on, or nil if that passes 2^64.
    public func advanced(by bytes: UInt64) -> VirtualAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(bytes)
        return overflow ? nil : VirtualAddress(sum)
    }
}

/// A physical (machine) address (bytes).
public struct PhysicalAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The address in bytes.
    public let rawValue: UInt64
    /// Wraps a raw physical address.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Wraps a raw physical address.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    /// `0x` followed by lowercase hex digits.
    public var description: String { hex(rawValue) }
    /// Orders by numeric value.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    /// The address of the 4 KiB page holding this address.
    public var pageBase: PhysicalAddress { PhysicalAddress(rawValue & ~PageSize.mask4K) }
}

/// A byte offset inside the dump file.
public struct FileOffset: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The offset in bytes from the start of the file.
    public let rawValue: UInt64
    /// Wraps a raw file offset.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Wraps a raw file offset.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    /// `0x` followed by lowercase hex digits.
    public var description: String { hex(rawValue) }
    /// Orders by numeric value.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// A contiguous byte range of the dump file.
public struct FileRange: Hashable, Sendable, CustomStringConvertible {
    /// First byte of the range.
    public let offset: FileOffset
    /// Length in bytes.
    public let length: UInt64
    /// One past the last byte; ranges are built by `SectionLayout`, which checks this cannot overflow.
    public var end: FileOffset { FileOffset(offset.rawValue &+ length) }
    /// Creates a range; callers guarantee `offset + length` does not overflow.
    public init(offset: FileOffset, length: UInt64) {
        self.offset = offset
        self.length = length
    }
    /// `[0x…, 0x…)`.
    public var description: String { "[\(offset), \(end))" }
}

/// The size of a page as the translator saw it.
public enum PageSize: UInt64, Sendable, CustomStringConvertible {
    /// A 4 KiB page (a PTE, or a direct-map page).
    case size4K = 0x1000
    /// A 2 MiB page (a PS page-directory entry; 1 GiB pages are dumped as 512 of these).
    case size2M = 0x20_0000

    /// Mask of the offset bits inside a 4 KiB page.
    public static let mask4K: UInt64 = 0xfff
    /// Bytes in a 4 KiB page.
    public static let bytes4K: UInt64 = 0x1000

    /// The size in bytes.
    public var bytes: UInt64 { rawValue }
    /// "4K" or "2M".
    public var description: String { self == .size4K ? "4K" : "2M" }
}

/// Formats `value` as `0x` and lowercase hex digits, zero-padded to `width` digits.
func hex(_ value: UInt64, width: Int = 0) -> String {
    let digits = String(value, radix: 16)
    let padding = width > digits.count ? String(repeating: "0", count: width - digits.count) : ""
    return "0x" + padding + digits
}

/// Rounds `value` up to a multiple of 4096, or nil on overflow.
func roundUpToPage(_ value: UInt64) -> UInt64? {
    let (sum, overflow) = value.addingReportingOverflow(PageSize.mask4K)
    return overflow ? nil : sum & ~PageSize.mask4K
}
