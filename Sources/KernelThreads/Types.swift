/// Processes, threads and backtraces of a FreeBSD kernel dump, from the kernel's own symbols (no DWARF).
///
/// Facts: shared/spec/threads-and-backtraces.md. The list walking and the pcb choice here are
/// architecture neutral; the pcb layout, the frame walk and the trap-frame rules live in one file per
/// architecture (`AMD64Threads.swift`, `ARM64Threads.swift`, `I386Threads.swift`, `RISCVThreads.swift`) behind `ThreadArchitecture`.
import MinidumpCore

/// A process on `allproc`.
public struct KernelProcess: Sendable, Equatable {
    /// `p_pid`.
    public let pid: Int32
    /// `p_comm`.
    public let comm: String
    /// `p_flag`, when its offset is known (only from an offsets file: the kernel exports no symbol for it).
    public let flags: UInt32?
    /// Address of `struct proc`.
    public let address: VirtualAddress
    /// Threads read from `p_threads` (fewer than the process has when that list is broken).
    public let threadCount: Int
}

/// A thread, with the pcb a debugger would unwind it from.
public struct KernelThread: Sendable {
    /// `td_tid`.
    public let tid: Int32
    /// The process's `p_pid`.
    public let pid: Int32
    /// The process's `p_comm`.
    public let comm: String
    /// `td_name`.
    public let name: String
    /// `td_oncpu` (nil for NOCPU).
    public let cpu: Int?
    /// `td_state` by name (INACTIVE, INHIBITED, CAN_RUN, RUNQ, RUNNING, or "state N"), when its offset is
    /// known (only from an offsets file: the kernel exports no symbol for it).
    public let state: String?
    /// `td_tid == dumptid`.
    public let isCrashed: Bool
    /// The pcb used (nil when there is none: a NULL `td_pcb`, or no `dumppcb` symbol).
    public let pcb: VirtualAddress?
    /// Why that pcb: "dumppcb", "stoppcbs[N]" or "td_pcb" (kgdb's choice, spec §3.3).
    public let pcbSource: String
    /// The registers the pcb holds (amd64: rip rsp rbp rbx r12 r13 r14 r15; arm64: pc sp fp lr x19–x28;
    /// i386: eip esp ebp ebx esi edi; riscv: pc ra sp gp tp s0–s11);
    /// empty when it is unreadable.
    public var registers: [(name: String, value: UInt64)] {
        zip(registerNames, registerValues).map { (name: $0, value: $1) }
    }
    /// LLDB's name: `(pid N) comm[/tdname] (crashed|on CPU n)`.
    public var displayName: String {
        var text = "(pid " + String(pid) + ") " + comm
        if !name.isEmpty && name != comm { text += "/" + name }
        if isCrashed { text += " (crashed)" } else if let cpu { text += " (on CPU " + String(cpu) + ")" }
        return text
    }
    /// Address of `struct thread`.
    public let address: VirtualAddress
    /// Address of the process's `struct proc`.
    public let processAddress: VirtualAddress
    /// Why `registers` is empty (the pcb could not be read), else nil.
    public let pcbProblem: String?
    /// The architecture's register names (shared by every thread) and this thread's values, in that order.
    let registerNames: [String]
    let registerValues: [UInt64]

    /// The register called `name`, if the pcb supplied it.
    public func register(_ name: String) -> UInt64? {
        registerNames.firstIndex(of: name).flatMap { $0 < registerValues.count ? registerValues[$0] : nil }
    }
}

/// Why a backtrace ended: stable strings for scripts.
public enum StopReason: String, Sendable, Equatable, CaseIterable {
    /// A trapframe from user mode (the thread entered the kernel by a syscall or trap).
    case userTrapframe = "user-trapframe"
    /// The bottom of a kernel thread (`fork_trampoline`), or a thread that never ran.
    case threadStart = "thread-start"
    /// The next frame pointer is not a kernel address (0 at the end of a chain).
    case fpNotKernel = "fp-not-kernel"
    /// A return address (or a trapframe's rip) is not a kernel address.
    case pcNotKernel = "pc-not-kernel"
    /// A frame's return address is 0.
    case zeroReturnAddress = "zero-return-address"
    /// A frame, trapframe or the pcb lies in a page the dump does not hold.
    case unreadable
    /// The frame pointers did not increase (or repeated): a loop.
    case loop
    /// The frame limit was reached.
    case frameLimit = "frame-limit"
    /// The pcb's pc is 0 (nothing to unwind).
    case noPC = "no-pc"
    /// The thread has no pcb.
    case noPCB = "no-pcb"
}

