// Processes, threads and kernel stacks for the thread/backtrace fixtures (`vmcore.2` + `kernel.2`):
// the description, the layouts the generator writes, and the ground truth a reader must reproduce.
// Layout facts: shared/spec/threads-and-backtraces.md §1–§6 (struct offsets below are the fixture's
// own choice; a reader must take them from the `*_off_*` symbols, as kgdb and LLDB do).

/// The fixture's `struct proc` / `struct thread` layout (the values of the offset symbols) and sizes.
public struct ThreadLayout: Sendable, Equatable {
    public var procPID = 0xbc
    public var procComm = 0x3c4
    public var procList = 0x0
    public var procHash = 0xc0
    public var procThreads = 0x10
    /// `p_flag` (no offset symbol exists; the reader only gets it from an offsets file).
    public var procFlag = 0xb0
    public var threadTID = 0x98
    public var threadName = 0x2a4
    public var threadOnCPU = 0x2e4
    public var threadPCB = 0x470
    public var threadPList = 0x10
    /// `td_state` (no offset symbol exists; only an offsets file gives it, as `thread_off_td_state`).
    public var threadState = 0x310
    /// `td_md.md_pcb`: where `td_pcb` points in this fixture (newer amd64 keeps the pcb in struct thread).
    public var threadMDPCB = 0x4c0
    /// `sizeof(struct proc)` and `sizeof(struct thread)` in the fixture.
    public var procSize = 0x500
    public var threadSize = 0x600
    /// `pcb_size` (amd64: 0x140).
    public var pcbSize = 0x140

    public init() {}

    /// The offset symbols and their values, in kern_proc.c declaration order (pcb_size last).
    public var symbolValues: [(String, Int)] {
        [("proc_off_p_pid", procPID), ("proc_off_p_comm", procComm), ("proc_off_p_list", procList),
         ("proc_off_p_hash", procHash), ("proc_off_p_threads", procThreads), ("thread_off_td_tid", threadTID),
         ("thread_off_td_name", threadName), ("thread_off_td_oncpu", threadOnCPU), ("thread_off_td_pcb", threadPCB),
         ("thread_off_td_plist", threadPList), ("pcb_size", pcbSize)]
    }
}

/// What a thread was doing, which decides its stack.
public enum ThreadActivity: Sendable, Equatable {
    /// Asleep in the kernel on behalf of a user process: `sched_switch … sys_<call>`, `amd64_syscall`,
    /// `fast_syscall_common` and a user-mode syscall trapframe. `calls` are the functions between
    /// `mi_switch` and `amd64_syscall`, innermost first.
    case sleepingInSyscall(calls: [String], syscall: UInt64)
    /// A kernel thread asleep: `sched_switch`, `mi_switch`, `calls` (innermost first), `fork_exit`, `fork_trampoline`.
    case sleepingKernelThread(calls: [String])
    /// A kernel thread created but never run: its pcb resumes at `fork_trampoline`.
    case neverRan
    /// The panicking thread (its `td_tid` is `dumptid`): savectx in doadump, the panic chain, a page-fault
    /// trapframe in `faulting`, then the syscall that led there.
    case crashed
    /// Running on a CPU stopped by the panic NMI: `cpustop_handler`, `ipi_nmi_handler`, `trap`, `nmi_calltrap`
    /// and an NMI trapframe (on the CPU's NMI stack) interrupting `interrupted` (innermost first) on the
    /// thread's own stack, which ends like `sleepingKernelThread` or, when `syscall` is set, in a syscall.
    case stoppedByNMI(interrupted: [String], syscall: UInt64?)
    /// Like `stoppedByNMI` on a kernel thread, but the NMI hit the timer interrupt handler `handler`
    /// (innermost first), entered through `Xtimerint` with a kernel-mode interrupt trapframe on the
    /// thread's stack over `interrupted`.
    case stoppedByNMIInTimerInterrupt(interrupted: [String], handler: [String])
}

/// One thread to generate; `Activity` (what it was doing) is the architecture's.
public struct FixtureThread<Activity: Sendable & Equatable>: Sendable, Equatable {
    public var tid: Int32
    /// `td_name` (at most 19 bytes).
    public var name: String
    /// `td_oncpu`; nil is NOCPU (-1).
    public var onCPU: Int?
    public var activity: Activity

