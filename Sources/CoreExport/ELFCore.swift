/// ELF core-file building blocks (ELF64, or ELF32 for i386): headers, program headers and notes,
/// little-endian; the class and the registers come from the architecture's `CoreArchitecture`.

/// Which debugger's expectations the core meets.
public enum CoreFlavor: String, Sendable, CaseIterable {
    /// OSABI none and Linux-layout "CORE" notes (`elf_prstatus`, `user_regs_struct`): the layout
    /// gdb and gdb-multiarch read with `set osabi GNU/Linux` (Debian's gdb has no FreeBSD core support).
    case gdb
    /// OSABI FreeBSD and "FreeBSD" notes (`prstatus_t` with `struct reg`, `prpsinfo_t`, `thrmisc_t`),
    /// as LLDB's elf-core plugin reads them.
    case lldb
}

enum ELF {
    static let ptLoad: UInt32 = 1
    static let ptNote: UInt32 = 4
    static let pfX: UInt32 = 1
    static let pfW: UInt32 = 2
    static let pfR: UInt32 = 4
    /// e_phnum's escape value: the real count is in section header 0's sh_info.
    static let pnXNUM = 0xffff
    static let osabiNone: UInt8 = 0
    static let osabiFreeBSD: UInt8 = 9
}

/// The sizes an ELF class gives headers and words.
struct ELFClass: Equatable {
    /// ELFCLASS64 (else ELFCLASS32).
    let is64: Bool
    var identByte: UInt8 { is64 ? 2 : 1 }
    var headerSize: Int { is64 ? 64 : 52 }
    var programHeaderSize: Int { is64 ? 56 : 32 }
    var sectionHeaderSize: Int { is64 ? 64 : 40 }
    /// The largest offset or size a header field holds.
    var maximum: UInt64 { is64 ? UInt64.max : UInt64(UInt32.max) }
}

/// Little-endian byte assembly for headers and notes.
struct ByteWriter {
    var bytes: [UInt8] = []
    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    /// An address, offset or size: 8 bytes in ELF64, 4 in ELF32 (the caller checked that it fits).
    mutating func word(_ v: UInt64, _ elf: ELFClass) { if elf.is64 { u64(v) } else { u32(UInt32(truncatingIfNeeded: v)) } }
    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }
    /// `text` cut to `size - 1` bytes and NUL-padded to `size`.
    mutating func fixedString(_ text: String, _ size: Int) {
        let utf8 = Array(text.utf8.prefix(size - 1))
        bytes.append(contentsOf: utf8)
        zeros(size - utf8.count)
    }
    /// Overwrites the 64-bit word at `offset`.
    mutating func put64(_ v: UInt64, at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }
}

/// One program header.
struct ProgramHeader: Equatable {
    var type: UInt32
    var flags: UInt32
    var offset: UInt64
    var vaddr: UInt64
    var paddr: UInt64
    var filesz: UInt64
    var memsz: UInt64
    var align: UInt64

    /// Elf64_Phdr, or Elf32_Phdr (p_flags after p_memsz; a physical address above 4 GiB, PAE's, becomes 0).
    func encode(into w: inout ByteWriter, _ elf: ELFClass) {
        guard elf.is64 else {
            w.u32(type); w.word(offset, elf); w.word(vaddr, elf); w.word(paddr > elf.maximum ? 0 : paddr, elf)
            w.word(filesz, elf); w.word(memsz, elf); w.u32(flags); w.word(align, elf)
            return
        }
        w.u32(type); w.u32(flags); w.u64(offset); w.u64(vaddr); w.u64(paddr); w.u64(filesz); w.u64(memsz); w.u64(align)
    }
}

/// The notes: sizes fixed per flavor, so the PT_NOTE's size is known before anything is written.
enum CoreNotes {
    static func padded(_ n: Int) -> Int { (n + 3) & ~3 }
    static func noteSize(name: String, descSize: Int) -> Int { 12 + padded(name.utf8.count + 1) + padded(descSize) }

    static let linuxName = "CORE"
    static let freebsdName = "FreeBSD"
    /// `elf_prstatus` around `pr_reg`: siginfo, signals, ids and times before it, pr_fpvalid after
    /// (i386: 32-bit longs and timevals, no padding after pr_fpvalid).
    static func linuxPrstatusOverhead(_ elf: ELFClass) -> Int { elf.is64 ? 112 + 8 : 72 + 4 }
    /// `elf_prpsinfo` (i386: 16-bit uid and gid).
    static func linuxPrpsinfoSize(_ elf: ELFClass) -> Int { elf.is64 ? 136 : 124 }
    /// `prstatus_t` before `pr_reg` (size_t fields are 4 bytes on i386).
    static func freebsdPrstatusHeader(_ elf: ELFClass) -> Int { elf.is64 ? 48 : 28 }
    static func freebsdPrpsinfoSize(_ elf: ELFClass) -> Int { elf.is64 ? 120 : 112 }
    static let freebsdThrmiscSize = 24

