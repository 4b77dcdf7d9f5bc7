/// riscv cores: EM_RISCV, Linux `user_regs_struct` (gdb: pc, ra, sp, gp, tp, t0–t2, s0–s1, a0–a7, s2–s11,
/// t3–t6) and FreeBSD `struct reg` (FSRC sys/riscv/include/reg.h: ra, sp, gp, tp, t[7], s[12], a[8], sepc,
/// sstatus) filled from the pcb's registers (pc ra sp gp tp s0–s11; the others 0).

enum RISCVCore: CoreArchitecture {
    static let name = "riscv"
    static let gdbArchitecture: String? = "riscv:rv64"
    static let elfMachine: UInt16 = 243
    /// ELF_NGREG = 32 words.
    static let linuxRegisterBytes = 32 * 8
    /// 33 words.
    static let freebsdRegisterBytes = 33 * 8
    /// `struct fpreg`: fp_x[32][2] and fp_fcsr.
    static let freebsdFPRegisterBytes = 32 * 16 + 8
    /// sstatus of a thread in the kernel: SPP (the trap came from supervisor mode).
    static let kernelSSTATUS: UInt64 = 0x100

    private static func value(_ t: CoreThread, _ name: String) -> UInt64 { t.registers[name] ?? 0 }

    static func linuxRegisters(_ t: CoreThread) -> [UInt8] {
        var d = ByteWriter(capacity: linuxRegisterBytes)
        let names = ["pc", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1"] + (0..<8).map { "a\($0)" }
            + (2...11).map { "s\($0)" } + (3...6).map { "t\($0)" }
        for name in names { d.u64(value(t, name)) }
        return d.bytes
    }

    static func freebsdRegisters(_ t: CoreThread) -> [UInt8] {
        var d = ByteWriter(capacity: freebsdRegisterBytes)
        let names = ["ra", "sp", "gp", "tp"] + (0..<7).map { "t\($0)" } + (0..<12).map { "s\($0)" } + (0..<8).map { "a\($0)" }
        for name in names { d.u64(value(t, name)) }
        d.u64(value(t, "pc"))  // sepc: where the thread resumes
        d.u64(kernelSSTATUS)
        return d.bytes
    }
}
