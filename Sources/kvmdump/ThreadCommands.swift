/// `kvmdump ps`, `kvmdump threads`, `kvmdump bt`: processes, threads and backtraces from the kernel's symbols.
import MappedBytes
import KernelImage
import KernelThreads
import MinidumpCore

/// What the three thread commands share: the offsets option, opening, help text and JSON.
enum ThreadSupport {
    static let offsets = Option.value(
        "offsets", "FILE", help: "struct proc/thread offsets for kernels without the offset symbols (see below).")

    static let discussion = """
        Needs the kernel image (-N): allproc, dumptid, dumppcb, stoppcbs, stopped_cpus and the offset
        symbols (proc_off_p_pid, thread_off_td_tid, ..., pcb_size) that FreeBSD 11 and later export. For
        older kernels give the offsets in a file with --offsets: one 'name = value' per line (decimal or
        0x...), '#' comments, names proc_off_p_list proc_off_p_pid proc_off_p_comm proc_off_p_threads
        thread_off_td_tid thread_off_td_name thread_off_td_oncpu thread_off_td_pcb thread_off_td_plist,
        optionally pcb_size, proc_off_p_flag and thread_off_td_state; values in the file win over the
        kernel's (a file with only the optional names adds them to a kernel's symbols).
        Walks are bounded: 100000 processes, 500000 threads, 256 frames per thread; a list that loops
        or points outside the dump stops with a note on standard error, the other lists go on.
        """

    /// Lists kept to the end of the process, so their 10,000s of threads are freed by the exit at once
    /// instead of one by one (a tenth of `ps`'s time on the 10,000-thread dump).
    nonisolated(unsafe) static var keptUntilExit: [ThreadList] = []

    /// Builds the list, or fails with the library's message.
    static func open(_ shared: SharedOptions, offsetsPath: String?, _ console: Console) throws(CommandFailure) -> (ThreadList, Dump) {
        let dump = try shared.openDump(console)
        dump.buildIndex()  // a walk of every thread and stack: the whole index once
        guard let kernel = try shared.openKernel() else { throw CommandFailure(message: "no kernel image") }
        do throws(ThreadError) {
            let file = try offsetsPath.map { (path: String) throws(ThreadError) in (path: path, values: try KernelOffsets.loadFile(path: path)) }
            let list = try kernelThreads(dump: dump, kernel: kernel, offsets: file)
            keptUntilExit.append(list)
            return (list, dump)
        } catch {
            throw CommandFailure(message: "\(dump.path): \(error.description(width: dump.addressWidth))")
        }
    }

    /// The usage error for a missing -N.
    static func requireKernel(_ shared: SharedOptions, _ command: String) throws(UsageError) {
        guard shared.kernelPath != nil else {
            throw UsageError("\(command) needs the kernel image (-N): processes and threads are found through its symbols (allproc and the struct offsets)")
        }
    }

    /// List problems on standard error, each prefixed with the dump's path.
    static func report(_ list: ThreadList, _ dump: Dump, _ console: Console) {
        for problem in list.problems { console.diagnose("\(dump.path): warning: \(problem)") }
    }

    /// A thread's members; addresses and the pcb's registers (the machine's words) `width` wide.
    static func json(_ thread: KernelThread, _ width: AddressWidth) -> [(String, JSON)] {
        [
            ("tid", .int(Int64(thread.tid))), ("pid", .int(Int64(thread.pid))), ("comm", .string(thread.comm)),
            ("name", .string(thread.name)), ("cpu", .optional(thread.cpu) { .int(Int64($0)) }),
            ("state", .optional(thread.state, JSON.string)),
            ("crashed", .bool(thread.isCrashed)), ("display_name", .string(thread.displayName)),
            ("address", .virtualAddress(thread.address.rawValue, width)),
            ("process", .virtualAddress(thread.processAddress.rawValue, width)),
            ("pcb", .optional(thread.pcb) { .virtualAddress($0.rawValue, width) }), ("pcb_source", .string(thread.pcbSource)),
            ("pcb_problem", .optional(thread.pcbProblem, JSON.string)),
            ("registers", .object(thread.registers.map { ($0.name, JSON.virtualAddress($0.value, width)) })),
        ]
    }

