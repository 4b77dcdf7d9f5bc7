/// riscv processes, threads and backtraces against the generator's ground truth (minidump v1 and v2), the
/// trapframe lines, and hostile stacks.
import KernelImage
import KernelThreads
import MinidumpCore
import Testing
import VMCoreBuilder

/// A generated riscv thread dump opened in memory.
struct RISCVOpened {
    let fixture: RISCVThreadFixture
    let generated: RISCVGeneratedDump
    let dump: Dump
    let kernel: KernelImage

    init(_ d: RISCVThreadsDescription) throws {
        fixture = try makeRISCVThreadFixture(d)
        generated = try generateRISCVDump(fixture.dump)
        dump = try Dump(contents: generated.bytes, name: "vmcore.riscv.test")
        kernel = try KernelImage(bytes: makeKernelELF(fixture.kernel), name: "kernel.riscv.test")
    }

    func list() throws -> ThreadList { try kernelThreads(dump: dump, kernel: kernel) }
}

let riscvRegisterOrder = ["pc", "ra", "sp", "gp", "tp"] + (0...11).map { "s\($0)" }

@Suite struct RISCVThreadTests {
    @Test(arguments: [UInt32(1), 2])
    func goldenScenarioMatchesGroundTruth(version: UInt32) throws {
        let o = try RISCVOpened(.golden(version: version))
        let list = try o.list()
        #expect(list.architecture == "riscv")
        #expect(list.stoppcbsForm == "array (symbol size 10624 = 16 pcbs)")
        #expect(list.threads.count == 13)
        #expect(list.problems.isEmpty, "\(list.problems)")
        expectListMatches(list, o.fixture.truth, registerOrder: riscvRegisterOrder)
    }

    @Test func olderPCBWithTemporariesAndArgumentsIsReadByItsSize() throws {
        // pcb_size 0x318: pcb_t[7] sits between pcb_tp and pcb_s[12], so s0 is at 0x58, not 0x20.
        var d = RISCVThreadsDescription.golden()
        d.layout = .riscvFullPCB
        let o = try RISCVOpened(d)
        let list = try o.list()
        #expect(list.offsets.pcbSize == 0x318)
        #expect(list.stoppcbsForm == "array (symbol size 12672 = 16 pcbs)")
        expectListMatches(list, o.fixture.truth, registerOrder: riscvRegisterOrder)
        let crashed = try #require(list.crashed)
        let pcb = try #require(crashed.pcb)
        #expect(crashed.register("s0") == (try o.dump.readUInt64(VirtualAddress(pcb.rawValue + 0x58))))
        #expect(crashed.register("s0") != (try o.dump.readUInt64(VirtualAddress(pcb.rawValue + 0x20))))
        #expect(list.backtrace(crashed).frames.count == 16)
    }

