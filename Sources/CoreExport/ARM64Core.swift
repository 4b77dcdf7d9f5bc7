/// arm64 cores: EM_AARCH64, Linux `user_pt_regs` (gdb: regs[31], sp, pc, pstate) and FreeBSD
/// `struct reg` (FSRC sys/arm64/include/reg.h: x[30], lr, sp, elr, spsr) filled from the pcb's
/// registers (pc sp fp lr x19–x28; the others 0). Both put x29 = fp and x30 = lr before sp and pc.

enum ARM64Core: CoreArchitecture {
    static let name = "arm64"
    static let gdbArchitecture: String? = "aarch64"
    static let elfMachine: UInt16 = 183
    static let linuxRegisterBytes = 34 * 8
    /// x[30], lr, sp, elr and a 32-bit spsr, padded to 8.
    static let freebsdRegisterBytes = 34 * 8
    /// `struct fpreg`: q[32], fpsr, fpcr, padded to the 16 of `__uint128_t`.
    static let freebsdFPRegisterBytes = 528
    /// PSTATE of a thread in the kernel: EL1h with D, A, I, F masked.
    static let kernelPSTATE: UInt64 = 0x3c5

    /// x0–x30, sp, pc, pstate: the order both layouts share.
    private static func words(_ t: CoreThread) -> [UInt64] {
        func r(_ name: String) -> UInt64 { t.registers[name] ?? 0 }
        var x = (0..<29).map { r("x\($0)") }
        x.append(r("fp"))
        x.append(r("lr"))
        return x + [r("sp"), r("pc"), kernelPSTATE]
    }

    static func linuxRegisters(_ t: CoreThread) -> [UInt8] {
        var d = ByteWriter(capacity: linuxRegisterBytes)
        for w in words(t) { d.u64(w) }
        return d.bytes
    }

    static func freebsdRegisters(_ t: CoreThread) -> [UInt8] {
        var d = ByteWriter(capacity: freebsdRegisterBytes)
        let w = words(t)
        for v in w.dropLast() { d.u64(v) }
        d.u32(UInt32(w.last!)); d.zeros(4)
        return d.bytes
    }
}