    /// A trapframe's members, addresses `width` wide.
    static func json(_ t: TrapFrameInfo, _ width: AddressWidth) -> JSON {
        .object([
            ("kind", .string(t.kind)), ("number", .uint(t.number)), ("name", .optional(t.name, JSON.string)),
            ("address", .virtualAddress(t.address.rawValue, width)), ("pc", .virtualAddress(t.pc, width)),
            ("sp", .virtualAddress(t.sp, width)), ("fp", .virtualAddress(t.fp, width)), ("from_user", .bool(t.fromUser)),
            ("line", .string(t.line)),
        ])
    }

    static func problems(_ list: ThreadList) -> (String, JSON) { ("problems", .array(list.problems.map(JSON.string))) }
}

/// What every thread command holds: the shared options (with -N required) and --offsets.
struct ThreadListSource {
    let shared: SharedOptions
    let offsetsPath: String?

    /// - Throws: a usage error naming `command` when -N is missing.
    init(_ arguments: ParsedArguments, shared: SharedOptions, command: String) throws(UsageError) {
        try ThreadSupport.requireKernel(shared, command)
        self.shared = shared
        offsetsPath = arguments.value(ThreadSupport.offsets)
    }

    /// Builds the list and reports its problems on standard error.
    func open(_ console: Console) throws(CommandFailure) -> (list: ThreadList, dump: Dump) {
        let (list, dump) = try ThreadSupport.open(shared, offsetsPath: offsetsPath, console)
        ThreadSupport.report(list, dump, console)
        return (list, dump)
    }
}

/// `kvmdump ps`.
struct PsCommand: Subcommand {
    static let name = "ps"
    static let abstract = "List the processes on allproc (needs -N)."
    static let usage = "[--offsets FILE]"
    static let options = [ThreadSupport.offsets]
    static let discussion = """
        One line per process in allproc order (newest first): PID, thread count, the address of
        struct proc and p_comm. FLAGS (p_flag) only when the offsets file gives proc_off_p_flag.

        """ + ThreadSupport.discussion

    let source: ThreadListSource

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        guard arguments.positionals.isEmpty else { throw UsageError("unexpected argument '\(arguments.positionals[0])'") }
        source = try ThreadListSource(arguments, shared: shared, command: Self.name)
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let (list, dump) = try source.open(console)
        let width = dump.addressWidth
        if source.shared.json {
            JSON.object([
                ("processes", .array(list.processes.map { p in
                    .object([
                        ("pid", .int(Int64(p.pid))), ("comm", .string(p.comm)), ("flags", .optional(p.flags) { .uint(UInt64($0)) }),
                        ("threads", .int(Int64(p.threadCount))), ("address", .virtualAddress(p.address.rawValue, width)),
                    ])
                })),
                ThreadSupport.problems(list),
            ]).writeLine(to: console.out)
            return .success
        }
        let withFlags = list.offsets.procFlag != nil
        var table = Table()
        table.headers = ["PID", "THR"] + (withFlags ? ["FLAGS"] : []) + ["ADDRESS", "COMM"]
        for p in list.processes {
            table.rows.append([String(p.pid), String(p.threadCount)] + (withFlags ? [Hex.short(UInt64(p.flags ?? 0))] : [])
                              + [Hex.address(p.address.rawValue, width), p.comm])
        }
        table.write(to: console.out)
        return .success
    }
}

/// `kvmdump threads`.
struct ThreadsCommand: Subcommand {
    static let name = "threads"
    static let abstract = "List the threads, the crashed one first (needs -N)."
    static let usage = "[--offsets FILE]"
    static let options = [ThreadSupport.offsets]
    static let discussion = """
        One line per thread, the crashed thread (td_tid == dumptid, marked '*') first, then allproc and
        p_threads order: TID, PID, CPU (td_oncpu, '-' for none), the pcb a debugger unwinds it from and
        why (kgdb's choice: dumppcb for the crashed thread, stoppcbs[N] for a thread on a CPU set in
        stopped_cpus, else td_pcb), the address of struct thread, and LLDB's name
        '(pid N) comm[/tdname] (crashed|on CPU n)'. STATE (td_state) only when the offsets file gives
        thread_off_td_state. --json adds the pcb registers.

        """ + ThreadSupport.discussion

