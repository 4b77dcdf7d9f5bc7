/// Processes, threads and backtraces against the generator's ground truth, thread for thread and
/// frame for frame, for both stoppcbs forms and every corruption.
import KernelImage
import KernelThreads
import MinidumpCore
import Testing
import VMCoreBuilder

/// A generated thread dump opened in memory.
struct Opened {
    let fixture: ThreadFixture
    let dump: Dump
    let kernel: KernelImage

    init(_ d: ThreadsDescription) throws {
        fixture = try threadFixture(d)
        dump = try Dump(contents: try generateDump(fixture.dump).bytes, name: "vmcore.test")
        kernel = try KernelImage(bytes: makeKernelELF(fixture.kernel), name: "kernel.test")
    }

    func list() throws -> ThreadList { try kernelThreads(dump: dump, kernel: kernel) }
}

/// Compares one thread and its backtrace with the truth.
func expectMatches(_ thread: KernelThread, _ backtrace: Backtrace, _ truth: ThreadTruth,
                   registerOrder: [String] = ["rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15"],
                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(thread.tid == truth.tid, sourceLocation: sourceLocation)
    #expect(thread.pid == truth.pid, sourceLocation: sourceLocation)
    #expect(thread.comm == truth.comm, sourceLocation: sourceLocation)
    #expect(thread.name == truth.name, sourceLocation: sourceLocation)
    #expect(thread.cpu == truth.cpu, "tid \(truth.tid)", sourceLocation: sourceLocation)
    #expect(thread.isCrashed == truth.crashed, sourceLocation: sourceLocation)
    #expect(thread.pcbSource == truth.pcbSource, "tid \(truth.tid)", sourceLocation: sourceLocation)
    #expect(thread.pcb?.rawValue == truth.pcb, "tid \(truth.tid)", sourceLocation: sourceLocation)
    #expect(thread.address.rawValue == truth.address, sourceLocation: sourceLocation)
    #expect(thread.displayName == truth.displayName, sourceLocation: sourceLocation)
    var registers: [String: UInt64] = [:]
    for r in thread.registers { registers[r.name] = r.value }
    #expect(registers == truth.registers, "tid \(truth.tid)", sourceLocation: sourceLocation)
    if !truth.registers.isEmpty {
        #expect(thread.registers.map(\.name) == registerOrder, sourceLocation: sourceLocation)
    }
    #expect(backtrace.stop.rawValue == truth.stop, "tid \(truth.tid): \(backtrace.detail)", sourceLocation: sourceLocation)
    #expect(backtrace.frames.count == truth.frames.count, "tid \(truth.tid)", sourceLocation: sourceLocation)
    for (i, (frame, expected)) in zip(backtrace.frames, truth.frames).enumerated() {
        #expect(frame.number == i, sourceLocation: sourceLocation)
        #expect(frame.pc == expected.pc, "tid \(truth.tid) frame \(i)", sourceLocation: sourceLocation)
        #expect(frame.sp == expected.sp, "tid \(truth.tid) frame \(i) sp", sourceLocation: sourceLocation)
        #expect(frame.fp == expected.fp, "tid \(truth.tid) frame \(i) fp", sourceLocation: sourceLocation)
        #expect(frame.location == expected.symbolized, "tid \(truth.tid) frame \(i)", sourceLocation: sourceLocation)
        #expect(frame.trap.map(\.kind) == expected.trap?.kind, "tid \(truth.tid) frame \(i) trap", sourceLocation: sourceLocation)
        if let trap = frame.trap, let t = expected.trap {
            #expect(trap.number == t.number && trap.pc == t.rip && trap.sp == t.rsp && trap.fp == t.rbp
                    && trap.fromUser == t.user && trap.address.rawValue == t.address, sourceLocation: sourceLocation)
        }
    }
}

/// Checks the whole list: processes, threads (crashed first, then walk order), backtraces.
func expectListMatches(_ list: ThreadList, _ truth: ThreadsTruth,
                       registerOrder: [String] = ["rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15"],
                       sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(list.processes.map(\.pid) == truth.processes.map(\.pid), sourceLocation: sourceLocation)
    #expect(list.processes.map(\.comm) == truth.processes.map(\.comm), sourceLocation: sourceLocation)
    #expect(list.processes.map(\.address.rawValue) == truth.processes.map(\.address), sourceLocation: sourceLocation)
    #expect(list.processes.map(\.threadCount) == truth.processes.map(\.threadCount), sourceLocation: sourceLocation)
    var expected = truth.threads
    if let i = expected.firstIndex(where: \.crashed) { expected.insert(expected.remove(at: i), at: 0) }
    #expect(list.threads.map(\.tid) == expected.map(\.tid), sourceLocation: sourceLocation)
    for (thread, t) in zip(list.threads, expected) {
        expectMatches(thread, list.backtrace(thread), t, registerOrder: registerOrder, sourceLocation: sourceLocation)
    }
    #expect(list.problems.count == truth.listProblems.count, "\(list.problems)", sourceLocation: sourceLocation)
    for prefix in truth.listProblems {
        #expect(list.problems.contains { $0.hasPrefix(prefix) }, "\(prefix): \(list.problems)", sourceLocation: sourceLocation)
    }
}

