import MappedBytes

/// One section header (`Elf64_Shdr` or `Elf32_Shdr`, widened) with its resolved name.
public struct Section: Sendable, Hashable {
    /// SHT_PROGBITS: initialised contents stored in the file.
    public static let typeProgBits: UInt32 = 1
    /// SHT_SYMTAB: the full symbol table.
    public static let typeSymTab: UInt32 = 2
    /// SHT_STRTAB: a string table.
    public static let typeStrTab: UInt32 = 3
    /// SHT_NOBITS: occupies memory but no file bytes (e.g. `.bss`).
    public static let typeNoBits: UInt32 = 8
    /// SHT_DYNSYM: the dynamic symbol table.
    public static let typeDynSym: UInt32 = 11
    /// SHF_ALLOC: the section occupies memory at run time.
    public static let flagAlloc: UInt64 = 0x2

    /// Index in the section header table.
    public let index: Int
    /// Name from the section header string table (empty if the file has none).
    public let name: String
    /// `sh_type`.
    public let type: UInt32
    /// `sh_flags`.
    public let flags: UInt64
    /// `sh_addr`: virtual address when allocated.
    public let address: UInt64
    /// `sh_offset`: file offset of the contents, in bytes.
    public let offset: UInt64
    /// `sh_size` in bytes.
    public let size: UInt64
    /// `sh_link`: for symbol tables, the index of their string table.
    public let link: UInt32
    /// `sh_info`.
    public let info: UInt32
    /// `sh_addralign` in bytes.
    public let addressAlignment: UInt64
    /// `sh_entsize`: entry size in bytes for table sections, else 0.
    public let entrySize: UInt64

    /// True if SHF_ALLOC is set.
    public var isAllocated: Bool { flags & Section.flagAlloc != 0 }
}

/// One program header (`Elf64_Phdr` or `Elf32_Phdr`, widened).
public struct Segment: Sendable, Hashable {
    /// PT_LOAD: a loadable segment.
    public static let typeLoad: UInt32 = 1

    /// Index in the program header table.
    public let index: Int
    /// `p_type`.
    public let type: UInt32
    /// `p_flags` (PF_X = 1, PF_W = 2, PF_R = 4).
    public let flags: UInt32
    /// `p_offset`: file offset of the first byte, in bytes.
    public let offset: UInt64
    /// `p_vaddr`: virtual address of the first byte.
    public let virtualAddress: UInt64
    /// `p_paddr`: physical address of the first byte.
    public let physicalAddress: UInt64
    /// `p_filesz`: bytes present in the file.
    public let fileSize: UInt64
    /// `p_memsz`: bytes occupied in memory (the excess over `fileSize` is zero-filled, like `.bss`).
    public let memorySize: UInt64
    /// `p_align` in bytes.
    public let alignment: UInt64

    /// True for PT_LOAD.
    public var isLoad: Bool { type == Segment.typeLoad }
}

/// Everything decoded from the file, validated.
struct ParsedELF {
    var elfClass: ELFClass = .elf64
    var fileType: UInt16 = 0
    var machine: UInt16 = 0
    var osABI: UInt8 = 0
    var entry: UInt64 = 0
    var sections: [Section] = []
    var segments: [Segment] = []
    var symbols: [Symbol] = []
}

/// A string table's location, already checked to lie inside the file, with the names
/// decoded so far. Decoding stops with an error once the bytes scanned exceed `budget`
/// (twice the table plus 64 KiB), so names overlapping within one huge string cannot make
/// a small file cost quadratic time or memory.
private struct StringTable {
    let label: String
    let offset: UInt64
    let size: UInt64
    var cache: [UInt32: String] = [:]
    var budget: UInt64

    init(label: String, offset: UInt64, size: UInt64) {
        self.label = label
        self.offset = offset
        self.size = size
        budget = size.multipliedReportingOverflow(by: 2).partialValue &+ 0x10000
    }
}

/// The two ELF classes the reader takes, and where their headers keep each field: ELF64
/// (amd64 and every 64-bit kernel) and ELF32 (i386). Every offset is checked like the other.
public enum ELFClass: UInt8, Sendable {
    /// ELFCLASS32: 32-bit addresses, offsets and sizes.
    case elf32 = 1
    /// ELFCLASS64.
    case elf64 = 2

