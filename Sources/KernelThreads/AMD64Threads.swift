/// amd64: `struct pcb`, INKERNEL, the frame-pointer walk and the trap-frame rules of ddb
/// (FSRC sys/amd64/amd64/db_trace.c), with kgdb's trap stubs (PORTS amd64fbsd-kern.c). Spec §4–§7.
import MinidumpCore

enum AMD64Threads: ThreadArchitecture {
    static let elfMachine: UInt16 = 62
    static let name = "amd64"
    /// sizeof(struct pcb) = 0x140 (sys/amd64/include/pcb.h).
    static let defaultPCBSize = 0x140
    /// LLVM PR #222977: from __FreeBSD_version 1400089 `stoppcbs` is a pointer (FreeBSD 0f2bb40bc7dd).
    static let stoppcbsPointerSince: UInt32? = 1_400_089

    /// The pcb's field order (8 bytes each from offset 0).
    private static let pcbOrder = ["r15", "r14", "r13", "r12", "rbp", "rsp", "rbx", "rip"]
    /// The order the registers are reported in (LLDB's set).
    static let registerNames = ["rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15"]

    /// For each name of `reportOrder`, its slot in `pcbOrder`.
    private static let reportSlots = [7, 5, 4, 6, 3, 2, 1, 0]

    /// The first eight fields (r15 r14 r13 r12 rbp rsp rbx rip) are the debugger ABI, in every release.
    static func pcbRegisterBytes(_ kernel: KernelFacts) -> Int { 0x40 }

    static func registers(pcb: [UInt8], _ kernel: KernelFacts) -> [UInt64] {
        let fields = Fields(bytes: pcb, base: 0)
        var out: [UInt64] = []
        out.reserveCapacity(8)
        for slot in reportSlots {
            guard let value = fields.u64(8 * slot) else { return [] }
            out.append(value)
        }
        return out
    }

    /// amd64 pointers carry no tag bits.
    static func canonical(_ pointer: UInt64) -> UInt64 { pointer }

    /// INKERNEL for LA48 (sys/amd64/include/vmparam.h): the direct map [0xfffff80000000000, 0xfffffc0000000000)
    /// or the kernel map from VM_MIN_KERNEL_ADDRESS 0xfffffe0000000000 to the top.
    static func isKernelAddress(_ va: UInt64) -> Bool {
        (va >= 0xffff_f800_0000_0000 && va < 0xffff_fc00_0000_0000) || va >= 0xffff_fe00_0000_0000
    }

    /// ddb's frame types by the stub a return address lies in (db_nextframe, looked up at rip - 1).
    enum StubKind: String {
        case trap, interrupt, syscall
    }

    /// Tags: 1 trap, 2 interrupt, 3 syscall, 4 fork_trampoline (a trap stub that ends a kernel thread).
    static func symbolTag(_ name: String) -> UInt8 {
        if name == "fork_trampoline" { return 4 }
        switch stubKind(name) {
        case .trap?: return 1
        case .interrupt?: return 2
        case .syscall?: return 3
        case nil: return 0
        }
    }

    static func stubKind(_ function: String) -> StubKind? {
        switch function {
        case "calltrap", "fork_trampoline", "mchk_calltrap", "nmi_calltrap", "Xdblfault": return .trap
        case "Xxen_intr_upcall", "Xtimerint", "Xipi_intr_bitmap_handler", "Xcpustop", "Xcpususpend", "Xrendezvous":
            return .interrupt
        case "Xfast_syscall", "Xfast_syscall_pti", "fast_syscall_common", "Xint0x80_syscall": return .syscall
        default:
            return function.hasPrefix("Xatpic_intr") || function.hasPrefix("Xapic_isr") ? .interrupt : nil
        }
    }

    /// `trap_msg[]` of sys/amd64/amd64/trap.c (T_USER, 0x100, masked off): the shared x86 names and this architecture's own.
    private static let ownTrapNames: [UInt64: String] = [10: "trace trap", 30: "reserved (unknown) fault", 33: "DTrace fasttrap probe trap"]
    static func trapName(_ number: UInt64) -> String? { x86TrapName(number, own: ownTrapNames) }

    /// sizeof(struct trapframe) and the fields used (sys/x86/include/frame.h).
    static let trapframeSize = 0xc0
    enum TF {
        static let rax = 0x30, rbp = 0x40, trapno = 0x78, rip = 0x98, cs = 0xa0, rsp = 0xb0
    }