/// How a trap, interrupt or syscall stub entered the kernel (the line after its frame).
public struct TrapFrameInfo: Sendable, Equatable {
    /// "trap", "interrupt" or "syscall" (amd64), "exception", "interrupt", "system error" or
    /// "unhandled exception" (arm64), "exception", "interrupt" or "syscall" (riscv): ddb's frame types.
    public let kind: String
    /// `tf_trapno` for traps, the syscall number (`tf_rax`, i386 `tf_eax`) for syscalls, `tf_esr` for arm64 exceptions,
    /// 0 for interrupts; riscv: the scause code (interrupts too), the syscall number (`tf_t[0]`) for syscalls.
    public let number: UInt64
    /// The trap's name for traps ("page fault"), nil otherwise or when unknown.
    public let name: String?
    /// Address of the trapframe.
    public let address: VirtualAddress
    /// Saved pc, stack and frame pointer.
    public let pc: UInt64
    public let sp: UInt64
    public let fp: UInt64
    /// From user mode.
    public let fromUser: Bool

    /// The architecture's register names for pc, sp and fp in the line ("rip", "rsp", "rbp"; arm64 "pc", "sp", "fp";
    /// i386 "eip", "esp", "ebp"; riscv "sepc", "sp", "s0").
    public let registerNames: (pc: String, sp: String, fp: String)
    /// The line's start when the architecture words it itself (riscv: `--- exception 15, tval = 0x…`).
    let head: String?

    init(kind: String, number: UInt64, name: String?, address: VirtualAddress, pc: UInt64, sp: UInt64, fp: UInt64,
         fromUser: Bool, registerNames: (pc: String, sp: String, fp: String), head: String? = nil) {
        self.kind = kind
        self.number = number
        self.name = name
        self.address = address
        self.pc = pc
        self.sp = sp
        self.fp = fp
        self.fromUser = fromUser
        self.registerNames = registerNames
        self.head = head
    }

    public static func == (a: TrapFrameInfo, b: TrapFrameInfo) -> Bool {
        a.kind == b.kind && a.number == b.number && a.name == b.name && a.address == b.address && a.pc == b.pc
            && a.sp == b.sp && a.fp == b.fp && a.fromUser == b.fromUser && a.registerNames == b.registerNames && a.head == b.head
    }

    /// ddb's line: `--- trap 0xc, rip = 0x…, rsp = 0x…, rbp = 0x… ---`, `--- syscall (N), …`, `--- interrupt, …`;
    /// arm64: `--- exception, esr 0x96000045, pc = 0x…, sp = 0x…, fp = 0x… ---`; riscv (ddb's words):
    /// `--- exception 15, tval = 0x…, sepc = 0x…, sp = 0x…, s0 = 0x… ---`, `--- interrupt 1, …`, `--- syscall (N), …`.
    public var line: String {
        let head: String
        if let own = self.head {
            head = own
        } else {
            switch kind {
            case "trap": head = "--- trap \(hex(number))"
            case "syscall": head = "--- syscall (\(number))"
            case "exception", "system error", "unhandled exception": head = "--- \(kind), esr \(hex(number))"
            default: head = "--- \(kind)"
            }
        }
        return "\(head), \(registerNames.pc) = \(hex(pc)), \(registerNames.sp) = \(hex(sp)), \(registerNames.fp) = \(hex(fp)) ---"
    }
}

/// One frame of a backtrace.
public struct StackFrame: Sendable, Equatable {
    /// 0 for the innermost.
    public let number: Int
    /// The pc: the pcb's for frame 0, then return addresses, then a trapframe's saved pc.
    public let pc: UInt64
    /// The stack pointer of the frame.
    public let sp: UInt64
    /// The frame pointer of the frame.
    public let fp: UInt64
    /// The nearest symbol at or below `pc` (ddb's rules), nil when none is within 64 KiB.
    public let function: String?
    /// `pc - function`.
    public let offset: UInt64
    /// The trap/interrupt/syscall this stub frame decoded, printed after it.
    public let trap: TrapFrameInfo?

