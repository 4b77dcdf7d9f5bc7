/// i386: `struct pcb` (FSRC sys/i386/include/pcb.h), INKERNEL for the 4/4 address-space split of
/// FreeBSD 12 and later (sys/i386/include/vmparam.h), the ebp-chain walk and trap stubs of ddb
/// (sys/i386/i386/db_trace.c) with kgdb's trapframe placement (PORTS devel/gdb/files/kgdb/i386fbsd-kern.c),
/// and the exception trampoline: the stubs run from a copy above PMAP_TRM_MIN_ADDRESS, `setidt_disp`
/// bytes above their linked addresses, so return addresses into them are looked up that much lower.
import MinidumpCore

enum I386Threads: ThreadArchitecture {
    static let elfMachine: UInt16 = 3
    static let name = "i386"
    static let pointerBytes = 4
    /// sizeof(struct pcb) = 0xc0: the field sizes of pcb.h (six registers, two segment descriptors, the
    /// segment, control and debug registers, the gdt/idt region descriptors, flags, pointers, `pcb_pad[10]`)
    /// and the size of `dumppcb` in LLVM's i386 kernel test data.
    static let defaultPCBSize = 0xc0
    /// `stoppcbs` is declared in sys/x86/x86/mp_x86.c, shared with amd64: a pointer from 1400089 (as amd64).
    static let stoppcbsPointerSince: UInt32? = 1_400_089
    /// The displacement of the trampoline copy of the exception code (sys/i386/i386/machdep.c).
    static let factSymbols = ["setidt_disp"]

    /// The order the registers are reported in (kgdb's pcb set, pc first).
    static let registerNames = ["eip", "esp", "ebp", "ebx", "esi", "edi"]
    /// Byte offsets in the pcb of each name of `registerNames`: pcb_edi 0, pcb_esi 4, pcb_ebp 8, pcb_esp 12,
    /// pcb_ebx 16, pcb_eip 20 (the fields pcb.h marks as used by kernel debuggers).
    private static let pcbOffsets = [20, 12, 8, 16, 4, 0]

    static func pcbRegisterBytes(_ kernel: KernelFacts) -> Int { 24 }

    static func registers(pcb: [UInt8], _ kernel: KernelFacts) -> [UInt64] {
        let fields = Fields(bytes: pcb, base: 0)
        var out: [UInt64] = []
        out.reserveCapacity(pcbOffsets.count)
        for offset in pcbOffsets {
            guard let value = fields.u32(offset) else { return [] }
            out.append(UInt64(value))
        }
        return out
    }

    /// i386 pointers are 32-bit words: nothing to strip.
    static func canonical(_ pointer: UInt64) -> UInt64 { pointer & 0xffff_ffff }

    /// KERNBASE (= KERNLOAD, 8 MiB) to the top of the 32-bit space: text, data and every kernel map, the
    /// recursive page-table map and the trampoline. (Kernels before FreeBSD 12 start at 0xc0000000; the
    /// lower bound then also admits user addresses, which the trapframes' cs tells apart.)
    static func isKernelAddress(_ va: UInt64) -> Bool { va >= 0x0080_0000 && va <= 0xffff_ffff }

    /// PMAP_TRM_MIN_ADDRESS (VM_MAXUSER_ADDRESS): the trampoline's first address.
    static let trampolineBase: UInt64 = 0xffc0_0000

    /// Where ddb looks `pc` up: a trampoline address moves down by `setidt_disp` to the linked stub.
    static func linked(_ pc: UInt64, _ kernel: KernelFacts) -> UInt64 {
        guard pc >= trampolineBase, let disp = kernel.words["setidt_disp"] else { return pc }
        return (pc &- UInt64(UInt32(truncatingIfNeeded: disp))) & 0xffff_ffff
    }

