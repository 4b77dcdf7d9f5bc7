/// The architecture-specific part of an exported core: `e_machine` and the registers in the notes.
/// The writer (`CoreExport.swift`, `ELFCore.swift`) never names an architecture; adding one is a file
/// beside `AMD64Core.swift`, `ARM64Core.swift`, `I386Core.swift` and `RISCVCore.swift` and a line in `coreArchitectures`.
import MinidumpCore

protocol CoreArchitecture: Sendable {
    /// The dump's architecture (`DumpHeader.architecture`) this writes cores for.
    static var name: String { get }
    /// `e_machine`.
    static var elfMachine: UInt16 { get }
    /// ELFCLASS64, or ELFCLASS32 with 32-bit note layouts (i386).
    static var elfClass: ELFClass { get }
    /// Whether gdb-multiarch is needed (else the host's gdb reads the core with `set architecture`).
    static var needsGDBMultiarch: Bool { get }
    /// gdb's `set architecture` name when the host's plain gdb cannot read the core (then gdb-multiarch
    /// is named); nil for the host's own architecture.
    static var gdbArchitecture: String? { get }
    /// Bytes of the Linux `elf_prstatus` register set (`pr_reg`), as gdb reads it.
    static var linuxRegisterBytes: Int { get }
    /// Bytes of FreeBSD's `struct reg` (`pr_gregsetsz`) and `struct fpreg` (`pr_fpregsetsz`).
    static var freebsdRegisterBytes: Int { get }
    static var freebsdFPRegisterBytes: Int { get }
    /// `pr_reg` of the Linux `elf_prstatus` for `thread` (`linuxRegisterBytes` bytes).
    static func linuxRegisters(_ thread: CoreThread) -> [UInt8]
    /// FreeBSD's `struct reg` for `thread` (`freebsdRegisterBytes` bytes).
    static func freebsdRegisters(_ thread: CoreThread) -> [UInt8]
}

/// Every architecture the core writer lays out, found by the dump's architecture name.
let coreArchitectures: [any CoreArchitecture.Type] = [AMD64Core.self, ARM64Core.self, I386Core.self, RISCVCore.self]

extension CoreArchitecture {
    static var elfClass: ELFClass { ELFClass(is64: true) }
    static var needsGDBMultiarch: Bool { gdbArchitecture != nil }
}

/// The core layout for `dump`'s architecture, or nil.
func coreArchitecture(named name: String) -> (any CoreArchitecture.Type)? {
    coreArchitectures.first { $0.name == name }
}

/// The gdb command line (program and `-iex` options) that reads a `--for gdb` core of `dump`:
/// `gdb -iex 'set osabi GNU/Linux'` for amd64, `gdb-multiarch -iex 'set architecture aarch64' -iex
/// 'set osabi GNU/Linux'` for arm64 (`riscv:rv64` for riscv), `gdb -iex 'set architecture i386' -iex 'set osabi GNU/Linux'` for i386.
public func gdbInvocation(for dump: Dump) -> String {
    let osabi = "-iex 'set osabi GNU/Linux'"
    guard let arch = coreArchitecture(named: dump.header.architecture), let architecture = arch.gdbArchitecture else {
        return "gdb " + osabi
    }
    return (arch.needsGDBMultiarch ? "gdb-multiarch" : "gdb") + " -iex 'set architecture \(architecture)' " + osabi
}