    /// Bytes of the PT_NOTE's contents for `threads` threads.
    static func size(flavor: CoreFlavor, arch: any CoreArchitecture.Type, threads: Int) -> Int {
        let elf = arch.elfClass
        switch flavor {
        case .gdb:
            return noteSize(name: linuxName, descSize: linuxPrpsinfoSize(elf))
                + threads * noteSize(name: linuxName, descSize: linuxPrstatusOverhead(elf) + arch.linuxRegisterBytes)
        case .lldb:
            return noteSize(name: freebsdName, descSize: freebsdPrpsinfoSize(elf))
                + threads * (noteSize(name: freebsdName, descSize: freebsdPrstatusHeader(elf) + arch.freebsdRegisterBytes)
                             + noteSize(name: freebsdName, descSize: freebsdThrmiscSize))
        }
    }

    static func note(_ w: inout ByteWriter, name: String, type: UInt32, desc: [UInt8]) {
        let nameBytes = Array(name.utf8) + [0]
        w.u32(UInt32(nameBytes.count)); w.u32(UInt32(desc.count)); w.u32(type)
        w.bytes.append(contentsOf: nameBytes); w.zeros(padded(nameBytes.count) - nameBytes.count)
        w.bytes.append(contentsOf: desc); w.zeros(padded(desc.count) - desc.count)
    }

    /// The process-wide note: `fname` is the kernel's file name, the arguments say which thread crashed.
    static func prpsinfo(flavor: CoreFlavor, elf: ELFClass, program: String, first: CoreThread?) -> [UInt8] {
        let args = first.map { "\(program): thread \($0.tid) (\($0.name)) wrote the dump" } ?? "kernel"
        let pid = UInt32(bitPattern: first?.pid ?? 0)
        var d = ByteWriter(capacity: 136)
        switch flavor {
        case .gdb:
            d.u8(0); d.u8(UInt8(ascii: "R")); d.u8(0); d.u8(0)
            if elf.is64 {
                d.zeros(4); d.u64(0)  // padding, pr_flag
                d.u32(0); d.u32(0)  // uid, gid
            } else {
                d.u32(0)  // pr_flag
                d.u16(0); d.u16(0)  // uid, gid
            }
            d.u32(pid); d.u32(0); d.u32(pid); d.u32(pid)  // pid, ppid, pgrp, sid
            d.fixedString(program, 16)
            d.fixedString(args, 80)
        case .lldb:
            d.u32(1)  // pr_version
            if elf.is64 { d.zeros(4) }
            d.word(UInt64(freebsdPrpsinfoSize(elf)), elf)
            d.fixedString(program, 17)
            d.fixedString(args, 81)
            d.zeros(2)
            d.u32(pid)
        }
        return d.bytes
    }

    /// NT_PRSTATUS for one thread.
    static func prstatus(flavor: CoreFlavor, arch: any CoreArchitecture.Type, thread t: CoreThread, osreldate: UInt32) -> [UInt8] {
        let elf = arch.elfClass
        var d = ByteWriter(capacity: 512)
        switch flavor {
        case .gdb:
            d.zeros(elf.is64 ? 32 : 24)  // siginfo, cursig, sigpend, sighold
            d.u32(UInt32(bitPattern: t.tid)); d.u32(0); d.u32(UInt32(bitPattern: t.pid)); d.u32(UInt32(bitPattern: t.pid))
            d.zeros(elf.is64 ? 64 : 32)  // times
            d.bytes += arch.linuxRegisters(t)
            d.u32(0)  // pr_fpvalid
            if elf.is64 { d.zeros(4) }
        case .lldb:
            d.u32(1)  // pr_version
            if elf.is64 { d.zeros(4) }
            d.word(UInt64(freebsdPrstatusHeader(elf) + arch.freebsdRegisterBytes), elf)
            d.word(UInt64(arch.freebsdRegisterBytes), elf); d.word(UInt64(arch.freebsdFPRegisterBytes), elf)
            d.u32(osreldate); d.u32(0); d.u32(UInt32(bitPattern: t.tid))
            if elf.is64 { d.zeros(4) }
            d.bytes += arch.freebsdRegisters(t)
        }
        return d.bytes
    }

    /// NT_FREEBSD_THRMISC: the thread name.
    static func thrmisc(_ t: CoreThread) -> [UInt8] {
        var d = ByteWriter(capacity: 24)
        d.fixedString(t.name, 20)
        d.zeros(4)
        return d.bytes
    }
}
