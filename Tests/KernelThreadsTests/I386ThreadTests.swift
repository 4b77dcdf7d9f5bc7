/// i386 processes, threads and backtraces against the generator's ground truth (4-byte list pointers,
/// PAE and non-PAE, both stoppcbs forms, return addresses in the exception trampoline) and hostile stacks.
import KernelImage
import KernelThreads
import MinidumpCore
import Testing
import VMCoreBuilder

/// A generated i386 thread dump opened in memory.
struct I386Opened {
    let fixture: I386ThreadFixture
    let generated: GeneratedI386Dump
    let dump: Dump
    let kernel: KernelImage

    init(_ d: I386ThreadsDescription, dropSymbols: Set<String> = []) throws {
        fixture = try makeI386ThreadFixture(d)
        generated = try generateI386Dump(fixture.dump)
        dump = try Dump(contents: generated.bytes, name: "vmcore.i386.test")
        var kernelDescription = fixture.kernel
        kernelDescription.symbols.removeAll { dropSymbols.contains($0.name) }
        kernel = try KernelImage(bytes: makeKernelELF32(kernelDescription), name: "kernel.i386.test")
    }

    func list() throws -> ThreadList { try kernelThreads(dump: dump, kernel: kernel) }
}

let i386RegisterOrder = ["eip", "esp", "ebp", "ebx", "esi", "edi"]

@Suite struct I386ThreadTests {
    @Test func goldenScenarioMatchesGroundTruth() throws {
        let o = try I386Opened(.golden())
        let list = try o.list()
        #expect(list.architecture == "i386")
        #expect(list.stoppcbsForm == "pointer (symbol size 4)")
        #expect(list.offsets.threadPCB == 0x2a4 && list.offsets.procThreads == 0x8 && list.offsets.pcbSize == 0xc0)
        #expect(list.threads.count == 13)
        #expect(list.problems.isEmpty, "\(list.problems)")
        expectListMatches(list, o.fixture.truth, registerOrder: i386RegisterOrder)
    }

