// The riscv thread fixture: what to generate (processes, threads and what each was doing), the kernel's
// text layout (functions with RV64 prologues, call sites, the exception handlers) and the golden scenario.
// The architecture-independent parts (ThreadLayout, the *Truth types) are shared with amd64 and arm64
// (Threads.swift); the builder is RISCVStacks.swift.
// Facts: FSRC sys/riscv/include/{pcb,frame,reg}.h, sys/riscv/riscv/{swtch.S,exception.S,db_trace.c,unwind.c,
// mp_machdep.c,trap.c}.

/// What a riscv thread was doing, which decides its stack.
public enum RISCVThreadActivity: Sendable, Equatable {
    /// Asleep in a system call: `sched_switch`, `mi_switch`, `calls` (innermost first), `syscallenter`,
    /// `ecall_handler`, `do_trap_user`, `cpu_exception_handler_user` and a user-mode trapframe (scause 8,
    /// the syscall number `syscall` in tf_t[0]).
    case sleepingInSyscall(calls: [String], syscall: UInt64)
    /// A kernel thread asleep: `sched_switch`, `mi_switch`, `calls` (innermost first), `fork_exit`,
    /// `fork_trampoline`.
    case sleepingKernelThread(calls: [String])
    /// Created but never run: pcb_ra is `fork_trampoline`.
    case neverRan
    /// The panicking thread (`dumptid`): savectx in `doadump` into `dumppcb`, the panic chain from a kernel
    /// store page fault (`cpu_exception_handler_supervisor`) in `sysctl_debug_crash`, reached from `sysctl(2)`.
    case crashed
    /// On a CPU stopped by the panic's IPI_STOP: savectx in `ipi_handler` into `stoppcbs[cpu]`, the interrupt
    /// dispatch, `cpu_exception_handler_supervisor` and a supervisor software interrupt's trapframe over
    /// `interrupted` (innermost first), which ends like a kernel thread or, with `syscall`, in a system call.
    case stoppedByIPI(interrupted: [String], syscall: UInt64?)
}

/// One riscv thread to generate.
public typealias RISCVThreadDescription = FixtureThread<RISCVThreadActivity>
/// One riscv process to generate.
public typealias RISCVProcessDescription = FixtureProcess<RISCVThreadActivity>
/// Damage done to a generated riscv thread dump.
public typealias RISCVThreadCorruption = StackCorruption

/// Everything the riscv thread fixture generator needs.
public struct RISCVThreadsDescription: Sendable {
    public var osreldate: UInt32
    /// `mp_maxid + 1`.
    public var cpuCount: Int
    /// CPUs whose bit is set in `stopped_cpus`.
    public var stoppedCPUs: [Int]
    /// Processes in allproc order.
    public var processes: [RISCVProcessDescription]
    public var dumpTID: Int32
    /// The offset symbols' values (pcb_size is riscv's).
    public var layout: ThreadLayout
    /// The minidump version (1 or 2).
    public var version: UInt32
    public var corruptions: [RISCVThreadCorruption]
    /// Seed of register values and page placement.
    public var seed: UInt64

    public init(osreldate: UInt32 = RISCVFixture.osreldate, cpuCount: Int, stoppedCPUs: [Int],
                processes: [RISCVProcessDescription], dumpTID: Int32, layout: ThreadLayout = .riscv, version: UInt32 = 2,
                corruptions: [RISCVThreadCorruption] = [], seed: UInt64 = 0) {
        self.osreldate = osreldate
        self.cpuCount = cpuCount
        self.stoppedCPUs = stoppedCPUs
        self.processes = processes
        self.dumpTID = dumpTID
        self.layout = layout
        self.version = version
        self.corruptions = corruptions
        self.seed = seed
    }
}

extension ThreadLayout {
    /// The fixture's riscv layout: amd64's offsets with riscv's `pcb_size` (0x298, sys/riscv/include/pcb.h).
    public static var riscv: ThreadLayout {
        var layout = ThreadLayout()
        layout.pcbSize = 0x298
        return layout
    }

