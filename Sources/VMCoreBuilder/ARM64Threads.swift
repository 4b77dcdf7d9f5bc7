// The arm64 thread fixture: what to generate (processes, threads and what each was doing), the
// kernel's text layout (functions, call sites, exception vectors) and the golden scenario. The
// architecture-independent parts (ThreadLayout, ProcessDescription, the *Truth types) are shared with
// amd64 (Threads.swift); the builder is ARM64Stacks.swift.
// Facts: shared/spec/beyond-amd64-minidump.md §1.8; FSRC sys/arm64/include/{pcb,frame}.h,
// sys/arm64/arm64/{exception.S,db_trace.c,unwind.c}.

/// What an arm64 thread was doing, which decides its stack.
public enum ARM64ThreadActivity: Sendable, Equatable {
    /// Asleep in a system call: `sched_switch`, `mi_switch`, `calls` (innermost first), `svc_handler`,
    /// `do_el0_sync`, `handle_el0_sync` and a user-mode trapframe (ESR: SVC64).
    case sleepingInSyscall(calls: [String])
    /// A kernel thread asleep: `sched_switch`, `mi_switch`, `calls` (innermost first), `fork_exit`,
    /// `fork_trampoline`.
    case sleepingKernelThread(calls: [String])
    /// Created but never run: the pcb's lr is `fork_trampoline`.
    case neverRan
    /// The panicking thread (`dumptid`): savectx in `doadump` into `dumppcb`, the panic chain from a
    /// kernel data abort (`handle_el1h_sync`) in `sysctl_debug_crash`, reached from `sysctl(2)`.
    case crashed
    /// On a CPU stopped by the panic's IPI_STOP: savectx in `ipi_stop` into `stoppcbs[cpu]`, the IPI
    /// dispatch, `handle_el1h_irq` and a kernel-mode trapframe interrupting `interrupted` (innermost
    /// first), which ends like a kernel thread or, with `syscall`, in a system call.
    case stoppedByIPI(interrupted: [String], syscall: Bool)
}

/// One arm64 thread to generate.
public typealias ARM64ThreadDescription = FixtureThread<ARM64ThreadActivity>
/// One arm64 process to generate.
public typealias ARM64ProcessDescription = FixtureProcess<ARM64ThreadActivity>
/// Damage done to a generated arm64 thread dump.
public typealias ARM64ThreadCorruption = StackCorruption

/// Which `struct trapframe` the generator writes (see ARM64Threads.TrapframeLayout in KernelThreads).
public enum ARM64TrapframeForm: Sendable, Equatable {
    /// 272 bytes: 32-bit tf_spsr and tf_esr, tf_x at 32 (FreeBSD 12–13).
    case narrow
    /// 288 bytes: 64-bit tf_spsr, tf_esr, tf_far, tf_x at 48 (FreeBSD 14).
    case wide

    var size: UInt64 { self == .narrow ? 0x110 : 0x120 }
    var x: UInt64 { self == .narrow ? 32 : 48 }
}

/// Everything the arm64 thread fixture generator needs.
public struct ARM64ThreadsDescription: Sendable {
    /// `osreldate`: from 1400084 the pcb is FreeBSD 14's (`pcb_x[12]`, `pcb_sp`), before it FreeBSD 13's.
    public var osreldate: UInt32
    /// The page size of the dump.
    public var granule: ARM64DumpDescription.Granule
    /// `mp_maxid + 1`.
    public var cpuCount: Int
    /// CPUs whose bit is set in `stopped_cpus`.
    public var stoppedCPUs: [Int]
    /// Processes in allproc order.
    public var processes: [ARM64ProcessDescription]
    public var dumpTID: Int32
    /// The offset symbols' values (pcb_size is arm64's).
    public var layout: ThreadLayout
    /// The trapframe written; nil follows `osreldate` (FreeBSD 14, from 1400000: wide).
    public var trapframe: ARM64TrapframeForm?
    /// Stores return addresses in frame records with pointer-authentication bits (bits 48–54 changed).
    public var signedReturnAddresses: Bool
    public var corruptions: [ARM64ThreadCorruption]
    /// Seed of register values and page placement.
    public var seed: UInt64

