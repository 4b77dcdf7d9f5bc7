/// ELF64 core-file building blocks: headers, program headers and notes, little-endian; the registers
/// come from the architecture's `CoreArchitecture`.

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
    static let headerSize = 64
    static let programHeaderSize = 56
    static let sectionHeaderSize = 64
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

/// Little-endian byte assembly for headers and notes.
struct ByteWriter {
    var bytes: [UInt8] = []
    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
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

    func encode(into w: inout ByteWriter) {
        w.u32(type); w.u32(flags); w.u64(offset); w.u64(vaddr); w.u64(paddr); w.u64(filesz); w.u64(memsz); w.u64(align)
    }
}

/// The notes: sizes fixed per flavor, so the PT_NOTE's size is known before anything is written.
enum CoreNotes {
    static func padded(_ n: Int) -> Int { (n + 3) & ~3 }
    static func noteSize(name: String, descSize: Int) -> Int { 12 + padded(name.utf8.count + 1) + padded(descSize) }

    static let linuxName = "CORE"
    static let freebsdName = "FreeBSD"
    /// `elf_prstatus` around `pr_reg`: siginfo, signals, ids and times before it, pr_fpvalid after.
    static let linuxPrstatusOverhead = 112 + 8
    static let linuxPrpsinfoSize = 136
    /// `prstatus_t` before `pr_reg`.
    static let freebsdPrstatusHeader = 48
    static let freebsdPrpsinfoSize = 120
    static let freebsdThrmiscSize = 24

    /// Bytes of the PT_NOTE's contents for `threads` threads.
    static func size(flavor: CoreFlavor, arch: any CoreArchitecture.Type, threads: Int) -> Int {
        switch flavor {
        case .gdb:
            return noteSize(name: linuxName, descSize: linuxPrpsinfoSize)
                + threads * noteSize(name: linuxName, descSize: linuxPrstatusOverhead + arch.linuxRegisterBytes)
        case .lldb:
            return noteSize(name: freebsdName, descSize: freebsdPrpsinfoSize)
                + threads * (noteSize(name: freebsdName, descSize: freebsdPrstatusHeader + arch.freebsdRegisterBytes)
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
    static func prpsinfo(flavor: CoreFlavor, program: String, first: CoreThread?) -> [UInt8] {
        let args = first.map { "\(program): thread \($0.tid) (\($0.name)) wrote the dump" } ?? "kernel"
        let pid = UInt32(bitPattern: first?.pid ?? 0)
        var d = ByteWriter(capacity: 136)
        switch flavor {
        case .gdb:
            d.u8(0); d.u8(UInt8(ascii: "R")); d.u8(0); d.u8(0); d.zeros(4)
            d.u64(0)  // pr_flag
            d.u32(0); d.u32(0)  // uid, gid
            d.u32(pid); d.u32(0); d.u32(pid); d.u32(pid)  // pid, ppid, pgrp, sid
            d.fixedString(program, 16)
            d.fixedString(args, 80)
        case .lldb:
            d.u32(1); d.zeros(4)  // pr_version
            d.u64(UInt64(freebsdPrpsinfoSize))
            d.fixedString(program, 17)
            d.fixedString(args, 81)
            d.zeros(2)
            d.u32(pid)
        }
        return d.bytes
    }

    /// NT_PRSTATUS for one thread.
    static func prstatus(flavor: CoreFlavor, arch: any CoreArchitecture.Type, thread t: CoreThread, osreldate: UInt32) -> [UInt8] {
        var d = ByteWriter(capacity: 512)
        switch flavor {
        case .gdb:
            d.zeros(32)  // siginfo, cursig, sigpend, sighold
            d.u32(UInt32(bitPattern: t.tid)); d.u32(0); d.u32(UInt32(bitPattern: t.pid)); d.u32(UInt32(bitPattern: t.pid))
            d.zeros(64)  // times
            d.bytes += arch.linuxRegisters(t)
            d.u32(0); d.zeros(4)  // pr_fpvalid, padding
        case .lldb:
            d.u32(1); d.zeros(4)  // pr_version
            d.u64(UInt64(freebsdPrstatusHeader + arch.freebsdRegisterBytes))
            d.u64(UInt64(arch.freebsdRegisterBytes)); d.u64(UInt64(arch.freebsdFPRegisterBytes))
            d.u32(osreldate); d.u32(0); d.u32(UInt32(bitPattern: t.tid)); d.zeros(4)
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