    /// What a stub frame is, and how many argument words its stub pushed between the trapframe and the
    /// return address (kgdb's placement: the trapframe lies at the stub frame's sp plus those words).
    enum Stub: UInt8 {
        /// calltrap: `pushl %esp` (the trapframe's address).
        case trap = 1
        /// Xapic_isr*, Xatpic_intr*: the trapframe's address and the vector.
        case vectoredInterrupt = 2
        /// Xint0x80_syscall, Xlcall_syscall: the trapframe's address.
        case syscall = 3
        /// fork_trampoline: the bottom of a kernel thread.
        case forkTrampoline = 4
        /// Xtimerint, Xxen_intr_upcall: the trapframe's address.
        case interrupt = 5
        /// Xcpustop, Xrendezvous, Xipi_intr_bitmap_handler: no argument.
        case bareInterrupt = 6

        var argumentWords: UInt64 {
            switch self {
            case .vectoredInterrupt: 2
            case .bareInterrupt: 0
            default: 1
            }
        }

        var kind: String {
            switch self {
            case .trap, .forkTrampoline: "trap"
            case .syscall: "syscall"
            default: "interrupt"
            }
        }
    }

    static func symbolTag(_ name: String) -> UInt8 {
        switch name {
        case "calltrap": Stub.trap.rawValue
        case "fork_trampoline": Stub.forkTrampoline.rawValue
        case "Xint0x80_syscall", "Xlcall_syscall": Stub.syscall.rawValue
        case "Xtimerint", "Xxen_intr_upcall": Stub.interrupt.rawValue
        case "Xcpustop", "Xrendezvous", "Xipi_intr_bitmap_handler": Stub.bareInterrupt.rawValue
        default: name.hasPrefix("Xapic_isr") || name.hasPrefix("Xatpic_intr") ? Stub.vectoredInterrupt.rawValue : 0
        }
    }

    /// `trap_data[]` of sys/i386/i386/trap.c (T_USER, 0x100, masked off): the shared x86 names and this architecture's own.
    private static let ownTrapNames: [UInt64: String] = [10: "debug exception"]
    static func trapName(_ number: UInt64) -> String? { x86TrapName(number, own: ownTrapNames) }

    /// `struct trapframe` (sys/x86/include/frame.h, i386): 18 words; tf_esp and tf_ss (the last two)
    /// are pushed only when the trap crossed rings.
    enum TF {
        static let ebp = 20, eax = 40, trapno = 44, eip = 52, cs = 56, eflags = 60, esp = 64
        /// The bytes every trapframe has (all but tf_esp and tf_ss).
        static let kernelSize = 64
    }

    /// PSL_VM: virtual-8086 mode, user mode whatever cs says.
    static let pslVM: UInt32 = 0x2_0000

