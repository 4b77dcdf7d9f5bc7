// A deterministic writer of minimal kernel-like ELF64 x86-64 executables, the ground
// truth for KernelImage tests and kernel fixtures.

/// One symbol to place in the `.symtab` of a generated kernel.
public struct KernelELFSymbol: Sendable, Hashable {
    /// The symbol type written to `st_info`.
    public enum SymbolType: UInt8, Sendable, Hashable {
        /// STT_NOTYPE.
        case noType = 0
        /// STT_OBJECT: a variable.
        case object = 1
        /// STT_FUNC: a function.
        case function = 2
    }

    /// The symbol binding written to `st_info`.
    public enum Binding: UInt8, Sendable, Hashable {
        /// STB_LOCAL (written before all non-local symbols, as ELF requires).
        case local = 0
        /// STB_GLOBAL.
        case global = 1
        /// STB_WEAK.
        case weak = 2
    }

    /// The section the symbol is defined in, written to `st_shndx`.
    public enum SectionRef: UInt16, Sendable, Hashable {
        /// SHN_UNDEF: an undefined symbol.
        case undefined = 0
        /// `.text` (section 1).
        case text = 1
        /// `.data` (section 2).
        case data = 2
        /// `.bss` (section 3).
        case bss = 3
        /// SHN_ABS: an absolute value.
        case absolute = 0xfff1
    }

    /// The name (written to `.strtab`; empty gives `st_name` 0).
    public var name: String
    /// `st_value`: the virtual address.
    public var value: UInt64
    /// `st_size` in bytes.
    public var size: UInt64
    /// The symbol type.
    public var type: SymbolType
    /// The defining section.
    public var section: SectionRef
    /// The binding.
    public var binding: Binding

    /// A symbol; global by default.
    public init(name: String, value: UInt64, size: UInt64, type: SymbolType, section: SectionRef, binding: Binding = .global) {
        self.name = name
        self.value = value
        self.size = size
        self.type = type
        self.section = section
        self.binding = binding
    }
}

/// The contents of a generated kernel ELF: three allocated sections and their symbols.
///
/// Addresses are virtual addresses; sizes are in bytes. The caller keeps the three ranges
/// from overlapping and places symbols inside them; the writer does not check.
public struct KernelELFDescription: Sendable, Hashable {
    /// Symbols for `.symtab`, in order (locals are moved first, keeping their relative order).
    public var symbols: [KernelELFSymbol]
    /// Virtual address of `.text`.
    public var textBase: UInt64
    /// Contents of `.text`.
    public var text: [UInt8]
    /// Virtual address of `.data`.
    public var dataBase: UInt64
    /// Contents of `.data` (initialised data).
    public var data: [UInt8]
    /// Virtual address of `.bss`.
    public var bssBase: UInt64
    /// Size of `.bss` in bytes (SHT_NOBITS: no file bytes).
    public var bssSize: UInt64
    /// `e_machine`: EM_X86_64 (62) by default, EM_AARCH64 (183) for an arm64 kernel.
    public var machine: UInt16 = 62

    /// A description; the default bases are FreeBSD amd64-like kernel addresses.
    public init(symbols: [KernelELFSymbol] = [],
                textBase: UInt64 = 0xffff_ffff_8020_0000, text: [UInt8] = [],
                dataBase: UInt64 = 0xffff_ffff_8100_0000, data: [UInt8] = [],
                bssBase: UInt64 = 0xffff_ffff_8180_0000, bssSize: UInt64 = 0) {
        self.symbols = symbols
        self.textBase = textBase
        self.text = text
        self.dataBase = dataBase
        self.data = data
        self.bssBase = bssBase
        self.bssSize = bssSize
    }
}

/// Little-endian byte sink.
private struct ELFBytes {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    /// Pads with zeros until the length is `residue` modulo `alignment`; returns the new length.
    mutating func pad(to alignment: UInt64, residue: UInt64 = 0) -> UInt64 {
        while UInt64(bytes.count) % alignment != residue % alignment { bytes.append(0) }
        return UInt64(bytes.count)
    }
}

