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
    /// `0x` followed by lowercase hex digits, zero-padded to `width` (a minimum, never a cut).
    public func description(width: AddressWidth) -> String { width.format(rawValue) }
    /// Orders by numeric value.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    /// The address `bytes` further on, or nil if that passes 2^64.
    public func advanced(by bytes: UInt64) -> VirtualAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(bytes)
        return overflow ? nil : VirtualAddress(sum)
    }
}

/// How many hex digits a dump's kernel virtual addresses are shown with: two per byte of a kernel
/// pointer, so 16 on the 64-bit architectures and 8 on i386, as FreeBSD's own tools print them. The
/// digits are a minimum: a value wider than the pointer (an amd64 address typed on an i386 dump) is
/// shown in full.
public struct AddressWidth: Sendable, Hashable {
    /// Hex digits an address is zero-padded to.
    public let digits: Int
    /// The width for kernel pointers of `pointerSize` bytes.
    public init(pointerSize: Int) { digits = 2 * pointerSize }
    /// 16 digits: 64-bit pointers.
    public static let bits64 = AddressWidth(pointerSize: 8)
    /// `0x` and lowercase hex digits, zero-padded to `digits`.
    public func format(_ value: UInt64) -> String { hex(value, width: digits) }
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
    /// The address of the page of `pageSize` bytes (a power of two) holding this address.
    public func pageBase(_ pageSize: UInt64) -> PhysicalAddress { PhysicalAddress(rawValue & ~(pageSize &- 1)) }
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

/// The size of a page as the translator saw it, or of the pages a dump is written in: a power of
/// two (4 KiB, 16 KiB, 2 MiB, ...). The architecture decides which sizes occur.
public struct PageSize: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The size in bytes.
    public let rawValue: UInt64
    /// Wraps a size in bytes (a power of two).
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// A 4 KiB page (an amd64 PTE or direct-map page; an arm64 4K-granule page).
    public static let size4K = PageSize(rawValue: 0x1000)
    /// A 16 KiB page (an arm64 16K-granule page).
    public static let size16K = PageSize(rawValue: 0x4000)
    /// A 2 MiB page (an amd64 PS page-directory entry; a minidump holds 1 GiB pages as 512 of these).
    public static let size2M = PageSize(rawValue: 0x20_0000)
    /// A 1 GiB page (an amd64 PS PDPE, as a full dump's tables hold it).
    public static let size1G = PageSize(rawValue: 0x4000_0000)

    /// Mask of the offset bits inside a 4 KiB page.
    public static let mask4K: UInt64 = 0xfff
    /// Bytes in a 4 KiB page.
    public static let bytes4K: UInt64 = 0x1000

    /// The size in bytes.
    public var bytes: UInt64 { rawValue }
    /// Mask of the offset bits inside a page of this size.
    public var mask: UInt64 { rawValue &- 1 }
    /// log2 of the size.
    public var shift: UInt64 { UInt64(rawValue.trailingZeroBitCount) }
    /// "4K", "16K", "2M", "1G" (bytes if under 1 KiB or not a whole number of units).
    public var description: String {
        for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] as [(UInt64, String)]
        where rawValue >= 1 << shift && rawValue & ((1 << shift) - 1) == 0 {
            return "\(rawValue >> shift)\(unit)"
        }
        return "\(rawValue)"
    }
}

/// Formats `value` as `0x` and lowercase hex digits, zero-padded to `width` digits.
func hex(_ value: UInt64, width: Int = 0) -> String {
    let digits = String(value, radix: 16)
    let padding = width > digits.count ? String(repeating: "0", count: width - digits.count) : ""
    return "0x" + padding + digits
}

/// Rounds `value` up to a multiple of `pageSize` (a power of two), or nil on overflow.
func roundUpToPage(_ value: UInt64, _ pageSize: UInt64) -> UInt64? {
    let (sum, overflow) = value.addingReportingOverflow(pageSize &- 1)
    return overflow ? nil : sum & ~(pageSize &- 1)
}