    /// The same with the older riscv pcb (pcb_t[7] before pcb_s[12], pcb_a[8] after, the FP state, pcb_sepc,
    /// pcb_onfault: `pcb_size` 0x318); the generator writes that layout for this size.
    public static var riscvFullPCB: ThreadLayout {
        var layout = ThreadLayout()
        layout.pcbSize = 0x318
        return layout
    }
}

extension RISCVThreadsDescription {
    /// The golden riscv scenario (`vmcore.riscv.threads` + `kernel.riscv.threads`): 4 harts, FreeBSD 14.1.
    /// CPU 1 panics (a store page fault in a sysctl handler reached from `sysctl(2)`); CPUs 0 and 2 are
    /// stopped by IPI_STOP (CPU 0's idle thread in `cpu_idle`, CPU 2 inside `read(2)`); CPU 3 never answered
    /// (missing from `stopped_cpus`: its thread is unwound from its `td_pcb`).
    public static func golden(version: UInt32 = 2) -> RISCVThreadsDescription {
        let processes = [
            RISCVProcessDescription(pid: 939, comm: "sysctl", threads: [
                RISCVThreadDescription(tid: 100_200, name: "sysctl", onCPU: 1, activity: .crashed),
            ]),
            RISCVProcessDescription(pid: 938, comm: "dd", threads: [
                RISCVThreadDescription(tid: 100_199, name: "dd", onCPU: 2, activity: .stoppedByIPI(
                    interrupted: ["uiomove_faultflag", "ffs_read", "vn_read", "dofileread", "kern_readv", "sys_read"], syscall: 3)),
            ]),
            RISCVProcessDescription(pid: 937, comm: "sh", threads: [
                RISCVThreadDescription(tid: 100_198, name: "sh", activity: .sleepingInSyscall(
                    calls: ["sleepq_switch", "sleepq_catch_signals", "sleepq_wait_sig", "_sleep", "kern_wait6", "sys_wait4"],
                    syscall: 7)),
            ]),
            RISCVProcessDescription(pid: 28, comm: "pagedaemon", flags: 0x1000_0204, threads: [
                RISCVThreadDescription(tid: 100_090, name: "dom0", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep", "vm_pageout_worker", "vm_pageout"])),
                RISCVThreadDescription(tid: 100_091, name: "laundry: dom0", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep", "vm_pageout_laundry_worker"])),
            ]),
            RISCVProcessDescription(pid: 12, comm: "intr", flags: 0x1000_0204, threads: [
                RISCVThreadDescription(tid: 100_020, name: "swi4: clock (0)", activity: .sleepingKernelThread(calls: ["ithread_loop"])),
                RISCVThreadDescription(tid: 100_021, name: "irq10: virtio_mmio0", onCPU: 3,
                                       activity: .sleepingKernelThread(calls: ["ithread_loop"])),
            ]),
            RISCVProcessDescription(pid: 11, comm: "idle", flags: 0x1000_0204, threads: [
                RISCVThreadDescription(tid: 100_003, name: "idle: cpu0", onCPU: 0,
                                       activity: .stoppedByIPI(interrupted: ["cpu_idle", "sched_idletd"], syscall: nil)),
                RISCVThreadDescription(tid: 100_004, name: "idle: cpu1", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
                RISCVThreadDescription(tid: 100_005, name: "idle: cpu2", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
                RISCVThreadDescription(tid: 100_006, name: "idle: cpu3", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
            ]),
            RISCVProcessDescription(pid: 0, comm: "kernel", flags: 0x1000_0204, threads: [
                RISCVThreadDescription(tid: 100_000, name: "swapper", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep"])),
                RISCVThreadDescription(tid: 100_007, name: "thread taskq", activity: .neverRan),
            ]),
        ]
        return RISCVThreadsDescription(cpuCount: 4, stoppedCPUs: [0, 2], processes: processes, dumpTID: 100_200,
                                       version: version)
    }
}

/// Addresses and the kernel text of the riscv thread fixture (kernel map K = VM_MIN_KERNEL_ADDRESS).
public enum RISCVThreadKernel {
    public static let kernbase = RISCVDumpDescription.defaultKernbase
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
    /// 2 MiB regions of the kernel map (kernel_vm_end = K + 4 MiB).
    public static let kernelMapChunks = 2
    /// MAXCPU of the fixture kernel.
    public static let maxCPU = 16
    /// The bytes save_registers reserves: sizeof(struct trapframe) (35 words) rounded up to the 16-byte
    /// stack alignment.
    public static let trapframeReservation: UInt64 = 288
    /// `__global_pointer$` and the pcpu area the fixture's pcbs hold in gp and tp.
    public static let globalPointer = dataBase + 0x800
    public static let pcpuBase = bssBase + 0x6000

    /// The kernel's code: (name, size, is an assembler label without a prologue), laid out in order from
    /// `textBase` at 16-byte boundaries.
    static let functions: [(String, Int, Bool)] = [
        ("kdb_backtrace", 0x60, false), ("vpanic", 0x200, false), ("panic", 0x60, false), ("doadump", 0x80, false),
        ("kern_reboot", 0x300, false), ("savectx", 0x80, true), ("cpu_switch", 0x200, true), ("sched_switch", 0x400, false),
        ("mi_switch", 0x200, false), ("sleepq_switch", 0x200, false), ("sleepq_wait", 0x80, false),
        ("sleepq_catch_signals", 0x300, false), ("sleepq_wait_sig", 0x80, false), ("sleepq_timedwait", 0x100, false),
        ("_sleep", 0x300, false), ("kern_wait6", 0x300, false), ("sys_wait4", 0x80, false), ("syscallenter", 0x300, false),
        ("ecall_handler", 0x100, false), ("do_trap_user", 0x300, false), ("do_trap_supervisor", 0x300, false),
        ("page_fault_handler", 0x400, false), ("cpu_exception_handler", 0x40, true),
        ("cpu_exception_handler_supervisor", 0x200, true), ("cpu_exception_handler_user", 0x200, true),
        ("fork_trampoline", 0x100, true), ("fork_exit", 0x100, false), ("fork_return", 0x100, false),
        ("sched_idletd", 0x400, false), ("cpu_idle", 0x100, false), ("riscv_cpu_intr", 0x100, false),
        ("intr_isrc_dispatch", 0x100, false), ("ipi_handler", 0x200, false), ("vm_pageout_worker", 0x600, false),
        ("vm_pageout", 0x200, false), ("vm_pageout_laundry_worker", 0x500, false), ("ithread_loop", 0x300, false),
        ("sysctl_debug_crash", 0x80, false), ("sysctl_root_handler_locked", 0x100, false), ("sysctl_root", 0x300, false),
        ("userland_sysctl", 0x200, false), ("sys___sysctl", 0x100, false), ("uiomove_faultflag", 0x300, false),
        ("ffs_read", 0x600, false), ("vn_read", 0x200, false), ("dofileread", 0x100, false), ("kern_readv", 0x80, false),
        ("sys_read", 0x80, false),
    ]

    /// The text's layout: start, size and label flag of every function.
    static let text = FixtureText(functions, base: textBase, size: textSize, what: "riscv ")
    static var layout: [String: (start: UInt64, size: Int, label: Bool)] { text.layout }

    /// The start of function `name` (a fixture bug traps: names are fixed at compile time).
    static func start(_ name: String) -> UInt64 { text.start(name) }

    /// The frame a function with a prologue allocates (16 to 64 bytes): `addi sp, sp, -N; sd ra, N-8(sp);
    /// sd s0, N-16(sp); addi s0, sp, N`.
    static func frameSize(_ name: String) -> UInt64 { 16 + 16 * (ThreadKernel.fnv(name) % 4) }

    /// Return offsets of the `call` in the assembler routines: after save_registers and `mv a0, sp` in the
    /// handlers, after the three argument moves in fork_trampoline (swtch.S).
    static let stubReturn: [String: UInt64] = [
        "cpu_exception_handler_supervisor": 0xbc, "cpu_exception_handler_user": 0xc0, "fork_trampoline": 0x10,
    ]

    /// The return address of the call from `caller` to `callee` (the same site for every thread): after
    /// the prologue (16 bytes), a 4-byte `jal ra` somewhere in the body.
    static func returnAddress(caller: String, callee: String) -> UInt64 {
        if let fixed = stubReturn[caller] { return start(caller) + fixed }
        let words = UInt64(layout[caller]!.size - 0x20) / 4
        return start(caller) + 0x14 + 4 * (ThreadKernel.fnv(caller + ">" + callee) % words)
    }

    /// An instruction inside `function` (after its prologue) where a trap or interrupt hit.
    static func interruptedPC(_ function: String, _ why: String) -> UInt64 {
        let words = UInt64(layout[function]!.size - 0x20) / 4
        return start(function) + 0x10 + 4 * (ThreadKernel.fnv(function + "!" + why) % words)
    }

    static func addi(_ rd: UInt32, _ rs1: UInt32, _ imm: Int64) -> UInt32 {
        UInt32(truncatingIfNeeded: imm & 0xfff) << 20 | rs1 << 15 | rd << 7 | 0x13
    }

    static func sd(_ rs2: UInt32, _ imm: Int64, _ rs1: UInt32) -> UInt32 {
        let i = UInt32(truncatingIfNeeded: imm & 0xfff)
        return (i >> 5) << 25 | rs2 << 20 | rs1 << 15 | 3 << 12 | (i & 0x1f) << 7 | 0x23
    }

    /// `jal ra, target` at `at`.
    static func jal(from at: UInt64, to target: UInt64) -> UInt32 {
        let offset = UInt32(truncatingIfNeeded: Int64(bitPattern: target &- at))
        let b20 = (offset >> 20) & 1, b10_1 = (offset >> 1) & 0x3ff, b11 = (offset >> 11) & 1, b19_12 = (offset >> 12) & 0xff
        return b20 << 31 | b10_1 << 21 | b11 << 20 | b19_12 << 12 | 1 << 7 | 0x6f
    }

    /// `.text`: `ebreak` everywhere, the frame-pointer prologue of each function that has one (its
    /// `frameSize`), save_registers' `addi sp, sp, -TF_SIZE` at both handlers, and a real `jal ra, callee`
    /// before every return address the fixture uses.
    static func textBytes(callSites: [(caller: String, callee: String)]) -> [UInt8] {
        var text = [UInt8](repeating: 0, count: textSize)
        func put(_ at: UInt64, _ insn: UInt32) {
            let o = Int(at - textBase)
            for b in 0..<4 { text[o + b] = UInt8(truncatingIfNeeded: insn >> (8 * UInt32(b))) }
        }
        for i in stride(from: 0, to: UInt64(textSize), by: 4) { put(textBase + i, 0x0010_0073) }
        for (name, _, label) in functions where !label {
            let n = Int64(frameSize(name))
            let s = start(name)
            put(s, addi(2, 2, -n)); put(s + 4, sd(1, n - 8, 2)); put(s + 8, sd(8, n - 16, 2)); put(s + 12, addi(8, 2, n))
        }
        for name in ["cpu_exception_handler_supervisor", "cpu_exception_handler_user"] {
            put(start(name), addi(2, 2, -Int64(trapframeReservation)))
        }
        for site in callSites {
            let call = returnAddress(caller: site.caller, callee: site.callee) - 4
            put(call, jal(from: call, to: start(site.callee)))
        }
        return text
    }
}