    public init(osreldate: UInt32 = ARM64Fixture.osreldate, granule: ARM64DumpDescription.Granule = .size4K,
                cpuCount: Int, stoppedCPUs: [Int], processes: [ARM64ProcessDescription], dumpTID: Int32,
                layout: ThreadLayout = .arm64, trapframe: ARM64TrapframeForm? = nil, signedReturnAddresses: Bool = false,
                corruptions: [ARM64ThreadCorruption] = [], seed: UInt64 = 0) {
        self.osreldate = osreldate
        self.granule = granule
        self.cpuCount = cpuCount
        self.stoppedCPUs = stoppedCPUs
        self.processes = processes
        self.dumpTID = dumpTID
        self.layout = layout
        self.trapframe = trapframe
        self.signedReturnAddresses = signedReturnAddresses
        self.corruptions = corruptions
        self.seed = seed
    }

    /// The trapframe form written.
    public var trapframeForm: ARM64TrapframeForm { trapframe ?? (osreldate >= 1_400_000 ? .wide : .narrow) }
}

extension ThreadLayout {
    /// The fixture's arm64 layout: amd64's offsets with an arm64 `pcb_size` (0x4f0).
    public static var arm64: ThreadLayout {
        var layout = ThreadLayout()
        layout.pcbSize = 0x4f0
        return layout
    }
}