    @Test func crashedThreadShowsThePageFaultAndTheSyscall() throws {
        let o = try I386Opened(.golden())
        let list = try o.list()
        let crashed = try #require(list.crashed)
        #expect(crashed.displayName == "(pid 939) sysctl (crashed)")
        #expect(crashed.pcbSource == "dumppcb" && crashed.pcb?.rawValue == o.fixture.truth.symbols["dumppcb"])
        let bt = list.backtrace(crashed)
        #expect(bt.frames.map { $0.function ?? "?" } == [
            "doadump", "kern_reboot", "vpanic", "panic", "trap_fatal", "trap_pfault", "trap", "calltrap",
            "sysctl_debug_crash", "sysctl_root_handler_locked", "sysctl_root", "userland_sysctl", "sys___sysctl",
            "syscall", "Xint0x80_syscall",
        ])
        // The stub frames' pcs are the trampoline copy's; their symbols come through setidt_disp.
        let calltrap = bt.frames[7]
        #expect(calltrap.pc == I386ThreadKernel.trampolineCopy + (o.fixture.truth.symbols["calltrap"]! + 8
                - o.fixture.truth.symbols["start_exceptions"]!))
        #expect(calltrap.location == "calltrap+0x8")
        let fault = try #require(calltrap.trap)
        #expect(fault.kind == "trap" && fault.number == 12 && fault.name == "page fault" && !fault.fromUser)
        #expect(fault.pc == bt.frames[8].pc && fault.sp == bt.frames[8].sp && fault.fp == bt.frames[8].fp)
        // A kernel-mode trapframe has no tf_esp: the interrupted sp is the address where it would be.
        #expect(fault.sp == fault.address.rawValue + 64)
        #expect(fault.line == "--- trap 0xc, eip = 0x\(String(fault.pc, radix: 16)), esp = 0x\(String(fault.sp, radix: 16)), "
                + "ebp = 0x\(String(fault.fp, radix: 16)) ---")
        let syscall = try #require(bt.frames[14].trap)
        #expect(syscall.kind == "syscall" && syscall.number == 202 && syscall.fromUser)
        #expect(syscall.pc == 0x2843_1c57 && syscall.sp == 0xffbf_e84c && syscall.fp == 0xffbf_e878)
        #expect(syscall.line == "--- syscall (202), eip = 0x28431c57, esp = 0xffbfe84c, ebp = 0xffbfe878 ---")
        #expect(bt.stop == .userTrapframe)
        #expect(bt.detail == "syscall from user mode (trapframe at 0x\(String(syscall.address.rawValue, radix: 16).leftPadded(8)))")
        #expect(crashed.register("eip") == bt.frames[0].pc && crashed.register("ebp") == bt.frames[0].fp)
    }

    @Test func stoppedCPUsUseStoppcbsAndShowTheInterrupt() throws {
        let o = try I386Opened(.golden())
        let list = try o.list()
        let idle = try #require(list.thread(tid: 100_003))
        #expect(idle.pcbSource == "stoppcbs[0]")
        let bt = list.backtrace(idle)
        #expect(bt.frames.map { $0.function ?? "?" } == [
            "cpustop_handler", "Xcpustop", "cpu_idle", "sched_idletd", "fork_exit", "fork_trampoline",
        ])
        #expect(bt.frames[1].trap?.kind == "interrupt" && bt.frames[1].trap?.fromUser == false)
        #expect(bt.frames[1].trap?.line.hasPrefix("--- interrupt, eip = ") == true)
        #expect(bt.frames[5].location == "fork_trampoline+0xa" && bt.stop == .threadStart)
        let dd = try #require(list.thread(tid: 100_199))
        #expect(dd.pcbSource == "stoppcbs[2]")
        #expect(list.backtrace(dd).frames.last?.trap?.number == 3)
        // CPU 3 did not stop: its thread comes from td_pcb.
        #expect(list.thread(tid: 100_021)?.pcbSource == "td_pcb")
        let taskq = try #require(list.thread(tid: 100_007))
        let first = list.backtrace(taskq)
        #expect(first.frames.count == 1 && first.frames[0].location == "fork_trampoline" && first.frames[0].pc >= 0xffc0_0000)
        #expect(first.stop == .threadStart)
    }

    @Test func arrayFormWithoutPAE() throws {
        var d = I386ThreadsDescription.golden(osreldate: 1_302_000, pae: false)
        d.stoppcbsPointer = false
        let o = try I386Opened(d)
        #expect(!o.generated.truth.pae)
        let list = try o.list()
        #expect(list.stoppcbsForm == "array (symbol size 6144 = 32 pcbs)")
        expectListMatches(list, o.fixture.truth, registerOrder: i386RegisterOrder)
    }

    @Test func withoutSetidtDispTheStubsAreNotRecognised() throws {
        // As LLVM's i386 test data shows for a debugger that does not know the trampoline: the return address
        // into calltrap has no symbol, the walk goes on at the trapframe as if it were a frame and stops at
        // tf_es (0x28), which is not a kernel address.
        let o = try I386Opened(.golden(), dropSymbols: ["setidt_disp"])
        let list = try o.list()
        let bt = list.backtrace(try #require(list.crashed))
        #expect(bt.frames.count == 8 && bt.frames[7].function == nil && bt.frames[7].pc >= 0xffc0_0000)
        #expect(bt.stop == .pcNotKernel && bt.detail.hasPrefix("return address 0x28 at "))
    }

    @Test(arguments: [
        I386ThreadCorruption.frameLoop(tid: 100_198, frame: 2), .framePointerUnmapped(tid: 100_090, frame: 1),
        .framePointerOutsideStack(tid: 100_004, frame: 2), .pcbUnmapped(tid: 100_020),
    ])
    func hostileStacksGiveBoundedClearResults(_ corruption: I386ThreadCorruption) throws {
        var d = I386ThreadsDescription.golden()
        d.corruptions = [corruption]
        let o = try I386Opened(d)
        let list = try o.list()
        expectListMatches(list, o.fixture.truth, registerOrder: i386RegisterOrder)
        switch corruption {
        case .frameLoop(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .loop && bt.frames.count == 3)
            #expect(bt.detail.hasSuffix("does not lie above 0x\(String(bt.frames[2].fp, radix: 16))"))
        case .framePointerUnmapped(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .unreadable && bt.detail.hasPrefix("frame at 0x") && bt.detail.hasSuffix("is not in the dump"))
        case .framePointerOutsideStack(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .zeroReturnAddress && bt.frames.last?.fp == I386ThreadKernel.heapBase + 0x100)
        case .pcbUnmapped(let tid):
            let thread = list.thread(tid: tid)!
            #expect(thread.pcb?.rawValue == I386ThreadKernel.unmapped && thread.registers.isEmpty)
            #expect(thread.pcbProblem?.hasPrefix("pcb at 0x00e00000: ") == true, "\(thread.pcbProblem ?? "")")
            #expect(list.backtrace(thread).stop == .unreadable && list.backtrace(thread).frames.isEmpty)
        }
    }

    @Test func frameLimitBoundsTheWalk() throws {
        let o = try I386Opened(.golden())
        let list = try kernelThreads(dump: o.dump, kernel: o.kernel, limits: WalkLimits(maxFrames: 4))
        let bt = list.backtrace(try #require(list.crashed))
        #expect(bt.frames.count == 4 && bt.stop == .frameLimit && bt.detail == "4 frames")
    }

    @Test func randomlyDamagedStacksStayBounded() throws {
        // Words of every kernel stack overwritten with random values, kernel-looking addresses among them:
        // every walk ends within the frame limit with a stated reason, and nothing traps.
        let o = try I386Opened(.golden())
        let truth = o.generated.truth
        let stackPages = Set(truth.pages.filter {
            $0.virtualAddress >= I386ThreadKernel.stackBase && $0.virtualAddress < I386ThreadKernel.unmapped
        }.map(\.physicalAddress))
        var rng = SplitMix64(seed: 0x1386)
        for round in 0..<8 {
            var bytes = o.generated.bytes
            for (i, pa) in truth.dumpedPages.enumerated() where stackPages.contains(pa) {
                let base = Int(truth.dataOffset) + i * 4096
                for _ in 0..<64 {
                    let at = base + Int(rng.next(below: 1024)) * 4
                    let value: UInt64 = rng.next(below: 2) == 0 ? I386ThreadKernel.stackBase + rng.next(below: 0x10_0000) : rng.next()
                    for b in 0..<4 { bytes[at + b] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(b))) }
                }
            }
            let dump = try Dump(contents: bytes, name: "vmcore.i386.damaged.\(round)")
            let list = try kernelThreads(dump: dump, kernel: o.kernel)
            #expect(list.threads.count == 13)
            for thread in list.threads {
                let bt = list.backtrace(thread)
                #expect(bt.frames.count <= list.limits.maxFrames)
                #expect(!bt.detail.isEmpty)
            }
        }
    }
}

