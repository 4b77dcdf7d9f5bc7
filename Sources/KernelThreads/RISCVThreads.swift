/// riscv (RV64): `struct pcb` (FSRC sys/riscv/include/pcb.h: pcb_ra, pcb_sp, pcb_gp, pcb_tp, pcb_s[12], as
/// kgdb's riscv-fbsd-kern.c and LLDB's RegisterContextFreeBSDKernelCore_riscv64.cpp read it; the older pcb with
/// pcb_t[7] and pcb_a[8] by its `pcb_size`), INKERNEL, ddb's
/// frame-pointer walk (sys/riscv/riscv/db_trace.c, unwind.c: the frame pointer s0 points just above the saved
/// pair, ra at fp - 8, the caller's s0 at fp - 16) and its trapframes (exception.S:
/// cpu_exception_handler_supervisor and cpu_exception_handler_user; sys/riscv/include/frame.h).
import MinidumpCore

enum RISCVThreads: ThreadArchitecture {
    static let elfMachine: UInt16 = 243
    static let name = "riscv"
    /// sizeof(struct pcb) from sys/riscv/include/pcb.h: 16 integer registers, pcb_x[32][2], pcb_fcsr,
    /// pcb_fpflags, pcb_onfault (0x298); only used when the kernel lacks `pcb_size`.
    static let defaultPCBSize = 0x298
    /// riscv declares `struct pcb stoppcbs[MAXCPU]` (sys/riscv/riscv/mp_machdep.c): always an array.
    static let stoppcbsPointerSince: UInt32? = nil

    /// The registers a pcb holds, reported in this order: pc (= pcb_ra, where the thread resumes, as kgdb
    /// and LLDB supply it), ra, sp, gp, tp, then s0 (the frame pointer) to s11.
    static let registerNames = ["pc", "ra", "sp", "gp", "tp", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
                                "s10", "s11"]

    /// The sizes of the older `struct pcb` that also held pcb_t[7] (between pcb_tp and pcb_s) and pcb_a[8]
    /// (after it), as kgdb's older riscv-fbsd-kern.c read 31 words: with the FP state, pcb_sepc and
    /// pcb_onfault 0x318 bytes, before the FP state (pcb_sepc, pcb_l1addr, pcb_onfault) 0x110. Only
    /// `pcb_size` tells the layouts apart; without it the current one (0x298) is assumed, as LLDB does.
    static let fullPCBSizes: Set<Int> = [0x318, 0x110]

    /// Byte offset of pcb_s[0]: 0x20 in the current pcb, 0x58 after pcb_t[7] in the older one.
    static func s0Offset(_ kernel: KernelFacts) -> Int { kernel.pcbSize.map(fullPCBSizes.contains) == true ? 0x58 : 0x20 }

    /// pcb_ra, pcb_sp, pcb_gp, pcb_tp (offset 0) and pcb_s[12].
    static func pcbRegisterBytes(_ kernel: KernelFacts) -> Int { s0Offset(kernel) + 12 * 8 }

    static func registers(pcb: [UInt8], _ kernel: KernelFacts) -> [UInt64] {
        let f = Fields(bytes: pcb, base: 0)
        var out: [UInt64] = []
        out.reserveCapacity(registerNames.count)
        guard let ra = f.u64(0) else { return [] }
        out.append(ra)
        let s0 = s0Offset(kernel)
        for offset in [0, 8, 16, 24] + (0..<12).map({ s0 + 8 * $0 }) {
            guard let value = f.u64(offset) else { return [] }
            out.append(value)
        }
        return out
    }

    /// riscv pointers carry no tag bits.
    static func canonical(_ pointer: UInt64) -> UInt64 { pointer }

    /// The top 256 GiB: the kernel map from VM_MIN_KERNEL_ADDRESS 0xffffffc000000000 and the direct map
    /// [0xffffffd000000000, 0xfffffff000000000) (sys/riscv/include/vmparam.h; the same in Sv39 and Sv48).
    static func isKernelAddress(_ va: UInt64) -> Bool { va >= 0xffff_ffc0_0000_0000 }

    /// Tags: 1 `cpu_exception_handler_supervisor`, 2 `cpu_exception_handler_user` (ddb's two trapframe
    /// frames), 4 `fork_trampoline` (the bottom of a kernel thread).
    static func symbolTag(_ name: String) -> UInt8 {
        switch name {
        case "cpu_exception_handler_supervisor": 1
        case "cpu_exception_handler_user": 2
        case "fork_trampoline": 4
        default: 0
        }
    }

    /// scause's interrupt bit (SCAUSE_INTR, sys/riscv/include/riscvreg.h).
    static let interruptBit: UInt64 = 1 << 63
    /// SCAUSE_ECALL_USER: a system call.
    static let ecallUser: UInt64 = 8

    /// The exception codes of riscvreg.h in words.
    static func exceptionName(_ code: UInt64) -> String? {
        switch code {
        case 0: "instruction address misaligned"
        case 1: "instruction access fault"
        case 2: "illegal instruction"
        case 3: "breakpoint"
        case 4: "load address misaligned"
        case 5: "load access fault"
        case 6: "store address misaligned"
        case 7: "store access fault"
        case 8: "environment call from U-mode"
        case 9: "environment call from S-mode"
        case 12: "instruction page fault"
        case 13: "load page fault"
        case 15: "store page fault"
        default: nil
        }
    }

    /// The supervisor interrupt codes of the privileged specification in words.
    static func interruptName(_ code: UInt64) -> String? {
        switch code {
        case 1: "supervisor software interrupt"
        case 5: "supervisor timer interrupt"
        case 9: "supervisor external interrupt"
        default: nil
        }
    }