@Suite struct ThreadWalkTests {
    @Test func goldenScenarioMatchesGroundTruth() throws {
        let o = try Opened(.golden())
        let list = try o.list()
        #expect(o.fixture.truth.stoppcbsIsPointer)
        #expect(list.stoppcbsForm == "pointer (symbol size 8)")
        #expect(list.threads.count == 16)
        #expect(list.crashed?.displayName == "(pid 806) sysctl (crashed)")
        expectListMatches(list, o.fixture.truth)
    }

    @Test func arrayFormOfStoppcbsBefore1400089() throws {
        let o = try Opened(.golden(osreldate: 1_302_000))
        #expect(!o.fixture.truth.stoppcbsIsPointer)
        let list = try o.list()
        #expect(list.stoppcbsForm == "array (symbol size 20480 = 64 pcbs)")
        expectListMatches(list, o.fixture.truth)
        #expect(list.thread(tid: 100_003)?.pcbSource == "stoppcbs[0]")
    }

    @Test func stoppcbsFormFollowsTheSymbolSizeBeforeOsreldate() throws {
        // An array in a kernel whose osreldate says "pointer": the symbol's size (the kernel's own declaration) wins.
        var d = ThreadsDescription.golden()
        d.stoppcbsPointer = false
        let o = try Opened(d)
        let list = try o.list()
        #expect(list.stoppcbsForm == "array (symbol size 20480 = 64 pcbs)")
        expectListMatches(list, o.fixture.truth)
        // Without a size, osreldate decides (1401000 >= 1400089: a pointer).
        let pointer = try Opened(.golden())
        var kernel = pointer.fixture.kernel
        for i in kernel.symbols.indices where kernel.symbols[i].name == "stoppcbs" { kernel.symbols[i].size = 0 }
        let unsized = try kernelThreads(dump: pointer.dump, kernel: try KernelImage(bytes: makeKernelELF(kernel), name: "k"))
        #expect(unsized.stoppcbsForm == "pointer (osreldate 1401000 >= 1400089)")
        expectListMatches(unsized, pointer.fixture.truth)
    }

    @Test func crashedThreadShowsThePageFaultAndTheSyscall() throws {
        let o = try Opened(.golden())
        let list = try o.list()
        let bt = list.backtrace(list.crashed!)
        #expect(bt.frames.first?.function == "doadump")
        let traps = bt.frames.compactMap(\.trap)
        #expect(traps.map(\.kind) == ["trap", "syscall"])
        #expect(traps[0].name == "page fault" && traps[0].number == 0xc && !traps[0].fromUser)
        #expect(traps[0].line.hasPrefix("--- trap 0xc, rip = 0xfffffe00"))
        #expect(traps[1].line.hasPrefix("--- syscall (202), rip = 0x8"))
        #expect(bt.stop == .userTrapframe)
    }

    @Test func cpuMissingFromStoppedCPUsUsesTdPCB() throws {
        let o = try Opened(.golden())
        let list = try o.list()
        let irq = try #require(list.thread(tid: 100_021))
        #expect(irq.cpu == 3 && irq.pcbSource == "td_pcb")
        #expect(irq.displayName == "(pid 12) intr/irq24: virtio_pci0 (on CPU 3)")
        let idle0 = try #require(list.thread(tid: 100_003))
        let bt = list.backtrace(idle0)
        #expect(bt.frames.map { $0.function ?? "?" }.prefix(4) == ["cpustop_handler", "ipi_nmi_handler", "trap", "nmi_calltrap"])
        #expect(bt.frames[3].trap?.name == "non-maskable interrupt trap")
        // The NMI hit the timer interrupt handler: an interrupt stub frame and the idle loop under it.
        #expect(bt.frames.map { $0.function ?? "?" }[4...7] == ["handleevents", "lapic_handle_timer", "Xtimerint", "acpi_cpu_idle"])
        #expect(bt.frames[6].trap?.kind == "interrupt" && bt.frames[6].trap?.fromUser == false)
        #expect(bt.frames[6].trap?.line.hasPrefix("--- interrupt, rip = 0xfffffe00") == true)
    }

    @Test(arguments: [
        ThreadCorruption.processListCycle, .threadListCycle(tid: 100_092), .processPointerUnmapped(index: 3),
        .frameLoop(tid: 100_090, frame: 2), .zeroReturnAddress(tid: 100_002, frame: 4),
        .framePointerUnmapped(tid: 100_020, frame: 1), .pcbUnmapped(tid: 100_004), .pcbZeroPC(tid: 100_005),
        .pcbNull(tid: 100_006), .frameLoop(tid: 100_123, frame: 9), .zeroReturnAddress(tid: 100_003, frame: 7),
    ])
    func corruptionGivesItsReason(_ corruption: ThreadCorruption) throws {
        var d = ThreadsDescription.golden()
        d.corruptions = [corruption]
        let o = try Opened(d)
        expectListMatches(try o.list(), o.fixture.truth)
    }