extension I386ThreadTests {
    @Test func randomlyDamagedListsStayBounded() throws {
        // Words of struct proc, struct thread and .bss (allproc, stoppcbs, stopped_cpus, dumppcb) overwritten
        // with random values, many of them pointers back into those pages (cycles, overlapping nodes): the
        // walk ends within its limits, reports why, and nothing traps.
        let o = try I386Opened(.golden())
        let truth = o.generated.truth
        let k = I386ThreadKernel.self
        let listPages = Set(truth.pages.filter {
            ($0.virtualAddress >= k.procBase && $0.virtualAddress < k.stackBase)
                || ($0.virtualAddress >= k.bssBase && $0.virtualAddress < k.bssBase + k.bssSize)
        }.map(\.physicalAddress))
        var rng = SplitMix64(seed: 0x1387)
        let limits = WalkLimits(maxProcesses: 64, maxThreads: 128, maxFrames: 64)
        var walked = 0
        for round in 0..<16 {
            var bytes = o.generated.bytes
            for (i, pa) in truth.dumpedPages.enumerated() where listPages.contains(pa) {
                let base = Int(truth.dataOffset) + i * 4096
                for _ in 0..<24 {
                    let at = base + Int(rng.next(below: 1024)) * 4
                    let value: UInt64 = switch rng.next(below: 3) {
                    case 0: k.procBase + rng.next(below: 0x1_0000) & ~3
                    case 1: k.threadBase + rng.next(below: 0x8000)
                    default: rng.next()
                    }
                    for b in 0..<4 { bytes[at + b] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(b))) }
                }
            }
            let dump = try Dump(contents: bytes, name: "vmcore.i386.lists.\(round)")
            guard let list = try? kernelThreads(dump: dump, kernel: o.kernel, limits: limits) else { continue }
            walked += 1
            #expect(list.processes.count <= limits.maxProcesses && list.threads.count <= limits.maxThreads)
            for thread in list.threads {
                let bt = list.backtrace(thread)
                #expect(bt.frames.count <= limits.maxFrames && !bt.detail.isEmpty)
                _ = thread.displayName
            }
        }
        #expect(walked >= 8, "only \(walked) of 16 damaged dumps could start a walk")
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