    @Test func crashedThreadShowsTheStorePageFaultAndTheSyscall() throws {
        let o = try RISCVOpened(.golden())
        let list = try o.list()
        let crashed = try #require(list.crashed)
        #expect(crashed.displayName == "(pid 939) sysctl (crashed)")
        #expect(crashed.pcbSource == "dumppcb")
        #expect(crashed.pcb?.rawValue == o.fixture.truth.symbols["dumppcb"])
        let bt = list.backtrace(crashed)
        #expect(bt.frames.map { $0.function ?? "?" } == [
            "doadump", "kern_reboot", "vpanic", "panic", "page_fault_handler", "do_trap_supervisor",
            "cpu_exception_handler_supervisor", "sysctl_debug_crash", "sysctl_root_handler_locked", "sysctl_root",
            "userland_sysctl", "sys___sysctl", "syscallenter", "ecall_handler", "do_trap_user", "cpu_exception_handler_user",
        ])
        let fault = try #require(bt.frames[6].trap)
        #expect(fault.kind == "exception" && fault.number == 15 && fault.name == "store page fault" && !fault.fromUser)
        #expect(fault.pc == bt.frames[7].pc && fault.sp == bt.frames[7].sp && fault.fp == bt.frames[7].fp)
        #expect(fault.address.rawValue == bt.frames[6].sp)
        #expect(fault.line == "--- exception 15, tval = 0x10, sepc = 0x\(String(bt.frames[7].pc, radix: 16)), sp = 0x"
                + "\(String(bt.frames[7].sp, radix: 16)), s0 = 0x\(String(bt.frames[7].fp, radix: 16)) ---")
        let ecall = try #require(bt.frames[15].trap)
        #expect(ecall.kind == "syscall" && ecall.number == 202 && ecall.fromUser)
        #expect(ecall.pc == 0x4031_0a58 && ecall.sp == 0x3f_ffff_e680 && ecall.fp == 0x3f_ffff_e6a0)
        #expect(ecall.line.hasPrefix("--- syscall (202), sepc = 0x40310a58, sp = 0x3fffffe680, s0 = 0x3fffffe6a0 ---"))
        #expect(bt.stop == .userTrapframe)
        #expect(bt.detail == "syscall from user mode (trapframe at 0x\(String(ecall.address.rawValue, radix: 16)))")
        // pc is pcb_ra, as kgdb and LLDB supply it; s0 is the frame pointer.
        #expect(crashed.register("pc") == crashed.register("ra") && crashed.register("pc") == bt.frames[0].pc)
        #expect(crashed.register("s0") == bt.frames[0].fp && crashed.register("sp") == bt.frames[0].sp)
        // The signature skips the fault path.
        #expect(CrashSignature(panicString: "page fault", backtrace: bt).functions
                == ["sysctl_debug_crash", "sysctl_root_handler_locked", "sysctl_root"])
    }

    @Test func stoppedCPUsUseStoppcbsAndShowTheInterrupt() throws {
        let o = try RISCVOpened(.golden())
        let list = try o.list()
        let idle = try #require(list.thread(tid: 100_003))
        #expect(idle.pcbSource == "stoppcbs[0]")
        let bt = list.backtrace(idle)
        #expect(bt.frames.map { $0.function ?? "?" } == [
            "ipi_handler", "intr_isrc_dispatch", "riscv_cpu_intr", "do_trap_supervisor", "cpu_exception_handler_supervisor",
            "cpu_idle", "sched_idletd", "fork_exit", "fork_trampoline",
        ])
        let irq = try #require(bt.frames[4].trap)
        #expect(irq.kind == "interrupt" && irq.number == 1 && irq.name == "supervisor software interrupt" && !irq.fromUser)
        #expect(irq.line.hasPrefix("--- interrupt 1, sepc = "))
        #expect(bt.stop == .threadStart)
        let dd = try #require(list.thread(tid: 100_199))
        #expect(dd.pcbSource == "stoppcbs[2]" && list.backtrace(dd).stop == .userTrapframe)
        #expect(list.backtrace(dd).frames.last?.trap?.number == 3)
        // CPU 3 did not stop: its thread comes from td_pcb.
        #expect(list.thread(tid: 100_021)?.pcbSource == "td_pcb")
        let never = try #require(list.thread(tid: 100_007))
        #expect(list.backtrace(never).frames.count == 1 && list.backtrace(never).stop == .threadStart)
    }

    @Test(arguments: [
        RISCVThreadCorruption.frameLoop(tid: 100_198, frame: 2), .framePointerUnmapped(tid: 100_090, frame: 1),
        .framePointerOutsideStack(tid: 100_004, frame: 2), .pcbUnmapped(tid: 100_020),
    ])
    func hostileStacksGiveBoundedClearResults(_ corruption: RISCVThreadCorruption) throws {
        var d = RISCVThreadsDescription.golden()
        d.corruptions = [corruption]
        let o = try RISCVOpened(d)
        let list = try o.list()
        expectListMatches(list, o.fixture.truth, registerOrder: riscvRegisterOrder)
        switch corruption {
        case .frameLoop(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .loop && bt.frames.count == 3)
            #expect(bt.detail.hasSuffix("does not lie above 0x\(String(bt.frames[2].fp, radix: 16))"))
        case .framePointerUnmapped(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .unreadable && bt.detail.hasPrefix("frame record below 0x") && bt.detail.hasSuffix("is not in the dump"))
        case .framePointerOutsideStack(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .zeroReturnAddress && bt.frames.last?.fp == RISCVThreadKernel.heapBase + 0x100)
        case .pcbUnmapped(let tid):
            let thread = list.thread(tid: tid)!
            #expect(thread.pcb?.rawValue == RISCVThreadKernel.unmapped && thread.registers.isEmpty)
            #expect(thread.pcbProblem?.hasPrefix("pcb at 0xffffffc000300000: ") == true, "\(thread.pcbProblem ?? "")")
            #expect(list.backtrace(thread).stop == .unreadable && list.backtrace(thread).frames.isEmpty)
        }
    }

    @Test(arguments: [UInt64(0), 0x4031_0a58])
    func supervisorTrapframeWithABadSepcStopsThere(sepc: UInt64) throws {
        // The crashed thread's kernel-mode trapframe gets tf_sepc 0 or a user address: the walk shows the
        // trap line and the frame at that pc, then stops with the reason.
        let o = try RISCVOpened(.golden())
        let truth = try #require(o.fixture.truth.crashed)
        let tf = try #require(truth.frames[6].trap?.address)
        let pa = try #require(o.generated.truth.physicalAddress(ofVirtual: tf + 0xf8))
        let at = try #require(o.generated.truth.fileOffset(ofPhysical: pa))
        var bytes = o.generated.bytes
        for b in 0..<8 { bytes[Int(at) + b] = UInt8(truncatingIfNeeded: sepc >> (8 * UInt64(b))) }
        let dump = try Dump(contents: bytes, name: "vmcore.riscv.sepc")
        let list = try kernelThreads(dump: dump, kernel: o.kernel)
        let bt = list.backtrace(try #require(list.crashed))
        #expect(bt.frames.count == 8 && bt.frames[6].trap?.pc == sepc && bt.frames[7].pc == sepc)
        #expect(Array(bt.frames.prefix(7).map(\.pc)) == Array(truth.frames.prefix(7).map(\.pc)))
        if sepc == 0 {
            #expect(bt.stop == .noPC && bt.detail == "kernel-mode trapframe at 0x\(String(tf, radix: 16)) has sepc 0")
        } else {
            #expect(bt.stop == .pcNotKernel && bt.detail == "trapframe sepc 0x40310a58 is not a kernel address")
        }
    }

    @Test func frameLimitBoundsTheWalk() throws {
        let o = try RISCVOpened(.golden())
        let list = try kernelThreads(dump: o.dump, kernel: o.kernel, limits: WalkLimits(maxFrames: 4))
        let bt = list.backtrace(try #require(list.crashed))
        #expect(bt.frames.count == 4 && bt.stop == .frameLimit && bt.detail == "4 frames")
    }

    @Test func randomlyDamagedStacksStayBounded() throws {
        // Words of every kernel stack overwritten with random values, kernel-looking addresses among them:
        // every walk ends within the frame limit with a stated reason, and nothing traps.
        let o = try RISCVOpened(.golden())
        let truth = o.generated.truth
        let stackPages = Set(truth.kernelPages.filter { $0.va >= RISCVThreadKernel.stackBase && $0.va < RISCVThreadKernel.unmapped }.map(\.pa))
        #expect(stackPages.count == 13 * 4)
        var rng = SplitMix64(seed: 0x5eed)
        for round in 0..<8 {
            var bytes = o.generated.bytes
            for (i, pa) in truth.dumpedPages.enumerated() where stackPages.contains(pa) {
                let base = Int(truth.dataOffset) + i * 4096
                for _ in 0..<64 {
                    let at = base + Int(rng.next(below: 4096 / 8)) * 8
                    let value: UInt64 = rng.next(below: 2) == 0 ? RISCVThreadKernel.stackBase + rng.next(below: 0x10_0000) : rng.next()
                    for b in 0..<8 { bytes[at + b] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(b))) }
                }
            }
            let dump = try Dump(contents: bytes, name: "vmcore.riscv.damaged.\(round)")
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