    /// Bytes of an address, offset or size field (`Elf32_Addr`/`Elf64_Addr`): 4 or 8.
    public var wordSize: UInt64 { self == .elf64 ? 8 : 4 }
    var headerSize: UInt64 { self == .elf64 ? 64 : 52 }
    var sectionHeaderSize: UInt64 { self == .elf64 ? 64 : 40 }
    var programHeaderSize: UInt64 { self == .elf64 ? 56 : 32 }
    var symbolSize: UInt64 { self == .elf64 ? 24 : 16 }
    var name: String { self == .elf64 ? "Elf64" : "Elf32" }

    /// `e_entry`, `e_phoff`, `e_shoff`, then the 16-bit fields from `e_phentsize` on.
    var entryOffset: UInt64 { 24 }
    var phoffOffset: UInt64 { self == .elf64 ? 32 : 28 }
    var shoffOffset: UInt64 { self == .elf64 ? 40 : 32 }
    var phentsizeOffset: UInt64 { self == .elf64 ? 54 : 42 }
}

private let shnXIndex: UInt16 = 0xffff
private let pnXNum: UInt16 = 0xffff

/// Decodes and validates an ELF64 or ELF32 little-endian image held in `view`.
struct ELFParser {
    let view: ByteView
    let file: String
    /// Set from `EI_CLASS` before any other field is read.
    private var elfClass: ELFClass = .elf64

    init(view: ByteView, file: String) {
        self.view = view
        self.file = file
    }

    private var sectionHeaderSize: UInt64 { elfClass.sectionHeaderSize }
    private var programHeaderSize: UInt64 { elfClass.programHeaderSize }
    private var symbolSize: UInt64 { elfClass.symbolSize }

    private var fileSize: UInt64 { UInt64(view.count) }

    /// Throws `.truncated` unless `count` entries of `entrySize` bytes at `offset` fit in the file.
    private func requireFits(_ what: String, offset: UInt64, entrySize: UInt64, count: UInt64) throws(KernelImageError) {
        let (length, overflow) = entrySize.multipliedReportingOverflow(by: count)
        guard !overflow, view.contains(offset: offset, length: length) else {
            throw .truncated(file: file, what: what, offset: offset, entrySize: entrySize, count: count, fileSize: fileSize)
        }
    }

    /// Loads a field the caller has already range-checked; throws rather than trapping if not.
    private func load<T: FixedWidthInteger>(_ offset: UInt64, _ value: T?) throws(KernelImageError) -> T {
        guard let value else {
            throw .truncated(file: file, what: "field", offset: offset, entrySize: UInt64(MemoryLayout<T>.size), count: 1, fileSize: fileSize)
        }
        return value
    }
    private func u8(_ o: UInt64) throws(KernelImageError) -> UInt8 { try load(o, view.uint8(at: o)) }
    private func u16(_ o: UInt64) throws(KernelImageError) -> UInt16 { try load(o, view.uint16(at: o)) }
    private func u32(_ o: UInt64) throws(KernelImageError) -> UInt32 { try load(o, view.uint32(at: o)) }
    private func u64(_ o: UInt64) throws(KernelImageError) -> UInt64 { try load(o, view.uint64(at: o)) }
    /// An address, offset or size field of the class: 8 bytes, or 4 zero-extended.
    private func word(_ o: UInt64) throws(KernelImageError) -> UInt64 {
        elfClass == .elf64 ? try u64(o) : UInt64(try u32(o))
    }
    /// The largest address of the class plus one, as a bound for `address + size` (2^32 for ELF32).
    private func addressOverflows(_ base: UInt64, _ size: UInt64) -> Bool {
        let (end, overflow) = base.addingReportingOverflow(size)
        return overflow || (elfClass == .elf32 && end > 1 << 32)
    }

    /// Decodes the whole image; every offset and size is checked against the file first.
    func parse() throws(KernelImageError) -> ParsedELF {
        var parser = self
        return try parser.parseImage()
    }

