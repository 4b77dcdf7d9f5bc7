/// One entry of `.symtab` or `.dynsym`.
public struct Symbol: Sendable, Hashable {
    /// The symbol's type (`ELF64_ST_TYPE(st_info)`).
    public enum Kind: Sendable, Hashable {
        /// STT_NOTYPE (0).
        case noType
        /// STT_OBJECT (1): a data object.
        case object
        /// STT_FUNC (2): a function.
        case function
        /// STT_SECTION (3).
        case section
        /// STT_FILE (4): a source file name.
        case file
        /// STT_COMMON (5).
        case common
        /// STT_TLS (6).
        case tls
        /// Any other value (OS- or processor-specific), kept as is.
        case other(UInt8)

        /// Decodes the low four bits of `st_info`.
        public init(rawValue: UInt8) {
            switch rawValue {
            case 0: self = .noType
            case 1: self = .object
            case 2: self = .function
            case 3: self = .section
            case 4: self = .file
            case 5: self = .common
            case 6: self = .tls
            default: self = .other(rawValue)
            }
        }
    }

    /// The symbol's binding (`ELF64_ST_BIND(st_info)`).
    public enum Binding: Sendable, Hashable {
        /// STB_LOCAL (0).
        case local
        /// STB_GLOBAL (1).
        case global
        /// STB_WEAK (2).
        case weak
        /// Any other value (OS- or processor-specific), kept as is.
        case other(UInt8)

        /// Decodes the high four bits of `st_info`.
        public init(rawValue: UInt8) {
            switch rawValue {
            case 0: self = .local
            case 1: self = .global
            case 2: self = .weak
            default: self = .other(rawValue)
            }
        }
    }

    /// `st_shndx` value of an undefined symbol.
    public static let undefinedSection: UInt16 = 0
    /// `st_shndx` value of an absolute symbol.
    public static let absoluteSection: UInt16 = 0xfff1
    /// `st_shndx` value meaning the real index is in an SHT_SYMTAB_SHNDX section (not resolved here).
    public static let extendedSection: UInt16 = 0xffff

    /// The name from the linked string table (may be empty).
    public let name: String
    /// `st_value`: for defined symbols of an ET_EXEC kernel, the virtual address.
    public let value: UInt64
    /// `st_size` in bytes (0 when unknown).
    public let size: UInt64
    /// The symbol type.
    public let kind: Kind
    /// The symbol binding.
    public let binding: Binding
    /// `st_shndx`, raw: a section index, or one of the reserved values above.
    public let sectionIndex: UInt16
    /// True if the symbol came from `.dynsym` (SHT_DYNSYM), false for `.symtab` (SHT_SYMTAB).
    public let isDynamic: Bool

    /// Creates a symbol from its decoded fields.
    public init(name: String, value: UInt64, size: UInt64, kind: Kind, binding: Binding, sectionIndex: UInt16, isDynamic: Bool) {
        self.name = name
        self.value = value
        self.size = size
        self.kind = kind
        self.binding = binding
        self.sectionIndex = sectionIndex
        self.isDynamic = isDynamic
    }

    /// True unless the symbol is undefined (`st_shndx` is SHN_UNDEF).
    public var isDefined: Bool { sectionIndex != Symbol.undefinedSection }
}