    @Test func absurdOffsetIsReported() throws {
        var d = ThreadsDescription.golden()
        d.corruptions = [.absurdOffset(symbol: "thread_off_td_name", value: 0x7fff_0000)]
        let o = try Opened(d)
        #expect(throws: ThreadError.absurdOffset(name: "thread_off_td_name", value: 0x7fff_0000, source: "kernel.test", limit: 0xffff)) {
            try o.list()
        }
    }

    @Test func offsetsFileReplacesMissingSymbols() throws {
        let o = try Opened(.golden())
        var text = "# offsets for kernel.test\n"
        for (name, value) in ThreadLayout().symbolValues where name != "proc_off_p_hash" { text += "\(name) = 0x\(String(value, radix: 16))\n" }
        text += "proc_off_p_flag 176\nthread_off_td_state 0x310\n"
        let values = try KernelOffsets.parseFile(text, path: "offsets.txt")
        let list = try kernelThreads(dump: o.dump, kernel: o.kernel, offsets: (path: "offsets.txt", values: values))
        #expect(list.offsets.source == "offsets.txt")
        #expect(list.processes.first?.flags == 0x1000_0000)
        #expect(list.processes.first { $0.pid == 28 }?.flags == 0x1000_0204)
        var expected = o.fixture.truth.threads
        if let i = expected.firstIndex(where: \.crashed) { expected.insert(expected.remove(at: i), at: 0) }
        #expect(list.threads.map(\.state) == expected.map(\.state))
        #expect(try o.list().threads.allSatisfy { $0.state == nil })
        expectListMatches(list, o.fixture.truth)
        #expect(throws: ThreadError.badOffsetsFile(path: "f", line: 2, reason: "thread_off_td_tid: 'zz' is not a number in 0...65535")) {
            try KernelOffsets.parseFile("\nthread_off_td_tid = zz\n", path: "f")
        }
    }

    @Test func kernelWithoutOffsetSymbolsSaysSo() throws {
        let dump = try Dump(contents: try generateDump(KernelFixture.dumpDescription()).bytes, name: "vmcore.1")
        let kernel = try KernelImage(bytes: makeKernelELF(KernelFixture.kernelDescription()), name: "kernel.1")
        #expect(throws: ThreadError.noSymbol(name: "allproc", kernel: "kernel.1")) { try kernelThreads(dump: dump, kernel: kernel) }
    }

    @Test func frameLimitStopsTheWalk() throws {
        let o = try Opened(.golden())
        let list = try kernelThreads(dump: o.dump, kernel: o.kernel, limits: WalkLimits(maxFrames: 3))
        let bt = list.backtrace(list.crashed!)
        #expect(bt.frames.count == 3 && bt.stop == .frameLimit)
        let few = try kernelThreads(dump: o.dump, kernel: o.kernel, limits: WalkLimits(maxProcesses: 2, maxThreads: 100))
        #expect(few.processes.count == 2 && few.problems == ["allproc: stopped after 2 processes (the limit)"])
    }

    @Test func benchmarkScenarioMatchesGroundTruth() throws {
        let fixture = try benchThreadFixture(threads: 300)
        let dump = try Dump(contents: try generateDump(fixture.dump).bytes, name: "vmcore.bench")
        let kernel = try KernelImage(bytes: makeKernelELF(fixture.kernel), name: "kernel.bench")
        let list = try kernelThreads(dump: dump, kernel: kernel)
        #expect(list.threads.count == 300)
        expectListMatches(list, fixture.truth)
    }

    @Test func crashSignatureSkipsThePanicMachinery() throws {
        let o = try Opened(.golden())
        let list = try o.list()
        let signature = CrashSignature(panicString: "page fault", backtrace: list.backtrace(list.crashed!))
        #expect(signature.functions == ["sysctl_debug_crash", "sysctl_root_handler_locked", "sysctl_root"])
        #expect(signature.text == "panic: page fault | sysctl_debug_crash sysctl_root_handler_locked sysctl_root")
        #expect(signature.hash.count == 16)
        #expect(CrashSignature(panicString: "vm_fault: addr 0xfffffe0012345678 pid 123456 cpu 3", backtrace: nil).panic
                == "vm_fault: addr 0x? pid N cpu 3")
    }

    @Test func symbolizerFollowsDdb() throws {
        let o = try Opened(.golden())
        let s = KernelSymbolizer(kernel: o.kernel)
        let panic = try #require(o.kernel.symbol(named: "panic")).value
        #expect(s.describe(panic) == "panic")
        #expect(s.describe(panic + 0x43) == "panic+0x43")
        #expect(s.describe(0x1000) == "0x1000")
    }
}