    private mutating func parseImage() throws(KernelImageError) -> ParsedELF {
        var elf = ParsedELF()
        let magic = view.bytes(at: 0, length: min(4, fileSize)) ?? []
        guard magic == [0x7f, 0x45, 0x4c, 0x46] else { throw .badMagic(file: file, found: magic) }
        try requireFits("ELF identification", offset: 0, entrySize: 16, count: 1)
        let elfClassByte = try u8(4)
        guard let known = ELFClass(rawValue: elfClassByte) else { throw .unsupportedClass(file: file, value: elfClassByte) }
        elfClass = known
        elf.elfClass = known
        let data = try u8(5)
        guard data == 1 else { throw .unsupportedByteOrder(file: file, value: data) }
        let identVersion = try u8(6)
        guard identVersion == 1 else {
            throw .badField(file: file, field: "EI_VERSION", value: UInt64(identVersion), reason: "expected EV_CURRENT (1)")
        }
        elf.osABI = try u8(7)
        try requireFits("ELF header", offset: 0, entrySize: elfClass.headerSize, count: 1)
        elf.fileType = try u16(16)
        elf.machine = try u16(18)
        elf.entry = try word(elfClass.entryOffset)
        let phoff = try word(elfClass.phoffOffset)
        let shoff = try word(elfClass.shoffOffset)
        let fields = elfClass.phentsizeOffset  // e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        let phentsize = try u16(fields)
        var phnum = UInt64(try u16(fields + 2))
        let shentsize = try u16(fields + 4)
        var shnum = UInt64(try u16(fields + 6))
        var shstrndx = UInt64(try u16(fields + 8))
        let w = elfClass.wordSize  // section 0: sh_size, sh_link, sh_info follow sh_offset

        if shoff == 0 {
            guard shnum == 0 else {
                throw .badField(file: file, field: "e_shoff", value: 0, reason: "e_shnum is \(shnum) but there is no section header table")
            }
        } else {
            guard shentsize == sectionHeaderSize else {
                throw .badField(file: file, field: "e_shentsize", value: UInt64(shentsize),
                                reason: "expected \(hex(sectionHeaderSize)) (sizeof \(elfClass.name)_Shdr)")
            }
            // Section 0 holds the real counts when they do not fit in the header (extended numbering).
            if shnum == 0 || shstrndx == UInt64(shnXIndex) || phnum == UInt64(pnXNum) {
                try requireFits("section header 0", offset: shoff, entrySize: sectionHeaderSize, count: 1)
                if shnum == 0 { shnum = try word(shoff + 8 + 3 * w) }
                if shstrndx == UInt64(shnXIndex) { shstrndx = UInt64(try u32(shoff + 8 + 4 * w)) }
                if phnum == UInt64(pnXNum) { phnum = UInt64(try u32(shoff + 12 + 4 * w)) }
            }
            try requireFits("section header table", offset: shoff, entrySize: sectionHeaderSize, count: shnum)
        }
        guard shstrndx == 0 || shstrndx < shnum else {
            throw .badField(file: file, field: "e_shstrndx", value: shstrndx, reason: "there are only \(shnum) sections")
        }

        if phnum > 0 {
            guard phentsize == programHeaderSize else {
                throw .badField(file: file, field: "e_phentsize", value: UInt64(phentsize),
                                reason: "expected \(hex(programHeaderSize)) (sizeof \(elfClass.name)_Phdr)")
            }
            try requireFits("program header table", offset: phoff, entrySize: programHeaderSize, count: phnum)
        }
        elf.segments = try parseSegments(at: phoff, count: Int(phnum))
        elf.sections = try parseSections(at: shoff, count: Int(shnum), nameIndex: Int(shstrndx))
        // Counted and capped before any symbol is decoded, so the symbols are stored with one
        // allocation (a reservation per table made 1 M tables cost minutes: quadratic copying).
        let tables = elf.sections.filter { $0.type == Section.typeSymTab || $0.type == Section.typeDynSym }
        guard tables.count <= ELFParser.maximumSymbolTables else {
            throw .limitExceeded(file: file, what: "symbol tables (SHT_SYMTAB and SHT_DYNSYM sections)",
                                 count: UInt64(tables.count), limit: UInt64(ELFParser.maximumSymbolTables))
        }
        var symbolCount: UInt64 = 0
        for table in tables {
            symbolCount += min(table.size, fileSize) / symbolSize  // larger tables fail their checks later
            guard symbolCount <= UInt64(ELFParser.maximumSymbols) else {
                throw .limitExceeded(file: file, what: "symbols (in section \(label(table)) and the tables before it)",
                                     count: symbolCount, limit: UInt64(ELFParser.maximumSymbols))
            }
        }
        // Tables together may not exceed the file (checked per table below), nor may the reservation.
        elf.symbols.reserveCapacity(Int(min(symbolCount, fileSize / symbolSize)))
        var symbolBytes: UInt64 = 0
        for section in tables {
            try parseSymbols(section, sections: elf.sections, tableBytes: &symbolBytes, into: &elf.symbols)
        }
        return elf
    }