    public init(tid: Int32, name: String, onCPU: Int? = nil, activity: Activity) {
        self.tid = tid
        self.name = name
        self.onCPU = onCPU
        self.activity = activity
    }
}

/// One process to generate, with its threads.
public struct FixtureProcess<Activity: Sendable & Equatable>: Sendable, Equatable {
    public var pid: Int32
    /// `p_comm` (at most 19 bytes).
    public var comm: String
    /// `p_flag`.
    public var flags: UInt32
    /// Its threads in `p_threads` order.
    public var threads: [FixtureThread<Activity>]

    public init(pid: Int32, comm: String, flags: UInt32 = 0x1000_0000, threads: [FixtureThread<Activity>]) {
        self.pid = pid
        self.comm = comm
        self.flags = flags
        self.threads = threads
    }
}

/// Damage done to the stacks of a generated arm64, riscv or i386 thread dump (each must give a bounded walk
/// and a stated reason). Frame 1 is the first frame the pcb's frame pointer leads to.
public enum StackCorruption: Sendable, Equatable {
    /// Thread `tid`'s frame `frame` saves its own frame pointer.
    case frameLoop(tid: Int32, frame: Int)
    /// Thread `tid`'s frame `frame` saves a frame pointer in the unmapped guard space above its stack.
    case framePointerUnmapped(tid: Int32, frame: Int)
    /// Thread `tid`'s frame `frame` saves a frame pointer outside any stack: a mapped page of zeros.
    case framePointerOutsideStack(tid: Int32, frame: Int)
    /// Thread `tid`'s `td_pcb` points into unmapped kernel memory.
    case pcbUnmapped(tid: Int32)
}

/// One amd64 thread to generate.
public typealias ThreadDescription = FixtureThread<ThreadActivity>
/// One amd64 process to generate.
public typealias ProcessDescription = FixtureProcess<ThreadActivity>

/// Damage done to a generated thread dump (each gives a stated reason and no trap in a reader).
public enum ThreadCorruption: Sendable, Equatable {
    /// The last process's `p_list.le_next` points back at the first process.
    case processListCycle
    /// Thread `tid`'s `td_plist.tqe_next` points at itself.
    case threadListCycle(tid: Int32)
    /// Process at allproc position `index`'s `le_next` points into an unmapped stack guard page.
    case processPointerUnmapped(index: Int)
    /// Thread `tid`'s frame `frame` (1 = the frame at pcb_rbp) has its saved rbp pointing at itself.
    case frameLoop(tid: Int32, frame: Int)
    /// Thread `tid`'s frame `frame` has a zero return address.
    case zeroReturnAddress(tid: Int32, frame: Int)
    /// Thread `tid`'s saved rbp at frame `frame` points into an unmapped guard page.
    case framePointerUnmapped(tid: Int32, frame: Int)
    /// Thread `tid`'s `td_pcb` points into an unmapped page.
    case pcbUnmapped(tid: Int32)
    /// Thread `tid`'s pcb has `pcb_rip` = 0.
    case pcbZeroPC(tid: Int32)
    /// Thread `tid`'s `td_pcb` is NULL.
    case pcbNull(tid: Int32)
    /// The offset symbol `symbol` holds `value` in the dump (and the image).
    case absurdOffset(symbol: String, value: Int32)
}

/// Everything the thread fixture generator needs.
public struct ThreadsDescription: Sendable {
    /// `osreldate`: from 1400089 on `stoppcbs` is a pointer to the array, before it the array itself.
    public var osreldate: UInt32
    /// `mp_maxid + 1`.
    public var cpuCount: Int
    /// CPUs whose bit is set in `stopped_cpus` (the panicking CPU and a wedged one are missing).
    public var stoppedCPUs: [Int]
    /// Processes in allproc order (head first).
    public var processes: [ProcessDescription]
    /// `dumptid`.
    public var dumpTID: Int32
    /// The layout (offset symbol values).
    public var layout: ThreadLayout
    /// Damage applied after building.
    public var corruptions: [ThreadCorruption]
    /// Seed of register values and the dump's page placement.
    public var seed: UInt64
    /// When false, ordinary pages are holes (for the big benchmark dump).
    public var stampPages: Bool
    /// Forces the form of `stoppcbs` (true: pointer) against what `osreldate` says; nil follows osreldate.
    /// The symbol's size always matches the form written (8 for the pointer, MAXCPU pcbs for the array).
    public var stoppcbsPointer: Bool? = nil