/// Writes `d` as an ELF64 little-endian ET_EXEC file (EI_OSABI FreeBSD) for `d.machine`.
///
/// Layout, deterministic for a given description: ELF header; three PT_LOAD program
/// headers (`.text` R+X, `.data` R+W, `.bss` R+W with `p_filesz` 0); `.text` and `.data`
/// bytes, each at a file offset congruent to its address modulo 16; `.symtab`,
/// `.strtab`, `.shstrtab`; then the section header table, in the order
/// null, `.text` (1), `.data` (2), `.bss` (3), `.symtab` (4), `.strtab` (5), `.shstrtab` (6).
/// `e_entry` is `textBase`.
public func makeKernelELF(_ d: KernelELFDescription) -> [UInt8] {
    let sectionNames = ["", ".text", ".data", ".bss", ".symtab", ".strtab", ".shstrtab"]
    var shstrtab: [UInt8] = [0]
    var nameOffsets: [UInt32] = []
    for name in sectionNames {
        nameOffsets.append(name.isEmpty ? 0 : UInt32(shstrtab.count))
        if !name.isEmpty { shstrtab += Array(name.utf8) + [0] }
    }

    let ordered = d.symbols.filter { $0.binding == .local } + d.symbols.filter { $0.binding != .local }
    let firstNonLocal = UInt32(1 + d.symbols.filter { $0.binding == .local }.count)
    var strtab: [UInt8] = [0]
    var symtab = ELFBytes()
    symtab.bytes += [UInt8](repeating: 0, count: 24)
    for s in ordered {
        var nameOffset: UInt32 = 0
        if !s.name.isEmpty {
            nameOffset = UInt32(strtab.count)
            strtab += Array(s.name.utf8) + [0]
        }
        symtab.u32(nameOffset)
        symtab.u8(s.binding.rawValue << 4 | s.type.rawValue)
        symtab.u8(0)
        symtab.u16(s.section.rawValue)
        symtab.u64(s.value)
        symtab.u64(s.size)
    }

    let phnum: UInt16 = 3
    var out = ELFBytes()
    out.bytes = [UInt8](repeating: 0, count: 64 + Int(phnum) * 56)
    let textOffset = out.pad(to: 16, residue: d.textBase)
    out.bytes += d.text
    let dataOffset = out.pad(to: 16, residue: d.dataBase)
    out.bytes += d.data
    let bssOffset = out.pad(to: 16, residue: d.bssBase)
    let symtabOffset = out.pad(to: 8)
    out.bytes += symtab.bytes
    let strtabOffset = UInt64(out.bytes.count)
    out.bytes += strtab
    let shstrtabOffset = UInt64(out.bytes.count)
    out.bytes += shstrtab
    let shoff = out.pad(to: 8)

    func section(_ i: Int, type: UInt32, flags: UInt64, addr: UInt64, offset: UInt64, size: UInt64,
                 link: UInt32 = 0, info: UInt32 = 0, align: UInt64, entsize: UInt64 = 0) {
        out.u32(nameOffsets[i]); out.u32(type); out.u64(flags); out.u64(addr); out.u64(offset)
        out.u64(size); out.u32(link); out.u32(info); out.u64(align); out.u64(entsize)
    }
    section(0, type: 0, flags: 0, addr: 0, offset: 0, size: 0, align: 0)
    section(1, type: 1, flags: 0x6, addr: d.textBase, offset: textOffset, size: UInt64(d.text.count), align: 16)
    section(2, type: 1, flags: 0x3, addr: d.dataBase, offset: dataOffset, size: UInt64(d.data.count), align: 16)
    section(3, type: 8, flags: 0x3, addr: d.bssBase, offset: bssOffset, size: d.bssSize, align: 16)
    section(4, type: 2, flags: 0, addr: 0, offset: symtabOffset, size: UInt64(symtab.bytes.count),
            link: 5, info: firstNonLocal, align: 8, entsize: 24)
    section(5, type: 3, flags: 0, addr: 0, offset: strtabOffset, size: UInt64(strtab.count), align: 1)
    section(6, type: 3, flags: 0, addr: 0, offset: shstrtabOffset, size: UInt64(shstrtab.count), align: 1)

    var header = ELFBytes()
    header.bytes = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 9] + [UInt8](repeating: 0, count: 8)
    header.u16(2)
    header.u16(d.machine)
    header.u32(1)
    header.u64(d.textBase)
    header.u64(64)
    header.u64(shoff)
    header.u32(0)
    header.u16(64)
    header.u16(56)
    header.u16(phnum)
    header.u16(64)
    header.u16(UInt16(sectionNames.count))
    header.u16(UInt16(sectionNames.count - 1))
    func load(flags: UInt32, offset: UInt64, vaddr: UInt64, filesz: UInt64, memsz: UInt64) {
        header.u32(1); header.u32(flags); header.u64(offset); header.u64(vaddr); header.u64(vaddr)
        header.u64(filesz); header.u64(memsz); header.u64(16)
    }
    load(flags: 5, offset: textOffset, vaddr: d.textBase, filesz: UInt64(d.text.count), memsz: UInt64(d.text.count))
    load(flags: 6, offset: dataOffset, vaddr: d.dataBase, filesz: UInt64(d.data.count), memsz: UInt64(d.data.count))
    load(flags: 6, offset: bssOffset, vaddr: d.bssBase, filesz: 0, memsz: d.bssSize)
    out.bytes.replaceSubrange(0..<header.bytes.count, with: header.bytes)
    return out.bytes
}