    /// The most symbol tables an image may have: a kernel has one `.symtab` and at most one
    /// `.dynsym`; more than this is refused (`KernelImageError.limitExceeded`).
    static let maximumSymbolTables = 1024
    /// The most symbols, all tables together: a FreeBSD GENERIC kernel has about 60,000 and one
    /// with every driver built in a few hundred thousand; more than this (16 M, about 1 GiB of
    /// decoded symbols) is refused (`KernelImageError.limitExceeded`).
    static let maximumSymbols = 16 << 20

    private func parseSegments(at phoff: UInt64, count: Int) throws(KernelImageError) -> [Segment] {
        var segments: [Segment] = []
        segments.reserveCapacity(count)
        for i in 0..<count {
            let h = phoff + UInt64(i) * programHeaderSize
            // Elf64_Phdr puts p_flags after p_type; Elf32_Phdr puts it after p_memsz.
            let segment = elfClass == .elf64
                ? Segment(index: i, type: try u32(h), flags: try u32(h + 4), offset: try u64(h + 8),
                          virtualAddress: try u64(h + 16), physicalAddress: try u64(h + 24),
                          fileSize: try u64(h + 32), memorySize: try u64(h + 40), alignment: try u64(h + 48))
                : Segment(index: i, type: try u32(h), flags: try u32(h + 24), offset: UInt64(try u32(h + 4)),
                          virtualAddress: UInt64(try u32(h + 8)), physicalAddress: UInt64(try u32(h + 12)),
                          fileSize: UInt64(try u32(h + 16)), memorySize: UInt64(try u32(h + 20)),
                          alignment: UInt64(try u32(h + 28)))
            if segment.isLoad {
                try requireFits("PT_LOAD segment \(i) contents", offset: segment.offset, entrySize: segment.fileSize, count: 1)
                guard segment.fileSize <= segment.memorySize else {
                    throw .badField(file: file, field: "p_filesz of segment \(i)", value: segment.fileSize,
                                    reason: "larger than p_memsz \(hex(segment.memorySize))")
                }
                guard !addressOverflows(segment.virtualAddress, segment.memorySize) else {
                    throw .badField(file: file, field: "p_memsz of segment \(i)", value: segment.memorySize,
                                    reason: "p_vaddr \(hex(segment.virtualAddress)) + p_memsz overflows")
                }
            }
            segments.append(segment)
        }
        return segments
    }

    private func parseSections(at shoff: UInt64, count: Int, nameIndex: Int) throws(KernelImageError) -> [Section] {
        func header(_ i: Int) -> UInt64 { shoff + UInt64(i) * sectionHeaderSize }
        var names: StringTable? = nil
        if nameIndex != 0 {
            let h = header(nameIndex)
            let type = try u32(h + 4)
            guard type == Section.typeStrTab else {
                throw .badField(file: file, field: "e_shstrndx", value: UInt64(nameIndex),
                                reason: "section \(nameIndex) has sh_type \(type), not SHT_STRTAB (3)")
            }
            names = try stringTable(at: h, label: "section \(nameIndex) (section names)")
        }
        var sections: [Section] = []
        sections.reserveCapacity(count)
        for i in 0..<count {
            let h = header(i)
            let nameOffset = try u32(h)
            var name = ""
            if names != nil {
                name = try string(in: &names!, at: nameOffset, field: "sh_name of section \(i)")
            }
            let w = elfClass.wordSize  // sh_flags, sh_addr, sh_offset, sh_size; sh_link, sh_info; two words
            let section = Section(
                index: i, name: name, type: try u32(h + 4), flags: try word(h + 8),
                address: try word(h + 8 + w), offset: try word(h + 8 + 2 * w), size: try word(h + 8 + 3 * w),
                link: try u32(h + 8 + 4 * w), info: try u32(h + 12 + 4 * w),
                addressAlignment: try word(h + 16 + 4 * w), entrySize: try word(h + 16 + 5 * w))
            if section.isAllocated && i != 0 {
                if section.type != Section.typeNoBits {
                    try requireFits("section \(label(section)) contents", offset: section.offset, entrySize: section.size, count: 1)
                }
                guard !addressOverflows(section.address, section.size) else {
                    throw .badField(file: file, field: "sh_size of section \(label(section))", value: section.size,
                                    reason: "sh_addr \(hex(section.address)) + sh_size overflows")
                }
            }
            sections.append(section)
        }
        return sections
    }

