/// The threads an exported core describes: one small value per thread, so the source of the list
/// (KernelThreads, or only the crashed thread from `dumppcb`) is the caller's business.

/// One thread as the core's notes describe it.
public struct CoreThread: Sendable, Equatable {
    /// Thread id (`td_tid`): the debuggers' LWP number.
    public var tid: Int32
    /// Process id of the thread's process.
    public var pid: Int32
    /// Thread name (`td_name`); NT_FREEBSD_THRMISC keeps its first 19 bytes.
    public var name: String
    /// Command name of the process (`p_comm`).
    public var comm: String
    /// Saved registers by name (amd64 `rip`, `rsp`, `rbp`, `rbx`, `r12`...`r15`; arm64 `pc`, `sp`, `fp`, `lr`,
    /// `x19`...`x28`; i386 `eip`, `esp`, `ebp`, `ebx`, `esi`, `edi`; riscv `pc`, `ra`, `sp`, `gp`, `tp`, `s0`...`s11`); others are 0.
    public var registers: [String: UInt64]

    public init(tid: Int32, pid: Int32, name: String, comm: String, registers: [String: UInt64]) {
        self.tid = tid
        self.pid = pid
        self.name = name
        self.comm = comm
        self.registers = registers
    }
}