    public init(osreldate: UInt32 = KernelFixture.osreldate, cpuCount: Int, stoppedCPUs: [Int],
                processes: [ProcessDescription], dumpTID: Int32, layout: ThreadLayout = ThreadLayout(),
                corruptions: [ThreadCorruption] = [], seed: UInt64 = 0, stampPages: Bool = true) {
        self.osreldate = osreldate
        self.cpuCount = cpuCount
        self.stoppedCPUs = stoppedCPUs
        self.processes = processes
        self.dumpTID = dumpTID
        self.layout = layout
        self.corruptions = corruptions
        self.seed = seed
        self.stampPages = stampPages
    }
}

// MARK: Ground truth

/// One expected frame, as a reader must print it.
public struct FrameTruth: Sendable, Equatable {
    /// The pc (frame 0: pcb_rip; then return addresses; after a trap line: tf_rip).
    public var pc: UInt64
    /// The stack pointer (frame 0: pcb_rsp; a frame found at fp: fp + 16; after a trap line: tf_rsp).
    public var sp: UInt64
    /// The frame pointer of this frame (frame 0: pcb_rbp; a frame found at fp: [fp]; after a trap: tf_rbp).
    public var fp: UInt64
    /// The function containing `pc` (nearest symbol at or below it).
    public var function: String
    /// `pc - function`.
    public var offset: UInt64
    /// The trap line printed after this frame (a trap, interrupt or syscall stub), if any.
    public var trap: TrapTruth?

    /// `func+0xoff` (or `func` at offset 0).
    public var symbolized: String { offset == 0 ? function : "\(function)+0x\(String(offset, radix: 16))" }
}

/// An expected trap line: `--- trap 0xc, rip = …, rsp = …, rbp = … ---`.
public struct TrapTruth: Sendable, Equatable {
    /// "trap", "interrupt" or "syscall".
    public var kind: String
    /// `tf_trapno` (trap) or `tf_rax` (syscall number).
    public var number: UInt64
    public var rip: UInt64
    public var rsp: UInt64
    public var rbp: UInt64
    /// From user mode (tf_cs & 3 != 0).
    public var user: Bool
    /// Address of the trapframe.
    public var address: UInt64
}

/// One expected thread.
public struct ThreadTruth: Sendable, Equatable {
    public var tid: Int32
    public var pid: Int32
    public var comm: String
    public var name: String
    public var cpu: Int?
    /// `td_state` by name: "RUNNING" (on a CPU), "INHIBITED" (asleep) or "CAN_RUN" (never ran).
    public var state: String
    public var crashed: Bool
    /// "dumppcb", "stoppcbs[N]" or "td_pcb".
    public var pcbSource: String
    /// Address of the pcb used (nil when there is none).
    public var pcb: UInt64?
    /// Address of `struct thread`.
    public var address: UInt64
    /// rip rsp rbp rbx r12 r13 r14 r15 from the pcb (empty when unreadable).
    public var registers: [String: UInt64]
    public var frames: [FrameTruth]
    /// The stop reason string (see the reader's list).
    public var stop: String
    /// LLDB's display name.
    public var displayName: String
}

/// One expected process.
public struct ProcessTruth: Sendable, Equatable {
    public var pid: Int32
    public var comm: String
    public var flags: UInt32
    public var address: UInt64
    public var threadCount: Int
}

/// What the thread dump holds: the reader's expected output.
public struct ThreadsTruth: Sendable {
    /// Processes in allproc order (as far as a reader can walk).
    public var processes: [ProcessTruth]
    /// Threads in walk order (allproc, then p_threads).
    public var threads: [ThreadTruth]
    /// `dumptid`.
    public var dumpTID: Int32
    /// Symbol addresses of the kernel (name → value).
    public var symbols: [String: UInt64]
    /// Whether `stoppcbs` is written in pointer form.
    public var stoppcbsIsPointer: Bool
    /// Problems a reader must report while walking the lists (stable prefixes only).
    public var listProblems: [String]

    /// The crashed thread.
    public var crashed: ThreadTruth? { threads.first { $0.crashed } }
}
