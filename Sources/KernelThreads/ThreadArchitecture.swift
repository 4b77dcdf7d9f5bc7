/// The table every architecture's thread support fills in. The list walk (`ThreadWalk.swift`) never
/// names an architecture; adding one means a file beside `AMD64Threads.swift`, `ARM64Threads.swift`,
/// `I386Threads.swift` and `RISCVThreads.swift` and a line in `threadArchitectures`.
import MinidumpCore

/// What the walk knows about the running kernel that a layout may depend on.
struct KernelFacts: Sendable, Equatable {
    /// `osreldate` (`__FreeBSD_version`), nil when the kernel has no such symbol or it is unreadable.
    var osreldate: UInt32?
    /// `pcb_size` from the kernel or the offsets file, nil when neither gives it.
    var pcbSize: Int? = nil
    /// The values of the architecture's `factSymbols` (pointer-sized words read from the dump) that could be read.
    var words: [String: UInt64] = [:]
}

protocol ThreadArchitecture: Sendable {
    /// The kernel ELF's `e_machine` this handles.
    static var elfMachine: UInt16 { get }
    /// A short name ("amd64").
    static var name: String { get }
    /// Bytes of a kernel pointer (and of a `long`, the word of `cpuset_t`): 8, or 4 on i386.
    static var pointerBytes: Int { get }
    /// Kernel variables the unwinder needs (their pointer-sized values arrive in `KernelFacts.words`).
    static var factSymbols: [String] { get }
    /// `sizeof(struct pcb)` when the kernel does not say (`pcb_size`).
    static var defaultPCBSize: Int { get }
    /// The `__FreeBSD_version` from which `stoppcbs` is a pointer to the array (nil: always an array).
    static var stoppcbsPointerSince: UInt32? { get }

    /// The names of the registers a pcb supplies, in the order reported.
    static var registerNames: [String] { get }

    /// Bytes of the pcb that hold the registers a debugger supplies (the layout may depend on the release).
    static func pcbRegisterBytes(_ kernel: KernelFacts) -> Int

    /// The values of `registerNames` in the pcb bytes (`pcbRegisterBytes` of them).
    static func registers(pcb: [UInt8], _ kernel: KernelFacts) -> [UInt64]

    /// A pointer read from kernel memory as the kernel compares it (arm64 strips PAC/TBI bits).
    static func canonical(_ pointer: UInt64) -> UInt64

    /// A tag for a symbol name (kept by the symbolizer, so the unwinder classifies frames without
    /// comparing strings); 0 for an ordinary function.
    static func symbolTag(_ name: String) -> UInt8

    /// Whether `va` is kernel memory (the kernel's INKERNEL).
    static func isKernelAddress(_ va: UInt64) -> Bool

    /// Unwinds from the pcb's registers.
    static func unwind(registers: [UInt64], memory: Memory, symbols: KernelSymbolizer,
                       limits: WalkLimits, kernel: KernelFacts) -> Backtrace
}

/// Every architecture with thread support, found by the kernel image's `e_machine`.
let threadArchitectures: [any ThreadArchitecture.Type] = [AMD64Threads.self, ARM64Threads.self, I386Threads.self, RISCVThreads.self]

extension ThreadArchitecture {
    static var pointerBytes: Int { 8 }
    static var factSymbols: [String] { [] }
}
