/// arm64 processes, threads and backtraces against the generator's ground truth (both pcb layouts,
/// both trapframe layouts, 4K and 16K pages, signed return addresses) and hostile stacks.
import KernelImage
import KernelThreads
import MinidumpCore
import Testing
import VMCoreBuilder

/// A generated arm64 thread dump opened in memory.
struct ARM64Opened {
    let fixture: ARM64ThreadFixture
    let dump: Dump
    let kernel: KernelImage

    init(_ d: ARM64ThreadsDescription) throws {
        fixture = try makeARM64ThreadFixture(d)
        dump = try Dump(contents: try generateARM64Dump(fixture.dump).bytes, name: "vmcore.arm64.test")
        kernel = try KernelImage(bytes: makeKernelELF(fixture.kernel), name: "kernel.arm64.test")
    }

    func list() throws -> ThreadList { try kernelThreads(dump: dump, kernel: kernel) }
}

let arm64RegisterOrder = ["pc", "sp", "fp", "lr", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28"]

@Suite struct ARM64ThreadTests {
    @Test func goldenScenarioMatchesGroundTruth() throws {
        let o = try ARM64Opened(.golden())
        let list = try o.list()
        #expect(list.architecture == "arm64")
        #expect(list.stoppcbsForm == "array (symbol size 20224 = 16 pcbs)")
        #expect(list.threads.count == 13)
        #expect(list.problems.isEmpty, "\(list.problems)")
        expectListMatches(list, o.fixture.truth, registerOrder: arm64RegisterOrder)
    }

    @Test func crashedThreadShowsTheDataAbortAndTheSyscall() throws {
        let o = try ARM64Opened(.golden())
        let list = try o.list()
        let crashed = try #require(list.crashed)
        #expect(crashed.displayName == "(pid 939) sysctl (crashed)")
        #expect(crashed.pcbSource == "dumppcb")
        #expect(crashed.pcb?.rawValue == o.fixture.truth.symbols["dumppcb"])
        let bt = list.backtrace(crashed)
        #expect(bt.frames.map { $0.function ?? "?" } == [
            "doadump", "kern_reboot", "vpanic", "panic", "data_abort", "do_el1h_sync", "handle_el1h_sync",
            "sysctl_debug_crash", "sysctl_root_handler_locked", "sysctl_root", "userland_sysctl", "sys___sysctl",
            "svc_handler", "do_el0_sync", "handle_el0_sync",
        ])
        let abort = try #require(bt.frames[6].trap)
        #expect(abort.kind == "exception" && abort.number == 0x9600_0045 && abort.name == "data abort" && !abort.fromUser)
        #expect(abort.pc == bt.frames[7].pc && abort.sp == bt.frames[7].sp && abort.fp == bt.frames[7].fp)
        #expect(abort.line.hasPrefix("--- exception, esr 0x96000045, pc = 0x\(String(bt.frames[7].pc, radix: 16)), sp = "))
        let svc = try #require(bt.frames[14].trap)
        #expect(svc.kind == "exception" && svc.number == 0x5600_0000 && svc.name == "svc (AArch64)" && svc.fromUser)
        #expect(svc.pc == 0x4031_0a58 && svc.sp == 0x7fff_ffff_e680 && svc.fp == 0x7fff_ffff_e6a0)
        #expect(bt.stop == .userTrapframe)
        #expect(bt.detail == "exception from user mode (trapframe at 0x\(String(svc.address.rawValue, radix: 16).leftPadded(16)))")
        // The pcb's registers are FreeBSD 14's: pc is the saved lr.
        #expect(crashed.register("pc") == crashed.register("lr") && crashed.register("pc") == bt.frames[0].pc)
    }

    @Test func stoppedCPUsUseStoppcbsAndShowTheInterrupt() throws {
        let o = try ARM64Opened(.golden())
        let list = try o.list()
        let idle = try #require(list.thread(tid: 100_003))
        #expect(idle.pcbSource == "stoppcbs[0]")
        let bt = list.backtrace(idle)
        #expect(bt.frames.map { $0.function ?? "?" } == [
            "ipi_stop", "ipi_handler", "intr_ipi_dispatch", "intr_irq_handler", "handle_el1h_irq", "cpu_idle",
            "sched_idletd", "fork_exit", "fork_trampoline",
        ])
        #expect(bt.frames[4].trap?.kind == "interrupt" && bt.frames[4].trap?.fromUser == false)
        #expect(bt.frames[4].trap?.line.hasPrefix("--- interrupt, pc = ") == true)
        #expect(bt.stop == .threadStart)
        #expect(list.thread(tid: 100_199)?.pcbSource == "stoppcbs[2]")
        // CPU 3 did not stop: its thread comes from td_pcb.
        #expect(list.thread(tid: 100_021)?.pcbSource == "td_pcb")
        #expect(list.thread(tid: 100_007).map { list.backtrace($0).frames.count } == 1)
    }

    @Test(arguments: [ARM64DumpDescription.Granule.size4K, .size16K])
    func freeBSD13PCBAndNarrowTrapframes(granule: ARM64DumpDescription.Granule) throws {
        let o = try ARM64Opened(.golden(osreldate: 1_302_000, granule: granule))
        #expect(o.fixture.dump.granule == granule)
        expectListMatches(try o.list(), o.fixture.truth, registerOrder: arm64RegisterOrder)
    }

    @Test func trapframeLayoutIsFoundWhenOsreldateSuggestsTheOther() throws {
        var d = ARM64ThreadsDescription.golden()
        d.trapframe = .narrow
        let o = try ARM64Opened(d)
        expectListMatches(try o.list(), o.fixture.truth, registerOrder: arm64RegisterOrder)
    }

    @Test func signedReturnAddressesAreCanonicalised() throws {
        var d = ARM64ThreadsDescription.golden()
        d.signedReturnAddresses = true
        let o = try ARM64Opened(d)
        let list = try o.list()
        expectListMatches(list, o.fixture.truth, registerOrder: arm64RegisterOrder)
        // The stack really holds signed words: the first record's return address differs from frame 1's pc.
        let crashed = try #require(list.crashed)
        let fp = try #require(crashed.register("fp"))
        let stored = try o.dump.readUInt64(VirtualAddress(fp + 8))
        #expect(stored != list.backtrace(crashed).frames[1].pc && stored | 0x007f_0000_0000_0000 == list.backtrace(crashed).frames[1].pc)
    }

    @Test(arguments: [
        ARM64ThreadCorruption.frameLoop(tid: 100_198, frame: 2), .framePointerUnmapped(tid: 100_090, frame: 1),
        .framePointerOutsideStack(tid: 100_004, frame: 2), .pcbUnmapped(tid: 100_020),
    ])
    func hostileStacksGiveBoundedClearResults(_ corruption: ARM64ThreadCorruption) throws {
        var d = ARM64ThreadsDescription.golden()
        d.corruptions = [corruption]
        let o = try ARM64Opened(d)
        let list = try o.list()
        expectListMatches(list, o.fixture.truth, registerOrder: arm64RegisterOrder)
        switch corruption {
        case .frameLoop(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .loop && bt.frames.count == 3)
            #expect(bt.detail.hasSuffix("does not lie above \(String(bt.frames[2].fp, radix: 16).hexPrefixed)"))
        case .framePointerUnmapped(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .unreadable && bt.detail.hasPrefix("frame record at 0x") && bt.detail.hasSuffix("is not in the dump"))
        case .framePointerOutsideStack(let tid, _):
            let bt = list.backtrace(list.thread(tid: tid)!)
            #expect(bt.stop == .zeroReturnAddress && bt.frames.last?.fp == ARM64ThreadKernel.heapBase + 0x100)
        case .pcbUnmapped(let tid):
            let thread = list.thread(tid: tid)!
            #expect(thread.pcb?.rawValue == ARM64ThreadKernel.unmapped && thread.registers.isEmpty)
            #expect(thread.pcbProblem?.hasPrefix("pcb at 0xffff000000300000: ") == true, "\(thread.pcbProblem ?? "")")
            #expect(list.backtrace(thread).stop == .unreadable && list.backtrace(thread).frames.isEmpty)
        }
    }

    @Test func frameLimitBoundsTheWalk() throws {
        let o = try ARM64Opened(.golden())
        let list = try kernelThreads(dump: o.dump, kernel: o.kernel, limits: WalkLimits(maxFrames: 4))
        let bt = list.backtrace(try #require(list.crashed))
        #expect(bt.frames.count == 4 && bt.stop == .frameLimit && bt.detail == "4 frames")
    }

    @Test func loopAtThePCBsOwnFrameRecord() throws {
        // The record at the pcb's fp saves its own address: one frame read, then the loop is named.
        var d = ARM64ThreadsDescription.golden()
        d.corruptions = [.frameLoop(tid: 100_200, frame: 1)]
        let o = try ARM64Opened(d)
        let bt = try o.list().backtrace(try #require(try o.list().crashed))
        #expect(bt.stop == .loop && bt.frames.count == 2)
    }
}

extension ARM64ThreadTests {
    @Test func randomlyDamagedStacksStayBounded() throws {
        // Words of every kernel stack overwritten with random values, kernel-looking addresses among them:
        // every walk ends within the frame limit with a stated reason, and nothing traps.
        let fixture = try makeARM64ThreadFixture(.golden())
        let generated = try generateARM64Dump(fixture.dump)
        let kernel = try KernelImage(bytes: makeKernelELF(fixture.kernel), name: "kernel.arm64.test")
        let stackPages = Set(generated.truth.kernelPages.filter { $0.va >= ARM64ThreadKernel.stackBase && $0.va < ARM64ThreadKernel.unmapped }.map(\.pa))
        var rng = SplitMix64(seed: 0x5eed)
        for round in 0..<8 {
            var bytes = generated.bytes
            for (i, pa) in generated.truth.dumpedPages.enumerated() where stackPages.contains(pa) {
                let base = Int(generated.truth.dataOffset) + i * Int(generated.truth.pageSize)
                for _ in 0..<64 {
                    let at = base + Int(rng.next(below: generated.truth.pageSize / 8)) * 8
                    let value: UInt64 = rng.next(below: 2) == 0 ? 0xffff_0000_0010_0000 + rng.next(below: 0x10_0000) : rng.next()
                    for b in 0..<8 { bytes[at + b] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(b))) }
                }
            }
            let dump = try Dump(contents: bytes, name: "vmcore.damaged.\(round)")
            let list = try kernelThreads(dump: dump, kernel: kernel)
            #expect(list.threads.count == 13)
            for thread in list.threads {
                let bt = list.backtrace(thread)
                #expect(bt.frames.count <= list.limits.maxFrames)
                #expect(!bt.detail.isEmpty)
            }
        }
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
    var hexPrefixed: String { "0x" + self }
}