    private func label(_ section: Section) -> String {
        section.name.isEmpty ? "\(section.index)" : "\(section.index) (\(section.name))"
    }

    /// The string table whose section header is at `h`, checked to lie in the file.
    private func stringTable(at h: UInt64, label: String) throws(KernelImageError) -> StringTable {
        let offset = try word(h + 8 + 2 * elfClass.wordSize)
        let size = try word(h + 8 + 3 * elfClass.wordSize)
        try requireFits("string table \(label)", offset: offset, entrySize: size, count: 1)
        return StringTable(label: label, offset: offset, size: size)
    }

    /// The NUL-terminated string at `offset` in `table`; `field` names the referring field.
    private func string(in table: inout StringTable, at offset: UInt32, field: @autoclosure () -> String) throws(KernelImageError) -> String {
        if let cached = table.cache[offset] { return cached }
        let start = UInt64(offset)
        guard start < table.size else {
            throw .nameOutOfBounds(file: file, field: field(), offset: start, table: table.label, size: table.size)
        }
        let rest = table.size - start
        let limit = min(rest, table.budget)
        guard let nul = view.firstOffset(of: 0, at: table.offset + start, length: limit) else {
            if limit < rest { throw .namesTooLarge(file: file, table: table.label, budget: table.budget) }
            throw .unterminatedName(file: file, offset: start, table: table.label)
        }
        let length = nul - (table.offset + start)
        table.budget -= length + 1
        let name = view.string(at: table.offset + start, length: length) ?? ""
        table.cache[offset] = name
        return name
    }

    /// Appends the symbols of `section`; `tableBytes` totals the sizes of the tables seen so far.
    private func parseSymbols(_ section: Section, sections: [Section], tableBytes: inout UInt64,
                              into symbols: inout [Symbol]) throws(KernelImageError) {
        let name = label(section)
        let sym = "\(hex(symbolSize)) (sizeof \(elfClass.name)_Sym)"
        guard section.entrySize == symbolSize else {
            throw .badField(file: file, field: "sh_entsize of section \(name)", value: section.entrySize,
                            reason: "expected \(sym)")
        }
        guard section.size % symbolSize == 0 else {
            throw .badField(file: file, field: "sh_size of section \(name)", value: section.size,
                            reason: "not a multiple of \(sym)")
        }
        let count = section.size / symbolSize
        try requireFits("symbol table \(name)", offset: section.offset, entrySize: symbolSize, count: count)
        // Tables do not overlap in a real file; bounding their total keeps many headers naming
        // one range from multiplying the work. Both terms are at most the file size here.
        tableBytes += section.size
        guard tableBytes <= fileSize else {
            throw .badField(file: file, field: "sh_size of section \(name)", value: section.size,
                            reason: "symbol tables together exceed the file size \(hex(fileSize))")
        }
        guard Int(section.link) < sections.count, section.link != 0 else {
            throw .badLink(file: file, section: name, link: section.link, reason: "there are only \(sections.count) sections")
        }
        let linked = sections[Int(section.link)]
        guard linked.type == Section.typeStrTab else {
            throw .badLink(file: file, section: name, link: section.link,
                           reason: "section \(label(linked)) has sh_type \(linked.type), not SHT_STRTAB (3)")
        }
        var strings = StringTable(label: label(linked), offset: linked.offset, size: linked.size)
        try requireFits("string table \(strings.label)", offset: strings.offset, entrySize: strings.size, count: 1)
        let dynamic = section.type == Section.typeDynSym
        for i in 0..<count {
            let e = section.offset + i * symbolSize
            // Elf64_Sym: name, info, other, shndx, value, size; Elf32_Sym: name, value, size, info, other, shndx.
            let wide = elfClass == .elf64
            let info = try u8(wide ? e + 4 : e + 12)
            symbols.append(Symbol(
                name: try string(in: &strings, at: try u32(e), field: "st_name of symbol \(i) in \(name)"),
                value: wide ? try u64(e + 8) : UInt64(try u32(e + 4)),
                size: wide ? try u64(e + 16) : UInt64(try u32(e + 8)),
                kind: Symbol.Kind(rawValue: info & 0xf), binding: Symbol.Binding(rawValue: info >> 4),
                sectionIndex: try u16(wide ? e + 6 : e + 14), isDynamic: dynamic))
        }
    }
}