    /// `func+0xoff`, `func`, or the hex pc when no symbol is near.
    public var location: String {
        guard let function else { return hex(pc) }
        return offset == 0 ? function : "\(function)+\(hex(offset))"
    }
}

/// A thread's backtrace and why it ended.
public struct Backtrace: Sendable, Equatable {
    public let frames: [StackFrame]
    public let stop: StopReason
    /// The common details are kept as values and worded only when asked for (`bt --all` on 10,000 threads).
    enum Detail: Sendable, Equatable {
        case text(String)
        case fromUser(kind: String, trapframe: UInt64, width: AddressWidth)
        case forkTrampoline
    }
    let stopDetail: Detail

    init(frames: [StackFrame], stop: StopReason, detail: Detail) {
        self.frames = frames
        self.stop = stop
        stopDetail = detail
    }

    init(frames: [StackFrame], stop: StopReason, detail: String) {
        self.init(frames: frames, stop: stop, detail: .text(detail))
    }

    /// When the stop was a trapframe from user mode: the stub's kind and the trapframe's address (the usual
    /// end of a user thread's backtrace, which `kvmdump bt` words itself, 10,000 times for `--all`).
    public var userTrapframe: (kind: String, address: UInt64)? {
        if case .fromUser(let kind, let tf, _) = stopDetail { return (kind, tf) }
        return nil
    }

    /// The stop in words, naming the address or value involved.
    public var detail: String {
        switch stopDetail {
        case .text(let text): return text
        case .fromUser(let kind, let tf, let width): return "\(kind) from user mode (trapframe at \(width.format(tf)))"
        case .forkTrampoline: return "fork_trampoline: the bottom of the thread"
        }
    }
}

/// Bounds of every walk (documented in kvmdump(1)).
public struct WalkLimits: Sendable, Equatable {
    /// Processes read from allproc (PID_MAX is 99999).
    public var maxProcesses: Int
    /// Threads read in total.
    public var maxThreads: Int
    /// Frames per backtrace (ddb's default count is 1024; 256 covers any real kernel stack of 16 KiB).
    public var maxFrames: Int

    public init(maxProcesses: Int = 100_000, maxThreads: Int = 500_000, maxFrames: Int = 256) {
        self.maxProcesses = maxProcesses
        self.maxThreads = maxThreads
        self.maxFrames = maxFrames
    }

    /// The defaults.
    public static let standard = WalkLimits()
}

/// Why the thread list could not be built at all.
public enum ThreadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kernel image's machine has no thread support here.
    case unsupportedArchitecture(kernel: String, machine: UInt16)
    /// A symbol the walk needs is missing.
    case noSymbol(name: String, kernel: String)
    /// The kernel lacks offset symbols (older than FreeBSD 11) and no offsets file gave them.
    case noOffsets(missing: [String], kernel: String)
    /// An offset is outside the accepted range.
    case absurdOffset(name: String, value: Int64, source: String, limit: Int)
    /// A variable the walk starts from is not in the dump.
    case unreadable(what: String, address: UInt64, reason: String)
    /// The offsets file cannot be read (`line` 0) or is malformed at `line`.
    case badOffsetsFile(path: String, line: Int, reason: String)

    /// One line a person can act on, addresses in 16 digits.
    public var description: String { description(width: .bits64) }

    /// One line a person can act on, addresses `width` wide (`Dump.addressWidth`).
    public func description(width: AddressWidth) -> String {
        switch self {
        case let .unsupportedArchitecture(kernel, machine):
            let supported = threadArchitectures.map { $0.name }.joined(separator: ", ")
            return "\(kernel): threads are not supported for ELF machine \(machine) (supported: \(supported))"
        case let .noSymbol(name, kernel): return "\(kernel): no symbol '\(name)', needed to list threads"
        case let .noOffsets(missing, kernel):
            return "\(kernel): no struct proc/thread offset symbols (\(missing.joined(separator: ", "))); "
                + "kernels older than FreeBSD 11 do not export them: give them with --offsets FILE (see kvmdump(1))"
        case let .absurdOffset(name, value, source, limit):
            return "\(source): \(name) = \(value) is not an offset in 0...\(limit)"
        case let .unreadable(what, address, reason): return "\(what) at \(width.format(address)): \(reason)"
        case let .badOffsetsFile(path, line, reason): return line > 0 ? "\(path):\(line): \(reason)" : "\(path): \(reason)"
        }
    }
}

func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
