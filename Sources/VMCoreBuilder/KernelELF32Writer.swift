// A deterministic writer of minimal kernel-like ELF32 i386 executables (EM_386), the ground
// truth for the 32-bit KernelImage tests and the i386 kernel fixture.

/// Little-endian byte sink for ELF32 structures.
private struct ELF32Bytes {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    /// Pads with zeros until the length is `residue` modulo `alignment`; returns the new length.
    mutating func pad(to alignment: UInt64, residue: UInt64 = 0) -> UInt32 {
        while UInt64(bytes.count) % alignment != residue % alignment { bytes.append(0) }
        return UInt32(bytes.count)
    }
}

/// `e_machine` of an i386 kernel.
public let elfMachine386: UInt16 = 3

/// Writes `d` as an ELF32 little-endian ET_EXEC file (EI_OSABI FreeBSD, `e_machine` `machine`),
/// with the layout `makeKernelELF` uses for ELF64: header, three PT_LOADs (`.text` R+X, `.data`
/// R+W, `.bss` R+W with `p_filesz` 0), the section contents, `.symtab` (16-byte `Elf32_Sym`),
/// `.strtab`, `.shstrtab`, then the section headers null, `.text`, `.data`, `.bss`, `.symtab`,
/// `.strtab`, `.shstrtab`. Addresses and sizes are truncated to 32 bits: the caller keeps them below 4 GiB.
public func makeKernelELF32(_ d: KernelELFDescription, machine: UInt16 = elfMachine386) -> [UInt8] {
    let sectionNames = ["", ".text", ".data", ".bss", ".symtab", ".strtab", ".shstrtab"]
    var shstrtab: [UInt8] = [0]
    var nameOffsets: [UInt32] = []
    for name in sectionNames {
        nameOffsets.append(name.isEmpty ? 0 : UInt32(shstrtab.count))
        if !name.isEmpty { shstrtab += Array(name.utf8) + [0] }
    }
    func w(_ v: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: v) }

    let ordered = d.symbols.filter { $0.binding == .local } + d.symbols.filter { $0.binding != .local }
    let firstNonLocal = UInt32(1 + d.symbols.filter { $0.binding == .local }.count)
    var strtab: [UInt8] = [0]
    var symtab = ELF32Bytes()
    symtab.bytes += [UInt8](repeating: 0, count: 16)
    for s in ordered {
        var nameOffset: UInt32 = 0
        if !s.name.isEmpty {
            nameOffset = UInt32(strtab.count)
            strtab += Array(s.name.utf8) + [0]
        }
        symtab.u32(nameOffset)
        symtab.u32(w(s.value))
        symtab.u32(w(s.size))
        symtab.u8(s.binding.rawValue << 4 | s.type.rawValue)
        symtab.u8(0)
        symtab.u16(s.section.rawValue)
    }

    let phnum: UInt16 = 3
    var out = ELF32Bytes()
    out.bytes = [UInt8](repeating: 0, count: 52 + Int(phnum) * 32)
    let textOffset = out.pad(to: 16, residue: d.textBase)
    out.bytes += d.text
    let dataOffset = out.pad(to: 16, residue: d.dataBase)
    out.bytes += d.data
    let bssOffset = out.pad(to: 16, residue: d.bssBase)
    let symtabOffset = out.pad(to: 4)
    out.bytes += symtab.bytes
    let strtabOffset = UInt32(out.bytes.count)
    out.bytes += strtab
    let shstrtabOffset = UInt32(out.bytes.count)
    out.bytes += shstrtab
    let shoff = out.pad(to: 4)

    func section(_ i: Int, type: UInt32, flags: UInt32, addr: UInt64, offset: UInt32, size: UInt64,
                 link: UInt32 = 0, info: UInt32 = 0, align: UInt32, entsize: UInt32 = 0) {
        out.u32(nameOffsets[i]); out.u32(type); out.u32(flags); out.u32(w(addr)); out.u32(offset)
        out.u32(w(size)); out.u32(link); out.u32(info); out.u32(align); out.u32(entsize)
    }
    section(0, type: 0, flags: 0, addr: 0, offset: 0, size: 0, align: 0)
    section(1, type: 1, flags: 0x6, addr: d.textBase, offset: textOffset, size: UInt64(d.text.count), align: 16)
    section(2, type: 1, flags: 0x3, addr: d.dataBase, offset: dataOffset, size: UInt64(d.data.count), align: 16)
    section(3, type: 8, flags: 0x3, addr: d.bssBase, offset: bssOffset, size: d.bssSize, align: 16)
    section(4, type: 2, flags: 0, addr: 0, offset: symtabOffset, size: UInt64(symtab.bytes.count),
            link: 5, info: firstNonLocal, align: 4, entsize: 16)
    section(5, type: 3, flags: 0, addr: 0, offset: strtabOffset, size: UInt64(strtab.count), align: 1)
    section(6, type: 3, flags: 0, addr: 0, offset: shstrtabOffset, size: UInt64(shstrtab.count), align: 1)

    var header = ELF32Bytes()
    header.bytes = [0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 9] + [UInt8](repeating: 0, count: 8)
    header.u16(2)
    header.u16(machine)
    header.u32(1)
    header.u32(w(d.textBase))
    header.u32(52)
    header.u32(shoff)
    header.u32(0)
    header.u16(52)
    header.u16(32)
    header.u16(phnum)
    header.u16(40)
    header.u16(UInt16(sectionNames.count))
    header.u16(UInt16(sectionNames.count - 1))
    func load(flags: UInt32, offset: UInt32, vaddr: UInt64, filesz: UInt64, memsz: UInt64) {
        header.u32(1); header.u32(offset); header.u32(w(vaddr)); header.u32(w(vaddr))
        header.u32(w(filesz)); header.u32(w(memsz)); header.u32(flags); header.u32(16)
    }
    load(flags: 5, offset: textOffset, vaddr: d.textBase, filesz: UInt64(d.text.count), memsz: UInt64(d.text.count))
    load(flags: 6, offset: dataOffset, vaddr: d.dataBase, filesz: UInt64(d.data.count), memsz: UInt64(d.data.count))
    load(flags: 6, offset: bssOffset, vaddr: d.bssBase, filesz: 0, memsz: d.bssSize)
    out.bytes.replaceSubrange(0..<header.bytes.count, with: header.bytes)
    return out.bytes
}