    let source: ThreadListSource

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        guard arguments.positionals.isEmpty else { throw UsageError("unexpected argument '\(arguments.positionals[0])'") }
        source = try ThreadListSource(arguments, shared: shared, command: Self.name)
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let (list, dump) = try source.open(console)
        let width = dump.addressWidth
        if source.shared.json {
            JSON.object([
                ("dump_tid", .optional(list.dumpTID) { .int(Int64($0)) }), ("stoppcbs", .string(list.stoppcbsForm)),
                ("offsets", .string(list.offsets.source)),
                ("threads", .array(list.threads.map { .object(ThreadSupport.json($0, width)) })),
                ThreadSupport.problems(list),
            ]).writeLine(to: console.out)
            return .success
        }
        var table = Table()
        let withState = list.offsets.threadState != nil
        table.headers = ["", "TID", "PID", "CPU"] + (withState ? ["STATE"] : []) + ["PCB", "THREAD", "NAME"]
        for t in list.threads {
            table.rows.append([t.isCrashed ? "*" : "", String(t.tid), String(t.pid), t.cpu.map(String.init) ?? "-"]
                              + (withState ? [t.state ?? "-"] : [])
                              + [t.pcbSource, Hex.address(t.address.rawValue, width), t.displayName])
        }
        table.write(to: console.out)
        return .success
    }
}

/// `kvmdump bt`.
struct BtCommand: Subcommand {
    static let name = "bt"
    static let abstract = "Backtraces: the crashed thread, given TIDs, a CPU's thread, or all (needs -N)."
    static let usage = "[TID...] [--all] [--cpu N] [--verbose] [--offsets FILE]"
    static let positionals = [Positional(name: "TID", help: "A thread ID (td_tid); default: the crashed thread.")]
    static let all = Option.flag("all", help: "Every thread, the crashed one first.")
    static let cpu = Option.value("cpu", "N", help: "The thread(s) with td_oncpu N.")
    static let verbose = Option.flag("verbose", short: "v", help: "Show sp and fp per frame, the pcb and trapframe details.")
    static let options = [all, cpu, verbose, ThreadSupport.offsets]
    static let discussion = """
        Frame 0 comes from the thread's pcb (pcb_rip, pcb_rsp, pcb_rbp), the others from the frame-pointer
        chain ([rbp] the caller's rbp, [rbp+8] the return address), as ddb and kgdb unwind amd64. Each
        line is '#N 0x<pc> at <function>+0x<offset>' (stack(9)'s form; the nearest symbol at or below
        the pc, as ddb finds it). A return address in a trap, interrupt or syscall stub (calltrap,
        nmi_calltrap, fast_syscall_common, Xtimerint, ...) is followed by ddb's line
        '--- trap 0xc, rip = 0x..., rsp = 0x..., rbp = 0x... ---' and the walk continues at the saved
        rip, unless the trapframe came from user mode. The last line says why the walk stopped:
        user-trapframe, thread-start (fork_trampoline), fp-not-kernel, pc-not-kernel,
        zero-return-address, unreadable (not in the dump), loop (frame pointers not increasing),
        frame-limit, no-pc, no-pcb. An unknown TID is an error (exit status 1) after the others.
        On arm64 frame 0 is the pcb's lr, sp and fp, then the frame records ([fp], [fp+8]); a return
        address into an exception vector (handle_el1h_sync, handle_el0_sync, handle_el1h_irq, ...) is
        followed by '--- exception, esr 0x..., pc = 0x..., sp = 0x..., fp = 0x... ---' (see kvmdump(1)).
        On riscv frame 0 is the pcb's ra, sp and s0, then ddb's frame records ([s0-8] the return
        address, [s0-16] the caller's s0); a return address into cpu_exception_handler_supervisor or
        cpu_exception_handler_user is followed by ddb's '--- exception 15, tval = 0x...' (or
        '--- interrupt N', '--- syscall (N)') with the trapframe's sepc, sp and s0.
        On i386 frame 0 is pcb_eip, pcb_esp and pcb_ebp, then the ebp chain ([ebp], [ebp+4]); return
        addresses into the stubs lie in the exception trampoline and are named through setidt_disp;
        the trap line is '--- trap 0xc, eip = 0x..., esp = 0x..., ebp = 0x... ---'.

        """ + ThreadSupport.discussion