    /// `struct trapframe` (sys/riscv/include/frame.h): tf_ra, tf_sp, tf_gp, tf_tp, tf_t[7], tf_s[12], tf_a[8],
    /// tf_sepc, tf_sstatus, tf_stval, tf_scause; 35 words.
    enum TF {
        static let size = 35 * 8
        static let sp = 0x08, t0 = 0x20, s0 = 0x58, sepc = 0xf8, sstatus = 0x100, stval = 0x108, scause = 0x110
    }

    /// Frame 0 from the pcb (pc = pcb_ra, sp = pcb_sp, fp = pcb_s[0]), then ddb's unwind_frame: [fp - 16] the
    /// caller's s0, [fp - 8] the return address, and a frame found at fp has sp = fp (the callee's frame
    /// starts where the caller's sp was). A return address whose call (ra − 4, as unwind_frame gives it to
    /// the symbol lookup) lies in cpu_exception_handler_supervisor or cpu_exception_handler_user makes a
    /// trapframe frame: its trapframe lies at that frame's sp (save_registers builds it at the handler's sp,
    /// then calls do_trap_*), and the walk goes on from tf_sepc / tf_sp / tf_s[0] unless the handler is the
    /// user one. `fork_trampoline` ends a kernel thread. Frame pointers must be 8-byte aligned (unwind_frame)
    /// and increase between trapframes, and a trapframe's s0 may not come again.
    static func unwind(registers: [UInt64], memory: Memory, symbols: KernelSymbolizer,
                       limits: WalkLimits, kernel: KernelFacts) -> Backtrace {
        guard registers.count == registerNames.count else {
            return Backtrace(frames: [], stop: .unreadable, detail: "the pcb's registers are incomplete")
        }
        var fp = registers[5]
        var list = FrameList(symbols: symbols)
        if let end = list.start(pc: registers[0], sp: registers[2], fp: fp, pcName: "pcb_ra", limits: limits,
                                isKernel: isKernelAddress, forkTrampolineTag: 4) { return end }
        var trapFPs: [UInt64] = []
        var stack = PageReader(memory: memory)
        while true {
            guard list.count < limits.maxFrames else { return list.done(.frameLimit, "\(limits.maxFrames) frames") }
            guard isKernelAddress(fp) else { return list.done(.fpNotKernel, "frame pointer \(hex(fp)) is not a kernel address") }
            guard fp & 7 == 0 else { return list.done(.fpNotKernel, "frame pointer \(hex(fp)) is not 8-byte aligned") }
            // fp is a kernel address, so fp - 16 does not wrap.
            guard let next = stack.u64(fp &- 16), let ret = stack.u64(fp &- 8) else {
                return list.done(.unreadable, "frame record below \(memory.hexAddress(fp)) is not in the dump")
            }
            guard ret != 0 else { return list.done(.zeroReturnAddress, "return address at \(memory.hexAddress(fp &- 8)) is 0") }
            guard isKernelAddress(ret) else {
                return list.done(.pcNotKernel, "return address \(hex(ret)) at \(memory.hexAddress(fp &- 8)) is not a kernel address")
            }
            let tag = symbols.entry(ret &- 4).map { symbols.tag($0.index) } ?? 0
            guard tag != 0 else {
                list.add(ret, fp, next)
                if isKernelAddress(next) && next <= fp {
                    return list.done(.loop, "saved frame pointer \(hex(next)) at \(memory.hexAddress(fp &- 16)) does not lie above \(hex(fp))")
                }
                fp = next
                continue
            }
            if tag == 4 {
                list.add(ret, fp, next)
                return list.done(.threadStart, .forkTrampoline)
            }
            // A handler: its trapframe is at the handler frame's sp, which is fp.
            guard let bytes = memory.bytes(fp, TF.size) else {
                list.add(ret, fp, next)
                return list.done(.unreadable, "trapframe at \(memory.hexAddress(fp)) is not in the dump")
            }
            let f = Fields(bytes: bytes, base: 0)
            let sepc = f.u64(TF.sepc)!, tfSP = f.u64(TF.sp)!, tfS0 = f.u64(TF.s0)!, scause = f.u64(TF.scause)!
            let code = scause & ~interruptBit
            let fromUser = tag == 2
            var kind = "exception", number = code, name = exceptionName(code)
            var head = "--- exception \(code), tval = \(hex(f.u64(TF.stval)!))"
            if scause & interruptBit != 0 {
                kind = "interrupt"
                name = interruptName(code)
                head = "--- interrupt \(code)"
            } else if scause == ecallUser {
                kind = "syscall"
                number = f.u64(TF.t0)!
                name = nil
                head = "--- syscall (\(number))"
            }
            list.add(ret, fp, next, trap: TrapFrameInfo(
                kind: kind, number: number, name: name, address: VirtualAddress(fp), pc: sepc, sp: tfSP, fp: tfS0,
                fromUser: fromUser, registerNames: ("sepc", "sp", "s0"), head: head))
            if fromUser { return list.done(.userTrapframe, .fromUser(kind: kind, trapframe: fp, width: memory.dump.addressWidth)) }
            guard list.count < limits.maxFrames else { return list.done(.frameLimit, "\(limits.maxFrames) frames") }
            list.add(sepc, tfSP, tfS0)
            guard sepc != 0 else { return list.done(.noPC, "kernel-mode trapframe at \(memory.hexAddress(fp)) has sepc 0") }
            guard isKernelAddress(sepc) else { return list.done(.pcNotKernel, "trapframe sepc \(hex(sepc)) is not a kernel address") }
            if trapFPs.contains(tfS0) { return list.done(.loop, "trapframe s0 \(hex(tfS0)) was seen before") }
            trapFPs.append(tfS0)
            fp = tfS0
        }
    }
}
