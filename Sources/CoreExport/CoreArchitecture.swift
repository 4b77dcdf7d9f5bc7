/// The architecture-specific part of an exported core: `e_machine` and the registers in the notes.
/// The writer (`CoreExport.swift`, `ELFCore.swift`) never names an architecture; adding one is a file
/// beside `AMD64Core.swift`, `ARM64Core.swift` and `RISCVCore.swift` and a line in `coreArchitectures`.
import MinidumpCore

protocol CoreArchitecture: Sendable {
    /// The dump's architecture (`DumpHeader.architecture`) this writes cores for.
    static var name: String { get }
    /// `e_machine`.
    static var elfMachine: UInt16 { get }
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
let coreArchitectures: [any CoreArchitecture.Type] = [AMD64Core.self, ARM64Core.self, RISCVCore.self]

/// The core layout for `dump`'s architecture, or nil.
func coreArchitecture(named name: String) -> (any CoreArchitecture.Type)? {
    coreArchitectures.first { $0.name == name }
}

/// The gdb command line (program and `-iex` options) that reads a `--for gdb` core of `dump`:
/// `gdb -iex 'set osabi GNU/Linux'` for amd64, `gdb-multiarch -iex 'set architecture aarch64' -iex
/// 'set osabi GNU/Linux'` for arm64 (`riscv:rv64` for riscv).
public func gdbInvocation(for dump: Dump) -> String {
    let osabi = "-iex 'set osabi GNU/Linux'"
    guard let architecture = coreArchitecture(named: dump.header.architecture)?.gdbArchitecture else { return "gdb " + osabi }
    return "gdb-multiarch -iex 'set architecture \(architecture)' " + osabi
}
