import MappedBytes

/// Every way opening or reading a kernel image can fail.
///
/// Each case carries the file label (the path, or the name given for an in-memory image),
/// the offending field and its value; `description` renders them as one line starting
/// with the file label, e.g. `kernel: section header table at 0x1234 + 64 × 30 runs past
/// the end of the file (0x2000)`. Offsets, addresses and sizes are in bytes.
public enum KernelImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `open(2)` failed with `errno`.
    case openFailed(file: String, errno: Int32)
    /// `fstat(2)` failed with `errno`.
    case statFailed(file: String, errno: Int32)
    /// The path names something other than a regular file; `mode` is `st_mode`.
    case notARegularFile(file: String, mode: UInt32)
    /// `mmap(2)` of `size` bytes failed with `errno`.
    case mapFailed(file: String, size: UInt64, errno: Int32)
    /// The file is larger than this host can map (bytes).
    case tooLarge(file: String, size: UInt64)
    /// The structure `what` at file offset `offset`, `entrySize` bytes × `count` entries,
    /// does not fit in a file of `fileSize` bytes (or the product/sum overflows).
    case truncated(file: String, what: String, offset: UInt64, entrySize: UInt64, count: UInt64, fileSize: UInt64)
    /// The first four bytes are not `7f 45 4c 46`.
    case badMagic(file: String, found: [UInt8])
    /// `EI_CLASS` is neither ELFCLASS64 (2) nor ELFCLASS32 (1).
    case unsupportedClass(file: String, value: UInt8)
    /// `EI_DATA` is not ELFDATA2LSB (1).
    case unsupportedByteOrder(file: String, value: UInt8)
    /// A header field has a value this reader cannot use; `reason` says what was expected.
    case badField(file: String, field: String, value: UInt64, reason: String)
    /// Section `section`'s `sh_link` (`link`) does not name a string table; `reason` says why.
    case badLink(file: String, section: String, link: UInt32, reason: String)
    /// Name offset `offset` (from `field`) lies outside string table `table` of `size` bytes.
    case nameOutOfBounds(file: String, field: String, offset: UInt64, table: String, size: UInt64)
    /// The name at `offset` in string table `table` has no NUL before the table ends.
    case unterminatedName(file: String, offset: UInt64, table: String)
    /// Decoding names from string table `table` scanned more than `budget` bytes, which only
    /// happens when many names overlap within very long strings.
    case namesTooLarge(file: String, table: String, budget: UInt64)
    /// No loadable segment or allocated section covers `[address, address + count)`.
    case unmappedAddress(file: String, address: UInt64, count: UInt64)
    /// `[address, address + count)` lies (at least partly) in memory the image does not
    /// initialise, such as `.bss`; `region` names the segment or section.
    case notInitialised(file: String, address: UInt64, count: UInt64, region: String)
    /// No NUL within `maxLength` bytes of the string at `address`.
    case stringTooLong(file: String, address: UInt64, maxLength: Int)
    /// The image has `count` of `what` (symbol tables, symbols), more than this reader's
    /// documented `limit` for a kernel image.
    case limitExceeded(file: String, what: String, count: UInt64, limit: UInt64)
    /// A caller-supplied length or count is negative; `argument` names it.
    case invalidArgument(file: String, argument: String, value: Int)

    /// The error for a failed open or map of the image `file`.
    init(_ error: FileError, file: String) {
        switch error {
        case .open(let code): self = .openFailed(file: file, errno: code)
        case .stat(let code): self = .statFailed(file: file, errno: code)
        case .notRegularFile(let mode): self = .notARegularFile(file: file, mode: mode)
        case .tooLarge(let size): self = .tooLarge(file: file, size: size)
        case .map(let code, let size): self = .mapFailed(file: file, size: size, errno: code)
        }
    }

    /// One line: the file label, the field or structure, and the offending value(s) in hex.
    public var description: String {
        switch self {
        case let .openFailed(file, errno):
            return "\(file): cannot open: \(errorText(errno))"
        case let .statFailed(file, errno):
            return "\(file): cannot stat: \(errorText(errno))"
        case let .notARegularFile(file, mode):
            return "\(file): not a regular file (\(fileKindName(mode: mode)))"
        case let .tooLarge(file, size):
            return "\(file): file too large to map (\(hex(size)) bytes)"
        case let .mapFailed(file, size, errno):
            return "\(file): cannot map \(hex(size)) bytes: \(errorText(errno))"
        case let .truncated(file, what, offset, entrySize, count, fileSize):
            let extent = count == 1 ? "\(entrySize)" : "\(entrySize) × \(count)"
            return "\(file): \(what) at \(hex(offset)) + \(extent) runs past the end of the file (\(hex(fileSize)))"
        case let .badMagic(file, found):
            let bytes = found.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: " ")
            return "\(file): not an ELF file (magic \(bytes.isEmpty ? "<none>" : bytes), expected 7f 45 4c 46)"
        case let .unsupportedClass(file, value):
            return "\(file): EI_CLASS is \(value), only ELFCLASS64 (2) and ELFCLASS32 (1) are supported"
        case let .unsupportedByteOrder(file, value):
            return "\(file): EI_DATA is \(value), only ELFDATA2LSB (1) is supported"
        case let .badField(file, field, value, reason):
            return "\(file): \(field) is \(hex(value)): \(reason)"
        case let .badLink(file, section, link, reason):
            return "\(file): section \(section) has sh_link \(link): \(reason)"
        case let .nameOutOfBounds(file, field, offset, table, size):
            return "\(file): \(field) \(hex(offset)) is outside string table \(table) (\(hex(size)) bytes)"
        case let .unterminatedName(file, offset, table):
            return "\(file): name at \(hex(offset)) in string table \(table) is not NUL-terminated"
        case let .namesTooLarge(file, table, budget):
            return "\(file): names in string table \(table) exceed \(hex(budget)) bytes in total (overlapping long names)"
        case let .unmappedAddress(file, address, count):
            return "\(file): address \(hex(address)) + \(hex(count)) is not in any loadable segment or section"
        case let .notInitialised(file, address, count, region):
            return "\(file): address \(hex(address)) + \(hex(count)) in \(region) is not initialised in the image"
        case let .stringTooLong(file, address, maxLength):
            return "\(file): string at \(hex(address)) has no NUL within \(maxLength) bytes"
        case let .limitExceeded(file, what, count, limit):
            return "\(file): \(count) \(what), more than the \(limit) a kernel image may have"
        case let .invalidArgument(file, argument, value):
            return "\(file): \(argument) is \(value), must not be negative"
        }
    }
}

/// `0x`-prefixed lowercase hexadecimal.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