extension ARM64ThreadsDescription {
    /// The golden arm64 scenario (`vmcore.arm64.threads` + `kernel.arm64.threads`): 4 CPUs, FreeBSD 14.1.
    /// CPU 1 panics (a data abort in a sysctl handler reached from `sysctl(2)`); CPUs 0 and 2 are stopped
    /// by IPI_STOP (CPU 0's idle thread in `cpu_idle`, CPU 2 inside `read(2)`); CPU 3 never answered
    /// (missing from `stopped_cpus`: its thread is unwound from its `td_pcb`).
    public static func golden(osreldate: UInt32 = ARM64Fixture.osreldate,
                              granule: ARM64DumpDescription.Granule = .size4K) -> ARM64ThreadsDescription {
        let processes = [
            ARM64ProcessDescription(pid: 939, comm: "sysctl", threads: [
                ARM64ThreadDescription(tid: 100_200, name: "sysctl", onCPU: 1, activity: .crashed),
            ]),
            ARM64ProcessDescription(pid: 938, comm: "dd", threads: [
                ARM64ThreadDescription(tid: 100_199, name: "dd", onCPU: 2, activity: .stoppedByIPI(
                    interrupted: ["uiomove_faultflag", "ffs_read", "vn_read", "dofileread", "kern_readv", "sys_read"], syscall: true)),
            ]),
            ARM64ProcessDescription(pid: 937, comm: "sh", threads: [
                ARM64ThreadDescription(tid: 100_198, name: "sh", activity: .sleepingInSyscall(
                    calls: ["sleepq_switch", "sleepq_catch_signals", "sleepq_wait_sig", "_sleep", "kern_wait6", "sys_wait4"])),
            ]),
            ARM64ProcessDescription(pid: 28, comm: "pagedaemon", flags: 0x1000_0204, threads: [
                ARM64ThreadDescription(tid: 100_090, name: "dom0", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep", "vm_pageout_worker", "vm_pageout"])),
                ARM64ThreadDescription(tid: 100_091, name: "laundry: dom0", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep", "vm_pageout_laundry_worker"])),
            ]),
            ARM64ProcessDescription(pid: 12, comm: "intr", flags: 0x1000_0204, threads: [
                ARM64ThreadDescription(tid: 100_020, name: "swi4: clock (0)", activity: .sleepingKernelThread(calls: ["ithread_loop"])),
                ARM64ThreadDescription(tid: 100_021, name: "irq27: virtio_mmio0", onCPU: 3,
                                       activity: .sleepingKernelThread(calls: ["ithread_loop"])),
            ]),
            ARM64ProcessDescription(pid: 11, comm: "idle", flags: 0x1000_0204, threads: [
                ARM64ThreadDescription(tid: 100_003, name: "idle: cpu0", onCPU: 0,
                                       activity: .stoppedByIPI(interrupted: ["cpu_idle", "sched_idletd"], syscall: false)),
                ARM64ThreadDescription(tid: 100_004, name: "idle: cpu1", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
                ARM64ThreadDescription(tid: 100_005, name: "idle: cpu2", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
                ARM64ThreadDescription(tid: 100_006, name: "idle: cpu3", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
            ]),
            ARM64ProcessDescription(pid: 0, comm: "kernel", flags: 0x1000_0204, threads: [
                ARM64ThreadDescription(tid: 100_000, name: "swapper", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep"])),
                ARM64ThreadDescription(tid: 100_007, name: "thread taskq", activity: .neverRan),
            ]),
        ]
        return ARM64ThreadsDescription(osreldate: osreldate, granule: granule, cpuCount: 4, stoppedCPUs: [0, 2],
                                       processes: processes, dumpTID: 100_200)
    }
}

/// Addresses and the kernel text of the arm64 thread fixture (kernel map K = VM_MIN_KERNEL_ADDRESS).
public enum ARM64ThreadKernel {
    public static let kernbase: UInt64 = 0xffff_0000_0000_0000
    public static let textBase = kernbase + 0x1_0000
    public static let textSize = 0x8000
    public static let dataBase = kernbase + 0x2_0000
    public static let dataSize = 0x4000
    /// `.bss`: dumppcb, stoppcbs[MAXCPU], stopped_cpus, allproc, …
    public static let bssBase = kernbase + 0x2_4000
    public static let bssSize: UInt64 = 0x8000
    public static let procBase = kernbase + 0x4_0000
    public static let threadBase = kernbase + 0x4_8000
    /// Kernel stacks: slot `i` at `stackBase + i * stackStride`, its 16 KiB mapped at `+ stackOffset`,
    /// unmapped guard space below and above.
    public static let stackBase = kernbase + 0x10_0000
    public static let stackStride: UInt64 = 0x1_0000
    public static let stackOffset: UInt64 = 0x8000
    public static let stackSize: UInt64 = 0x4000
    /// Mapped nowhere (for the pcb-into-unmapped-memory corruption).
    public static let unmapped = kernbase + 0x30_0000
    /// A mapped page of zeros above every stack (for the fp-outside-the-stack corruption).
    public static let heapBase = kernbase + 0x38_0000
    /// MAXCPU of the fixture kernel.
    public static let maxCPU = 16

    /// The kernel's code: (name, size, is an assembler label without a prologue), laid out in order
    /// from `textBase` at 16-byte boundaries.
    static let functions: [(String, Int, Bool)] = [
        ("kdb_backtrace", 0x60, false), ("vpanic", 0x200, false), ("panic", 0x60, false), ("doadump", 0x80, false),
        ("kern_reboot", 0x300, false), ("savectx", 0x80, true), ("cpu_switch", 0x200, true), ("sched_switch", 0x400, false),
        ("mi_switch", 0x200, false), ("sleepq_switch", 0x200, false), ("sleepq_wait", 0x80, false),
        ("sleepq_catch_signals", 0x300, false), ("sleepq_wait_sig", 0x80, false), ("sleepq_timedwait", 0x100, false),
        ("_sleep", 0x300, false), ("kern_wait6", 0x300, false), ("sys_wait4", 0x80, false), ("svc_handler", 0x200, false),
        ("do_el0_sync", 0x300, false), ("do_el1h_sync", 0x300, false), ("data_abort", 0x400, false),
        ("handle_el1h_sync", 0x100, true), ("handle_el1h_irq", 0x100, true), ("handle_el0_sync", 0x100, true),
        ("handle_el0_irq", 0x100, true), ("handle_serror", 0x80, true), ("handle_empty_exception", 0x80, true),
        ("fork_trampoline", 0x40, true), ("fork_exit", 0x100, false), ("sched_idletd", 0x400, false),
        ("cpu_idle", 0x100, false), ("intr_irq_handler", 0x100, false), ("intr_ipi_dispatch", 0x100, false),
        ("ipi_handler", 0x200, false), ("ipi_stop", 0x100, false), ("vm_pageout_worker", 0x600, false),
        ("vm_pageout", 0x200, false), ("vm_pageout_laundry_worker", 0x500, false), ("ithread_loop", 0x300, false),
        ("sysctl_debug_crash", 0x80, false), ("sysctl_root_handler_locked", 0x100, false), ("sysctl_root", 0x300, false),
        ("userland_sysctl", 0x200, false), ("sys___sysctl", 0x100, false), ("uiomove_faultflag", 0x300, false),
        ("ffs_read", 0x600, false), ("vn_read", 0x200, false), ("dofileread", 0x100, false), ("kern_readv", 0x80, false),
        ("sys_read", 0x80, false),
    ]

    /// The text's layout: start, size and label flag of every function.
    static let text = FixtureText(functions, base: textBase, size: textSize, what: "arm64 ")
    static var layout: [String: (start: UInt64, size: Int, label: Bool)] { text.layout }

    /// The start of function `name` (a fixture bug traps: names are fixed at compile time).
    static func start(_ name: String) -> UInt64 { text.start(name) }

    /// Return offsets of the `bl` in the assembler routines (after save_registers in the vectors,
    /// after the argument moves in fork_trampoline).
    static let stubReturn: [String: UInt64] = [
        "handle_el1h_sync": 0x88, "handle_el1h_irq": 0x84, "handle_el0_sync": 0x90, "handle_el0_irq": 0x8c,
        "fork_trampoline": 0x14,
    ]

    /// The return address of the `bl` from `caller` to `callee` (the same site for every thread).
    static func returnAddress(caller: String, callee: String) -> UInt64 {
        if let fixed = stubReturn[caller] { return start(caller) + fixed }
        let words = UInt64(layout[caller]!.size - 0x20) / 4
        return start(caller) + 0x10 + 4 * (ThreadKernel.fnv(caller + ">" + callee) % words)
    }

    /// An instruction inside `function` where an exception hit.
    static func interruptedPC(_ function: String, _ why: String) -> UInt64 {
        let words = UInt64(layout[function]!.size - 0x10) / 4
        return start(function) + 0x8 + 4 * (ThreadKernel.fnv(function + "!" + why) % words)
    }

    /// The vectors' `save_registers` head (exception.S): for EL1 `mov x18, sp; sub sp, sp, #128`, then
    /// `sub sp, sp, #(TF_SIZE + 16); stp x29, x30, [sp, #TF_SIZE]; add x29, sp, #TF_SIZE` (the register
    /// stores between are left out: debuggers only need the frame-record setup).
    static func vectorHead(el1: Bool, trapframeSize: UInt64) -> [UInt32] {
        let tf = UInt32(trapframeSize)
        let frame: [UInt32] = [0xd100_03ff | (tf + 16) << 10, 0xa900_7bfd | (tf / 8) << 15, 0x9100_03fd | tf << 10]
        return (el1 ? [0x9100_03f2, 0xd102_03ff] : []) + frame
    }

    /// The vectors and whether each is entered from EL1.
    static let vectors: [(String, Bool)] = [
        ("handle_el1h_sync", true), ("handle_el1h_irq", true), ("handle_el0_sync", false), ("handle_el0_irq", false),
        ("handle_serror", false), ("handle_empty_exception", false),
    ]

    /// `.text`: `brk #0` everywhere, `stp x29, x30, [sp, #-16]!; mov x29, sp` at each function with a
    /// prologue, the vectors' frame setup for a trapframe of `trapframeSize` bytes, and a real
    /// `bl callee` before every return address the fixture uses.
    static func textBytes(callSites: [(caller: String, callee: String)], trapframeSize: UInt64) -> [UInt8] {
        var text = [UInt8](repeating: 0, count: textSize)
        for i in stride(from: 0, to: textSize, by: 4) { text.replaceSubrange(i..<i + 4, with: [0x00, 0x00, 0x20, 0xd4]) }
        for (name, _, label) in functions where !label {
            let at = Int(start(name) - textBase)
            text.replaceSubrange(at..<at + 8, with: [0xfd, 0x7b, 0xbf, 0xa9, 0xfd, 0x03, 0x00, 0x91])
        }
        for (name, el1) in vectors {
            for (i, insn) in vectorHead(el1: el1, trapframeSize: trapframeSize).enumerated() {
                let at = Int(start(name) - textBase) + 4 * i
                for b in 0..<4 { text[at + b] = UInt8(truncatingIfNeeded: insn >> (8 * UInt32(b))) }
            }
        }
        for site in callSites {
            let call = returnAddress(caller: site.caller, callee: site.callee) - 4
            let words = Int64(bitPattern: start(site.callee) &- call) / 4
            let insn = 0x9400_0000 | UInt32(truncatingIfNeeded: words) & 0x03ff_ffff
            let at = Int(call - textBase)
            for i in 0..<4 { text[at + i] = UInt8(truncatingIfNeeded: insn >> (8 * UInt32(i))) }
        }
        return text
    }
}
