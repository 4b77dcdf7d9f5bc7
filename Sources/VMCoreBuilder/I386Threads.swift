// The i386 thread fixture: what to generate (processes, threads and what each was doing), the ELF32
// kernel's text (functions with `push %ebp; mov %esp,%ebp`, `call` sites, the exception stubs and
// their trampoline copy) and the golden scenario. The shared parts (ThreadLayout, the *Truth types)
// come from Threads.swift; the builder is I386Stacks.swift.
// Facts: FSRC sys/i386/include/pcb.h, sys/x86/include/frame.h, sys/i386/i386/{exception.S,db_trace.c,
// vm_machdep.c}, sys/i386/include/{asmacros.h,vmparam.h}; PORTS devel/gdb/files/kgdb/i386fbsd-kern.c.

/// What an i386 thread was doing, which decides its stack.
public enum I386ThreadActivity: Sendable, Equatable {
    /// Asleep in a system call: `sched_switch`, `mi_switch`, `calls` (innermost first), `syscall`,
    /// `Xint0x80_syscall` and a user-mode trapframe (`tf_eax` = `number`).
    case sleepingInSyscall(calls: [String], number: UInt32)
    /// A kernel thread asleep: `sched_switch`, `mi_switch`, `calls` (innermost first), `fork_exit`,
    /// `fork_trampoline`.
    case sleepingKernelThread(calls: [String])
    /// Created but never run: pcb_eip is the trampoline copy of `fork_trampoline`.
    case neverRan
    /// The panicking thread (`dumptid`): savectx in `doadump` into `dumppcb`, the panic chain from a
    /// kernel-mode page fault (`calltrap`) in `sysctl_debug_crash`, reached from `__sysctl(2)`.
    case crashed
    /// On a CPU stopped by the panic's IPI_STOP: savectx in `cpustop_handler` into `stoppcbs[cpu]`,
    /// entered through `Xcpustop` with a kernel-mode trapframe interrupting `interrupted` (innermost
    /// first), which ends like a kernel thread or, with `syscall` set, in that system call.
    case stoppedByIPI(interrupted: [String], syscall: UInt32?)
}

/// One i386 thread to generate.
public typealias I386ThreadDescription = FixtureThread<I386ThreadActivity>
/// One i386 process to generate.
public typealias I386ProcessDescription = FixtureProcess<I386ThreadActivity>
/// Damage done to a generated i386 thread dump.
public typealias I386ThreadCorruption = StackCorruption

/// Everything the i386 thread fixture generator needs.
public struct I386ThreadsDescription: Sendable {
    /// `osreldate` (only `stoppcbs`'s form depends on it, and only without a symbol size).
    public var osreldate: UInt32
    /// PAE page tables (8-byte PTEs) or not.
    public var pae: Bool
    /// `mp_maxid + 1` (at most MAXCPU, 32).
    public var cpuCount: Int
    /// CPUs whose bit is set in `stopped_cpus`.
    public var stoppedCPUs: [Int]
    /// Processes in allproc order.
    public var processes: [I386ProcessDescription]
    public var dumpTID: Int32
    /// The offset symbols' values.
    public var layout: ThreadLayout
    /// `struct pcb *stoppcbs` (a 4-byte symbol pointing at the array) instead of `struct pcb stoppcbs[MAXCPU]`.
    public var stoppcbsPointer: Bool
    public var corruptions: [I386ThreadCorruption]
    /// Seed of register values and page placement.
    public var seed: UInt64

    public init(osreldate: UInt32 = 1_401_000, pae: Bool = true, cpuCount: Int, stoppedCPUs: [Int],
                processes: [I386ProcessDescription], dumpTID: Int32, layout: ThreadLayout = .i386,
                stoppcbsPointer: Bool = true, corruptions: [I386ThreadCorruption] = [], seed: UInt64 = 0) {
        self.osreldate = osreldate
        self.pae = pae
        self.cpuCount = cpuCount
        self.stoppedCPUs = stoppedCPUs
        self.processes = processes
        self.dumpTID = dumpTID
        self.layout = layout
        self.stoppcbsPointer = stoppcbsPointer
        self.corruptions = corruptions
        self.seed = seed
    }
}

