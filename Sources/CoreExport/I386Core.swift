/// i386 cores: ELF32, EM_386, Linux `user_regs_struct` (gdb: 17 words, ebx ... ss) and FreeBSD
/// `struct reg` (FSRC sys/x86/include/reg.h, `__reg32`: 19 words, r_fs ... r_gs) filled from the pcb's
/// registers (eip esp ebp ebx esi edi; the others 0), with the kernel's selectors as kgdb supplies them
/// (PORTS devel/gdb/files/kgdb/i386fbsd-kern.c: cs GSEL(GCODE_SEL) 0x20, ds/es/gs/ss 0x28, fs 0x8).

enum I386Core: CoreArchitecture {
    static let name = "i386"
    static let gdbArchitecture: String? = "i386"
    /// The host's x86-64 gdb reads i386 cores once told the architecture.
    static let needsGDBMultiarch = false
    static let elfMachine: UInt16 = 3
    static let elfClass = ELFClass(is64: false)
    static let linuxRegisterBytes = 17 * 4
    static let freebsdRegisterBytes = 19 * 4
    /// `struct fpreg` (`__fpreg32`): fpr_env[7], fpr_acc[8][10], fpr_ex_sw, fpr_pad[64].
    static let freebsdFPRegisterBytes = 176

    static let codeSelector: UInt32 = 0x20, dataSelector: UInt32 = 0x28, privateSelector: UInt32 = 0x08
    static let eflags: UInt32 = 0x2

    private static func r(_ t: CoreThread, _ name: String) -> UInt32 { UInt32(truncatingIfNeeded: t.registers[name] ?? 0) }

    static func linuxRegisters(_ t: CoreThread) -> [UInt8] {
        var d = ByteWriter(capacity: linuxRegisterBytes)
        for name in ["ebx", "ecx", "edx", "esi", "edi", "ebp", "eax"] { d.u32(r(t, name)) }
        d.u32(dataSelector); d.u32(dataSelector); d.u32(privateSelector); d.u32(dataSelector)  // ds es fs gs
        d.u32(UInt32.max)  // orig_eax
        d.u32(r(t, "eip")); d.u32(codeSelector); d.u32(eflags); d.u32(r(t, "esp")); d.u32(dataSelector)
        return d.bytes
    }

    static func freebsdRegisters(_ t: CoreThread) -> [UInt8] {
        var d = ByteWriter(capacity: freebsdRegisterBytes)
        d.u32(privateSelector); d.u32(dataSelector); d.u32(dataSelector)  // fs es ds
        for name in ["edi", "esi", "ebp"] { d.u32(r(t, name)) }
        d.u32(0)  // isp
        for name in ["ebx", "edx", "ecx", "eax"] { d.u32(r(t, name)) }
        d.u32(0); d.u32(0)  // trapno err
        d.u32(r(t, "eip")); d.u32(codeSelector); d.u32(eflags); d.u32(r(t, "esp")); d.u32(dataSelector)
        d.u32(dataSelector)  // gs
        return d.bytes
    }
}