    /// Frame 0 from the pcb (pc = pcb_rip, sp = pcb_rsp, fp = pcb_rbp), then the rbp chain: the saved rbp at
    /// [fp] and the return address at [fp + 8]; a frame found at fp has sp = fp + 16. A return address in a
    /// trap/interrupt/syscall stub (by the symbol of ra - 1) makes a stub frame; its trapframe is at fp + 16
    /// and the walk goes on from tf_rip/tf_rsp/tf_rbp unless it came from user mode. `fork_trampoline` ends a
    /// kernel thread. Frame pointers must increase between trapframes (stack(9)'s rule; the NMI and double
    /// fault stacks are separate, so the rule restarts after a trapframe) and never repeat.
    static func unwind(registers: [UInt64], memory: Memory, symbols: KernelSymbolizer,
                       limits: WalkLimits, kernel: KernelFacts) -> Backtrace {
        guard registers.count == 8 else { return Backtrace(frames: [], stop: .unreadable, detail: "the pcb's registers are incomplete") }
        var fp = registers[2]
        var list = FrameList(symbols: symbols)
        if let end = list.start(pc: registers[0], sp: registers[1], fp: fp, pcName: "pcb_rip", limits: limits,
                                isKernel: isKernelAddress, forkTrampolineTag: 4) { return end }
        // Frame pointers increase within a stack; the walk may move to another stack only at a trapframe,
        // and a trapframe's rbp may not come again (that would repeat everything after it).
        var trapRBPs: [UInt64] = []
        var stack = PageReader(memory: memory)
        while true {
            guard list.count < limits.maxFrames else { return list.done(.frameLimit, "\(limits.maxFrames) frames") }
            guard isKernelAddress(fp) else { return list.done(.fpNotKernel, "frame pointer \(hex(fp)) is not a kernel address") }
            guard let next = stack.u64(fp), let ret = stack.u64(fp &+ 8) else {
                return list.done(.unreadable, "frame at \(memory.hexAddress(fp)) is not in the dump")
            }
            guard ret != 0 else { return list.done(.zeroReturnAddress, "return address at \(memory.hexAddress(fp &+ 8)) is 0") }
            guard isKernelAddress(ret) else { return list.done(.pcNotKernel, "return address \(hex(ret)) at \(memory.hexAddress(fp &+ 8)) is not a kernel address") }
            // ddb classifies by the symbol of ret - 1 (a call that is a function's last instruction).
            let tag = symbols.entry(ret &- 1).map { symbols.tag($0.index) } ?? 0
            guard tag != 0 else {
                list.add(ret, fp &+ 16, next)
                if isKernelAddress(next) && next <= fp {
                    return list.done(.loop, "saved frame pointer \(hex(next)) at \(memory.hexAddress(fp)) does not lie above \(hex(fp))")
                }
                fp = next
                continue
            }
            // A stub: its trapframe sits right above the callee's saved rbp and return address.
            let tf = fp &+ 16
            if tag == 4 {
                list.add(ret, tf, next)
                return list.done(.threadStart, .forkTrampoline)
            }
            guard let tfBytes = memory.bytes(tf, trapframeSize) else {
                list.add(ret, tf, next)
                return list.done(.unreadable, "trapframe at \(memory.hexAddress(tf)) is not in the dump")
            }
            let f = Fields(bytes: tfBytes, base: 0)
            let tfRIP = f.u64(TF.rip)!, tfRSP = f.u64(TF.rsp)!, tfRBP = f.u64(TF.rbp)!
            let fromUser = f.u64(TF.cs)! & 3 != 0
            let kind: StubKind = tag == 1 ? .trap : tag == 2 ? .interrupt : .syscall
            let number: UInt64
            switch kind {
            case .trap: number = UInt64(f.u32(TF.trapno)!)
            case .syscall: number = f.u64(TF.rax)!
            case .interrupt: number = 0
            }
            list.add(ret, tf, next, trap: TrapFrameInfo(kind: kind.rawValue, number: number, name: kind == .trap ? trapName(number) : nil,
                                                   address: VirtualAddress(tf), pc: tfRIP, sp: tfRSP, fp: tfRBP,
                                                   fromUser: fromUser, registerNames: ("rip", "rsp", "rbp")))
            if fromUser { return list.done(.userTrapframe, .fromUser(kind: kind.rawValue, trapframe: tf, width: memory.dump.addressWidth)) }
            guard list.count < limits.maxFrames else { return list.done(.frameLimit, "\(limits.maxFrames) frames") }
            list.add(tfRIP, tfRSP, tfRBP)
            guard tfRIP != 0 else { return list.done(.noPC, "kernel-mode trapframe at \(memory.hexAddress(tf)) has rip 0") }
            guard isKernelAddress(tfRIP) else { return list.done(.pcNotKernel, "trapframe rip \(hex(tfRIP)) is not a kernel address") }
            if trapRBPs.contains(tfRBP) { return list.done(.loop, "trapframe rbp \(hex(tfRBP)) was seen before") }
            trapRBPs.append(tfRBP)
            fp = tfRBP
        }
    }
}
