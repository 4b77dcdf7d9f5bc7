/// amd64 cores: EM_X86_64, Linux `user_regs_struct` (gdb) and FreeBSD `struct reg`
/// (sys/x86/include/reg.h, spec beyond-amd64 §6.3) filled from the pcb's registers.

enum AMD64Core: CoreArchitecture {
    static let name = "amd64"
    static let gdbArchitecture: String? = nil
    static let elfMachine: UInt16 = 62
    static let linuxRegisterBytes = 27 * 8
    static let freebsdRegisterBytes = 176
    static let freebsdFPRegisterBytes = 512

    /// Kernel segment selectors (GSEL(GCODE_SEL, SEL_KPL), GSEL(GDATA_SEL, SEL_KPL)) and rflags.
    static let kernelCS: UInt64 = 0x20
    static let kernelSS: UInt64 = 0x28
    static let rflags: UInt64 = 0x2

    static func linuxRegisters(_ t: CoreThread) -> [UInt8] {
        func r(_ name: String) -> UInt64 { t.registers[name] ?? 0 }
        var d = ByteWriter(capacity: linuxRegisterBytes)
        for name in ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi"] {
            d.u64(r(name))
        }
        d.u64(UInt64.max)  // orig_rax
        d.u64(r("rip")); d.u64(kernelCS); d.u64(rflags); d.u64(r("rsp")); d.u64(kernelSS)
        d.zeros(6 * 8)  // fs_base gs_base ds es fs gs
        return d.bytes
    }

    static func freebsdRegisters(_ t: CoreThread) -> [UInt8] {
        func r(_ name: String) -> UInt64 { t.registers[name] ?? 0 }
        var d = ByteWriter(capacity: freebsdRegisterBytes)
        for name in ["r15", "r14", "r13", "r12", "r11", "r10", "r9", "r8", "rdi", "rsi", "rbp", "rbx", "rdx", "rcx", "rax"] {
            d.u64(r(name))
        }
        d.zeros(16)  // trapno fs gs err es ds
        d.u64(r("rip")); d.u64(kernelCS); d.u64(rflags); d.u64(r("rsp")); d.u64(kernelSS)
        return d.bytes
    }
}