    let source: ThreadListSource
    let tids: [Int32]
    let everything: Bool
    let onCPU: Int?
    let isVerbose: Bool

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        source = try ThreadListSource(arguments, shared: shared, command: Self.name)
        var tids: [Int32] = []
        for text in arguments.positionals {
            guard let value = Int32(text), value >= 0 else { throw UsageError("malformed thread ID '\(text)' (a decimal td_tid)") }
            tids.append(value)
        }
        self.tids = tids
        everything = arguments.has(Self.all)
        if let text = arguments.value(Self.cpu) {
            guard let value = Int(text), value >= 0, value <= 0xffff else { throw UsageError("malformed CPU number '\(text)'") }
            onCPU = value
        } else {
            onCPU = nil
        }
        let selectors = (tids.isEmpty ? 0 : 1) + (everything ? 1 : 0) + (onCPU == nil ? 0 : 1)
        guard selectors <= 1 else { throw UsageError("give thread IDs, --all or --cpu, not several") }
        isVerbose = arguments.has(Self.verbose)
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let (list, dump) = try source.open(console)
        let width = dump.addressWidth
        let shared = source.shared
        var selected: [KernelThread] = []
        var failed = false
        if everything {
            selected = list.threads
        } else if let onCPU {
            selected = list.threads.filter { $0.cpu == onCPU }
            if selected.isEmpty { throw CommandFailure(message: "\(dump.path): no thread has td_oncpu \(onCPU)") }
        } else if !tids.isEmpty {
            for tid in tids {
                if let t = list.thread(tid: tid) {
                    selected.append(t)
                } else {
                    console.diagnose("\(dump.path): no thread with tid \(tid)")
                    failed = true
                }
            }
        } else {
            guard let crashed = list.crashed else {
                throw CommandFailure(message: "\(dump.path): no crashed thread (dumptid "
                    + (list.dumpTID.map(String.init) ?? "unreadable") + " is not on allproc); give a TID or --all")
            }
            selected = [crashed]
        }
        if shared.json {
            // Streamed: {"threads":[{thread members..., "frames":[...], "stop", "stop_detail"}...], "problems":[...]},
            // without building 140,000 frame objects for the 10,000-thread dump first.
            let out = console.out
            out.write("{\"threads\":[")
            for (i, t) in selected.enumerated() {
                if i > 0 { out.byte(UInt8(ascii: ",")) }
                out.byte(UInt8(ascii: "{"))
                for (key, value) in ThreadSupport.json(t, width) {
                    JSON.writeString(key, to: out)
                    out.byte(UInt8(ascii: ":"))
                    value.write(to: out)
                    out.byte(UInt8(ascii: ","))
                }
                let bt = list.backtrace(t)
                out.write("\"frames\":[")
                for (j, f) in bt.frames.enumerated() {
                    if j > 0 { out.byte(UInt8(ascii: ",")) }
                    writeFrameJSON(f, width, out)
                }
                out.write("],\"stop\":")
                JSON.writeString(bt.stop.rawValue, to: out)
                out.write(",\"stop_detail\":")
                JSON.writeString(bt.detail, to: out)
                out.byte(UInt8(ascii: "}"))
                if out.isClosed { break }
            }
            out.write("],")
            let (key, value) = ThreadSupport.problems(list)
            JSON.writeString(key, to: out)
            out.byte(UInt8(ascii: ":"))
            value.write(to: out)
            out.write("}\n")
            return failed ? .failure : .success
        }
        for (i, t) in selected.enumerated() {
            if i > 0 { console.out.line() }
            write(t, list.backtrace(t), width, console.out)
            if console.out.isClosed { break }
        }
        return failed ? .failure : .success
    }

    private func write(_ t: KernelThread, _ bt: Backtrace, _ width: AddressWidth, _ out: OutputBuffer) {
        out.write("Tracing command ")
        out.write(t.comm)
        out.withSpace(96) { p in
            p.put(" pid ")
            p.put(decimal: Int(t.pid))
            p.put(" tid ")
            p.put(decimal: Int(t.tid))
            p.put(" td 0x")
            p.put(address: t.address.rawValue, width: width)
            if t.isCrashed {
                p.put(" (crashed)")
            } else if let cpu = t.cpu {
                p.put(" (CPU ")
                p.put(decimal: cpu)
                p.put(UInt8(ascii: ")"))
            }
            p.put(0x0a)
        }
        if isVerbose {
            out.line("  \(t.displayName); pcb \(t.pcb.map { Hex.address($0.rawValue, width) } ?? "none") (\(t.pcbSource))")
            if !t.registers.isEmpty {
                out.line("  " + t.registers.map { "\($0.name) \(Hex.address($0.value, width))" }.joined(separator: " "))
            }
        }
        for f in bt.frames {
            writeFrame(f, width, out)
            if let trap = f.trap {
                writeTrap(trap, out)
                if isVerbose {
                    out.line("    trapframe \(Hex.address(trap.address.rawValue, width)): \(trap.name ?? trap.kind), from \(trap.fromUser ? "user" : "kernel") mode")
                }
            }
        }
        if let user = bt.userTrapframe {
            out.write("stop: user-trapframe: ")
            out.write(user.kind)
            out.withSpace(64) { p in
                p.put(" from user mode (trapframe at 0x")
                p.put(address: user.address, width: width)
                p.put(")\n")
            }
        } else {
            out.line("stop: \(bt.stop.rawValue): \(bt.detail)")
        }
    }

    /// One frame object: number, pc, sp, fp, function (or null), offset, location, trap (or null).
    private func writeFrameJSON(_ f: StackFrame, _ width: AddressWidth, _ out: OutputBuffer) {
        out.withSpace(96) { p in
            p.put("{\"number\":")
            p.put(decimal: f.number)
            p.put(",\"pc\":\"0x")
            p.put(address: f.pc, width: width)
            p.put("\",\"sp\":\"0x")
            p.put(address: f.sp, width: width)
            p.put("\",\"fp\":\"0x")
            p.put(address: f.fp, width: width)
            p.put("\",\"function\":")
        }
        if let function = f.function { JSON.writeString(function, to: out) } else { out.write("null") }
        out.write(",\"offset\":")
        out.write(String(f.offset))
        out.write(",\"location\":")
        JSON.writeString(f.location, to: out)
        out.write(",\"trap\":")
        if let trap = f.trap {
            ThreadSupport.json(trap, width).write(to: out)
        } else {
            out.write("null")
        }
        out.byte(UInt8(ascii: "}"))
    }

    /// ddb's trap line, formatted in place.
    private func writeTrap(_ t: TrapFrameInfo, _ out: OutputBuffer) {
        guard t.registerNames.pc == "rip" else {
            out.line(t.line)
            return
        }
        out.withSpace(128) { p in
            switch t.kind {
            case "trap":
                p.put("--- trap ")
                p.put(shortHex: t.number)
            case "syscall":
                p.put("--- syscall (")
                p.put(decimal: Int(truncatingIfNeeded: t.number & 0x7fff_ffff_ffff_ffff))
                p.put(UInt8(ascii: ")"))
            default:
                p.put("--- interrupt")
            }
            p.put(", rip = ")
            p.put(shortHex: t.pc)
            p.put(", rsp = ")
            p.put(shortHex: t.sp)
            p.put(", rbp = ")
            p.put(shortHex: t.fp)
            p.put(" ---\n")
        }
    }

    /// `#N 0x<pc> at <function>+0x<offset>` (and `  sp … fp …` with --verbose), formatted in place: the
    /// 10,000-thread `bt --all` prints about 140,000 of these.
    private func writeFrame(_ f: StackFrame, _ width: AddressWidth, _ out: OutputBuffer) {
        out.withSpace(48) { p in
            p.put(UInt8(ascii: "#"))
            p.put(decimal: f.number)
            p.put(" 0x")
            p.put(address: f.pc, width: width)
            p.put(" at ")
            if f.function == nil { p.put(shortHex: f.pc) }
        }
        if let name = f.function {
            out.write(name)
            if f.offset != 0 {
                out.withSpace(24) { p in
                    p.put(UInt8(ascii: "+"))
                    p.put(shortHex: f.offset)
                }
            }
        }
        if isVerbose {
            out.withSpace(48) { p in
                p.put("  sp 0x")
                p.put(address: f.sp, width: width)
                p.put(" fp 0x")
                p.put(address: f.fp, width: width)
            }
        }
        out.byte(0x0a)
    }
}