extension ThreadLayout {
    /// The fixture's i386 layout: 4-byte list pointers, smaller structures, pcb_size 0xc0.
    public static var i386: ThreadLayout {
        var layout = ThreadLayout()
        layout.procList = 0x0
        layout.procThreads = 0x8
        layout.procHash = 0x40
        layout.procFlag = 0x58
        layout.procPID = 0x60
        layout.procComm = 0x1e4
        layout.threadPList = 0x8
        layout.threadTID = 0x50
        layout.threadName = 0x16c
        layout.threadOnCPU = 0x1a0
        layout.threadState = 0x1c0
        layout.threadPCB = 0x2a4
        layout.threadMDPCB = 0x2c0
        layout.procSize = 0x300
        layout.threadSize = 0x340
        layout.pcbSize = 0xc0
        return layout
    }
}

extension I386ThreadsDescription {
    /// The golden i386 scenario (`vmcore.i386.threads` + `kernel.i386.threads`): 4 CPUs, FreeBSD 14.1, PAE.
    /// CPU 1 panics (a page fault in a sysctl handler reached from `__sysctl(2)`); CPUs 0 and 2 are stopped
    /// by IPI_STOP (CPU 0's idle thread in `cpu_idle`, CPU 2 inside `read(2)`); CPU 3 never answered
    /// (missing from `stopped_cpus`: its thread is unwound from its `td_pcb`).
    public static func golden(osreldate: UInt32 = 1_401_000, pae: Bool = true) -> I386ThreadsDescription {
        let processes = [
            I386ProcessDescription(pid: 939, comm: "sysctl", threads: [
                I386ThreadDescription(tid: 100_200, name: "sysctl", onCPU: 1, activity: .crashed),
            ]),
            I386ProcessDescription(pid: 938, comm: "dd", threads: [
                I386ThreadDescription(tid: 100_199, name: "dd", onCPU: 2, activity: .stoppedByIPI(
                    interrupted: ["uiomove_faultflag", "ffs_read", "vn_read", "dofileread", "kern_readv", "sys_read"], syscall: 3)),
            ]),
            I386ProcessDescription(pid: 937, comm: "sh", threads: [
                I386ThreadDescription(tid: 100_198, name: "sh", activity: .sleepingInSyscall(
                    calls: ["sleepq_switch", "sleepq_catch_signals", "sleepq_wait_sig", "_sleep", "kern_wait6", "sys_wait4"], number: 7)),
            ]),
            I386ProcessDescription(pid: 28, comm: "pagedaemon", flags: 0x1000_0204, threads: [
                I386ThreadDescription(tid: 100_090, name: "dom0", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep", "vm_pageout_worker", "vm_pageout"])),
                I386ThreadDescription(tid: 100_091, name: "laundry: dom0", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep", "vm_pageout_laundry_worker"])),
            ]),
            I386ProcessDescription(pid: 12, comm: "intr", flags: 0x1000_0204, threads: [
                I386ThreadDescription(tid: 100_020, name: "swi4: clock (0)", activity: .sleepingKernelThread(calls: ["ithread_loop"])),
                I386ThreadDescription(tid: 100_021, name: "irq11: em0", onCPU: 3,
                                      activity: .sleepingKernelThread(calls: ["ithread_loop"])),
            ]),
            I386ProcessDescription(pid: 11, comm: "idle", flags: 0x1000_0204, threads: [
                I386ThreadDescription(tid: 100_003, name: "idle: cpu0", onCPU: 0,
                                      activity: .stoppedByIPI(interrupted: ["cpu_idle", "sched_idletd"], syscall: nil)),
                I386ThreadDescription(tid: 100_004, name: "idle: cpu1", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
                I386ThreadDescription(tid: 100_005, name: "idle: cpu2", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
                I386ThreadDescription(tid: 100_006, name: "idle: cpu3", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
            ]),
            I386ProcessDescription(pid: 0, comm: "kernel", flags: 0x1000_0204, threads: [
                I386ThreadDescription(tid: 100_000, name: "swapper", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep"])),
                I386ThreadDescription(tid: 100_007, name: "thread taskq", activity: .neverRan),
            ]),
        ]
        return I386ThreadsDescription(osreldate: osreldate, pae: pae, cpuCount: 4, stoppedCPUs: [0, 2], processes: processes,
                                      dumpTID: 100_200)
    }
}

/// Addresses and the kernel text of the i386 thread fixture (KERNBASE = KERNLOAD = 8 MiB, the 4/4 split).
public enum I386ThreadKernel {
    public static let kernbase: UInt64 = 0x80_0000
    public static let textBase: UInt64 = 0x80_1000
    public static let textSize = 0x6000
    public static let dataBase: UInt64 = 0x90_0000
    public static let dataSize = 0x1000
    /// `.bss`: dumppcb, stoppcbs (or the array it points at), stopped_cpus, allproc, …
    public static let bssBase: UInt64 = 0x90_1000
    public static let bssSize: UInt64 = 0x3000
    public static let procBase: UInt64 = 0x91_0000
    public static let threadBase: UInt64 = 0x92_0000
    /// Kernel stacks (KSTACK_PAGES 4): slot `i` at `stackBase + i * stackStride`, its 16 KiB mapped at
    /// `+ stackOffset`, unmapped guard space below and above.
    public static let stackBase: UInt64 = 0xa0_0000
    public static let stackStride: UInt64 = 0x1_0000
    public static let stackOffset: UInt64 = 0x8000
    public static let stackSize: UInt64 = 0x4000
    /// Mapped nowhere (for the pcb-into-unmapped-memory corruption).
    public static let unmapped: UInt64 = 0xe0_0000
    /// A mapped page of zeros above every stack (for the fp-outside-the-stack corruption).
    public static let heapBase: UInt64 = 0xf0_0000
    /// MAXCPU of i386.
    public static let maxCPU = 32
    /// Where the exception code's copy runs (above PMAP_TRM_MIN_ADDRESS 0xffc00000).
    public static let trampolineCopy: UInt64 = 0xffc0_2000

    /// The kernel's code: (name, size, is an assembler label without a prologue), laid out in order
    /// from `textBase` at 16-byte boundaries; the exception code runs from `start_exceptions` to `end_exceptions`.
    static let functions: [(String, Int, Bool)] = [
        ("kdb_backtrace", 0x60, false), ("vpanic", 0x200, false), ("panic", 0x60, false), ("doadump", 0x80, false),
        ("kern_reboot", 0x300, false), ("savectx", 0x80, true), ("cpu_switch", 0x200, true), ("sched_switch", 0x400, false),
        ("mi_switch", 0x200, false), ("sleepq_switch", 0x200, false), ("sleepq_catch_signals", 0x300, false),
        ("sleepq_wait_sig", 0x80, false), ("sleepq_timedwait", 0x100, false), ("_sleep", 0x300, false),
        ("kern_wait6", 0x300, false), ("sys_wait4", 0x80, false), ("syscall", 0x400, false), ("trap", 0x600, false),
        ("trap_pfault", 0x300, false), ("trap_fatal", 0x200, false), ("fork_exit", 0x100, false),
        ("sched_idletd", 0x400, false), ("cpu_idle", 0x100, false), ("cpustop_handler", 0x100, false),
        ("vm_pageout_worker", 0x600, false), ("vm_pageout", 0x200, false), ("vm_pageout_laundry_worker", 0x500, false),
        ("ithread_loop", 0x300, false), ("sysctl_debug_crash", 0x80, false), ("sysctl_root_handler_locked", 0x100, false),
        ("sysctl_root", 0x300, false), ("userland_sysctl", 0x200, false), ("sys___sysctl", 0x100, false),
        ("uiomove_faultflag", 0x300, false), ("ffs_read", 0x600, false), ("vn_read", 0x200, false),
        ("dofileread", 0x100, false), ("kern_readv", 0x80, false), ("sys_read", 0x80, false),
        ("start_exceptions", 0x10, true), ("alltraps", 0x30, true), ("calltrap", 0x20, true),
        ("Xint0x80_syscall", 0x50, true), ("fork_trampoline", 0x20, true), ("Xcpustop", 0x40, true),
        ("Xtimerint", 0x40, true), ("doreti", 0x80, true), ("end_exceptions", 0x10, true),
    ]

    /// The text's layout: start, size and label flag of every function.
    static let text = FixtureText(functions, base: textBase, size: textSize, what: "i386 ")
    static var layout: [String: (start: UInt64, size: Int, label: Bool)] { text.layout }

    /// The start of function `name` (a fixture bug traps: names are fixed at compile time).
    static func start(_ name: String) -> UInt64 { text.start(name) }

    /// `setidt_disp`: the trampoline copy's distance above the linked exception code.
    public static var setidtDisp: UInt64 { trampolineCopy - start("start_exceptions") }

    /// The address `linked` (in the exception code) runs at.
    static func trampoline(_ linked: UInt64) -> UInt64 { linked + setidtDisp }

    /// The stubs' indirect calls (`movl $func,%eax; call *%eax`, after the pushes of the trapframe
    /// pointer and other arguments, as exception.S and apic_vector.S do): return offset, callee, pushes.
    static let stubCalls: [String: (ret: UInt64, callee: String, pushes: [UInt8])] = [
        "calltrap": (8, "trap", [0x54]),
        "Xint0x80_syscall": (0x40, "syscall", [0x54]),
        "fork_trampoline": (10, "fork_exit", [0x54, 0x53, 0x56]),
        "Xcpustop": (0x30, "cpustop_handler", []),
    ]

    /// The return address (as the stack holds it: in the trampoline copy) of a stub's call.
    static func stubReturn(_ stub: String) -> UInt64 { trampoline(start(stub) + stubCalls[stub]!.ret) }

    /// The return address of the `call` from `caller` to `callee` (the same site for every thread): an
    /// 8-byte slot after the prologue, so the 5-byte calls of one function never overlap.
    static func returnAddress(caller: String, callee: String) -> UInt64 {
        let slots = UInt64(layout[caller]!.size - 0x18) / 8
        return start(caller) + 0x10 + 8 * (ThreadKernel.fnv(caller + ">" + callee) % slots)
    }

    /// An instruction inside `function` where a trap or interrupt hit.
    static func interruptedPC(_ function: String, _ why: String) -> UInt64 {
        let slots = UInt64(layout[function]!.size - 0x18) / 8
        return start(function) + 0xc + 8 * (ThreadKernel.fnv(function + "!" + why) % slots)
    }

    /// `.text`: `int3` everywhere, `push %ebp; mov %esp,%ebp` at each function with a prologue, a real
    /// `call rel32` before every return address the fixture uses, and each stub's pushes and
    /// `movl $callee,%eax; call *%eax` before its return offset.
    static func textBytes(callSites: [(caller: String, callee: String)]) -> [UInt8] {
        var text = [UInt8](repeating: 0xcc, count: textSize)
        func put(_ at: UInt64, _ bytes: [UInt8]) {
            let i = Int(at - textBase)
            text.replaceSubrange(i..<i + bytes.count, with: bytes)
        }
        for (name, _, label) in functions where !label { put(start(name), [0x55, 0x89, 0xe5]) }
        for (stub, call) in stubCalls {
            let end = start(stub) + call.ret
            put(end - 7 - UInt64(call.pushes.count), call.pushes + [0xb8] + KernelFixture.le(start(call.callee), 4) + [0xff, 0xd0])
        }
        for site in callSites {
            let ret = returnAddress(caller: site.caller, callee: site.callee)
            let rel = UInt32(truncatingIfNeeded: start(site.callee) &- ret)
            put(ret - 5, [0xe8] + KernelFixture.le(UInt64(rel), 4))
        }
        return text
    }
}