    /// Frame 0 from the pcb (pc = pcb_eip, sp = pcb_esp, fp = pcb_ebp), then the ebp chain: the saved ebp
    /// at [fp] and the return address at [fp + 4]; a frame found at fp has sp = fp + 8. A return address
    /// whose call (ra − 1, through the trampoline displacement) lies in a trap, interrupt or syscall stub
    /// makes a stub frame: its trapframe lies at fp + 8 plus the words the stub pushed, and the walk goes
    /// on from tf_eip / tf_ebp (sp: tf_esp from user mode, else the address of tf_esp, as ddb's get_esp)
    /// unless it came from user mode (cs RPL 3, or PSL_VM). `fork_trampoline` ends a kernel thread. Frame
    /// pointers must increase between trapframes, and a trapframe's ebp may not come again.
    static func unwind(registers: [UInt64], memory: Memory, symbols: KernelSymbolizer,
                       limits: WalkLimits, kernel: KernelFacts) -> Backtrace {
        guard registers.count == registerNames.count else {
            return Backtrace(frames: [], stop: .unreadable, detail: "the pcb's registers are incomplete")
        }
        var fp = registers[2]
        var list = FrameList(symbols: symbols, linked: { linked($0, kernel) })
        if let end = list.start(pc: registers[0], sp: registers[1], fp: fp, pcName: "pcb_eip", limits: limits,
                                isKernel: isKernelAddress, forkTrampolineTag: Stub.forkTrampoline.rawValue) { return end }
        var trapEBPs: [UInt64] = []
        var stack = PageReader(memory: memory)
        while true {
            guard list.count < limits.maxFrames else { return list.done(.frameLimit, "\(limits.maxFrames) frames") }
            guard isKernelAddress(fp) else { return list.done(.fpNotKernel, "frame pointer \(hex(fp)) is not a kernel address") }
            guard fp <= 0xffff_fff8, let savedEBP = stack.u32(fp), let savedEIP = stack.u32(fp + 4) else {
                return list.done(.unreadable, "frame at \(memory.hexAddress(fp)) is not in the dump")
            }
            let next = UInt64(savedEBP), ret = UInt64(savedEIP)
            guard ret != 0 else { return list.done(.zeroReturnAddress, "return address at \(memory.hexAddress(fp + 4)) is 0") }
            guard isKernelAddress(ret) else {
                return list.done(.pcNotKernel, "return address \(hex(ret)) at \(memory.hexAddress(fp + 4)) is not a kernel address")
            }
            let tag = symbols.entry(linked(ret, kernel) &- 1).map { symbols.tag($0.index) } ?? 0
            guard let stub = Stub(rawValue: tag) else {
                list.add(ret, fp + 8, next)
                if isKernelAddress(next) && next <= fp {
                    return list.done(.loop, "saved frame pointer \(hex(next)) at \(memory.hexAddress(fp)) does not lie above \(hex(fp))")
                }
                fp = next
                continue
            }
            if stub == .forkTrampoline {
                list.add(ret, fp + 8, next)
                return list.done(.threadStart, .forkTrampoline)
            }
            let tf = fp + 8 + 4 * stub.argumentWords
            guard let head = memory.bytes(tf, TF.kernelSize) else {
                list.add(ret, fp + 8, next)
                return list.done(.unreadable, "trapframe at \(memory.hexAddress(tf)) is not in the dump")
            }
            let f = Fields(bytes: head, base: 0)
            let cs = f.u32(TF.cs)!, eflags = f.u32(TF.eflags)!
            let fromUser = cs & 3 == 3 || eflags & pslVM != 0
            let tfEIP = UInt64(f.u32(TF.eip)!), tfEBP = UInt64(f.u32(TF.ebp)!)
            var tfESP = tf + UInt64(TF.esp)
            if fromUser {
                guard let esp = memory.u32(tf + UInt64(TF.esp)) else {
                    list.add(ret, fp + 8, next)
                    return list.done(.unreadable, "user trapframe at \(memory.hexAddress(tf)) is not in the dump")
                }
                tfESP = UInt64(esp)
            }
            let number: UInt64
            switch stub {
            case .trap: number = UInt64(f.u32(TF.trapno)!)
            case .syscall: number = UInt64(f.u32(TF.eax)!)
            default: number = 0
            }
            list.add(ret, fp + 8, next, trap: TrapFrameInfo(kind: stub.kind, number: number, name: stub == .trap ? trapName(number) : nil,
                                                     address: VirtualAddress(tf), pc: tfEIP, sp: tfESP, fp: tfEBP,
                                                     fromUser: fromUser, registerNames: ("eip", "esp", "ebp")))
            if fromUser { return list.done(.userTrapframe, .fromUser(kind: stub.kind, trapframe: tf, width: memory.dump.addressWidth)) }
            guard list.count < limits.maxFrames else { return list.done(.frameLimit, "\(limits.maxFrames) frames") }
            list.add(tfEIP, tfESP, tfEBP)
            guard tfEIP != 0 else { return list.done(.noPC, "kernel-mode trapframe at \(memory.hexAddress(tf)) has eip 0") }
            guard isKernelAddress(tfEIP) else { return list.done(.pcNotKernel, "trapframe eip \(hex(tfEIP)) is not a kernel address") }
            if trapEBPs.contains(tfEBP) { return list.done(.loop, "trapframe ebp \(hex(tfEBP)) was seen before") }
            trapEBPs.append(tfEBP)
            fp = tfEBP
        }
    }
}
