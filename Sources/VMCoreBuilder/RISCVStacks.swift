// Builds the riscv thread fixture: an EM_RISCV kernel ELF (functions with frame-pointer prologues and `jal`
// call sites, the offset symbols) and a riscv minidump holding allproc, processes, threads, 16 KiB kernel
// stacks of frame records (ra at s0 - 8, the caller's s0 at s0 - 16) with exception-handler trapframes,
// dumppcb/dumptid, stoppcbs and stopped_cpus — with the backtraces a reader must find (ThreadsTruth, shared
// with amd64: the trap truth's rip/rsp/rbp are sepc/sp/s0 here).

/// The built riscv thread fixture.
public struct RISCVThreadFixture: Sendable {
    public var kernel: KernelELFDescription
    public var dump: RISCVDumpDescription
    public var truth: ThreadsTruth
}

/// A run of frames on one stack: `chain` outermost first, the outermost saving `outerFP` and `outerReturn`
/// (into a handler or fork_trampoline). `fps[i]` is chain[i]'s frame pointer (its CFA: the sp its caller
/// had at the call); its record is the two words below it.
private struct RISCVChain {
    var chain: [String]
    var outerReturn: UInt64
    var outerFP: UInt64
    var fps: [UInt64] = []

    /// Pushes the frames below `sp` (each its function's `frameSize`), writing [fp - 16] and [fp - 8];
    /// leaves `sp` at the innermost function's sp.
    mutating func build(_ sp: inout UInt64, _ image: inout VirtualImage, sites: inout [(caller: String, callee: String)]) {
        fps = []
        for (i, function) in chain.enumerated() {
            let fp = sp
            let ret: UInt64
            if i == 0 {
                ret = outerReturn
            } else {
                ret = RISCVThreadKernel.returnAddress(caller: chain[i - 1], callee: function)
                sites.append((chain[i - 1], function))
            }
            image.u64(fp - 16, i == 0 ? outerFP : fps[i - 1])
            image.u64(fp - 8, ret)
            fps.append(fp)
            sp = fp - RISCVThreadKernel.frameSize(function)
        }
    }

    /// The frames a reader finds from these records, innermost first (pc = the return address, sp = the
    /// record's fp, fp = the saved s0).
    func frames() -> [FrameTruth] {
        (0..<chain.count).reversed().map { i in
            let pc = i == 0 ? outerReturn : RISCVThreadKernel.returnAddress(caller: chain[i - 1], callee: chain[i])
            return riscvFrame(pc: pc, sp: fps[i], fp: i == 0 ? outerFP : fps[i - 1])
        }
    }
}

/// A frame whose function and offset come from the fixture's text layout.
private func riscvFrame(pc: UInt64, sp: UInt64, fp: UInt64, trap: TrapTruth? = nil) -> FrameTruth {
    let f = RISCVThreadKernel.layout.filter { $0.value.start <= pc }.max { $0.value.start < $1.value.start }!
    return FrameTruth(pc: pc, sp: sp, fp: fp, function: f.key, offset: pc - f.value.start, trap: trap)
}

/// Builds the riscv thread fixture for `d`.
public func makeRISCVThreadFixture(_ d: RISCVThreadsDescription) throws(GeneratorError) -> RISCVThreadFixture {
    let k = RISCVThreadKernel.self
    let layout = d.layout
    guard d.cpuCount >= 1, d.cpuCount <= k.maxCPU else { throw .invalidDescription("cpuCount \(d.cpuCount) is not in 1...\(k.maxCPU)") }
    let allThreads = d.processes.reduce(0) { $0 + $1.threads.count }
    guard allThreads * layout.threadSize <= 0x8000, d.processes.count * layout.procSize <= 0x8000 else {
        throw .invalidDescription("\(d.processes.count) processes and \(allThreads) threads do not fit the riscv fixture")
    }
    let tfSize = k.trapframeReservation
    var image = VirtualImage()
    var sites: [(caller: String, callee: String)] = []
    var rng = SplitMix64(seed: d.seed ^ 0x7269_7363_7674_6872)

    // The base dump: RISCVFixture's RAM, the message buffer at the top of the first range.
    let ranges = RISCVFixture.ranges
    var message = MessageBufferDescription.panicDmesg(seed: d.seed, physicalMemory: 6 << 20, reservedSize: 32 * 1024)
    let msgbufPA = ranges[0].upperBound - 32 * 1024
    message.physicalAddress = msgbufPA
    let msgbufp = RISCVDumpDescription.defaultDMAPBase + (msgbufPA - RISCVFixture.dmapPhys) + UInt64(message.ringSize)
    var mappings = [
        RISCVMapping(virtualAddress: k.textBase, pageSize: .size4K, count: k.textSize / 4096, writable: false, executable: true),
        RISCVMapping(virtualAddress: k.dataBase, pageSize: .size4K, count: k.dataSize / 4096),
        RISCVMapping(virtualAddress: k.bssBase, pageSize: .size4K, count: Int(k.bssSize / 4096)),
        RISCVMapping(virtualAddress: k.procBase, pageSize: .size4K, count: 8),
        RISCVMapping(virtualAddress: k.threadBase, pageSize: .size4K, count: 8),
        RISCVMapping(virtualAddress: k.heapBase, pageSize: .size4K, count: 4),
    ]
    image.write(k.heapBase, [UInt8](repeating: 0, count: 0x1000))

    // .data: version, osreldate, hz, the offset symbols.
    let versionBytes = Array(RISCVFixture.version.utf8) + [0]
    var dataVars: [(String, UInt64, [UInt8])] = [
        ("version", 0, versionBytes), ("osreldate", 0x80, KernelFixture.le(UInt64(d.osreldate), 4)),
        ("hz", 0x84, KernelFixture.le(1000, 4)),
    ]
    for (i, (name, value)) in layout.symbolValues.enumerated() {
        dataVars.append((name, 0x100 + UInt64(4 * i), KernelFixture.le(UInt64(UInt32(value)), 4)))
    }
    for (_, offset, bytes) in dataVars { image.write(k.dataBase + offset, bytes) }
    let bss = k.bssBase
    let pcbSize = UInt64(layout.pcbSize)
    let addr: [String: UInt64] = [
        "hostname": bss, "panicstr": bss + 0x100, "msgbufp": bss + 0x108, "allproc": bss + 0x110, "dumptid": bss + 0x118,
        "mp_maxid": bss + 0x11c, "mp_ncpus": bss + 0x120, "panic_cpu": bss + 0x124, "stopped_cpus": bss + 0x128,
        "time_second": bss + 0x130, "time_uptime": bss + 0x138, "panicbuf": bss + 0x200, "dumppcb": bss + 0x400,
        "stoppcbs": bss + 0x1000,
    ]
    let sizes: [String: UInt64] = [
        "hostname": 256, "panicstr": 8, "msgbufp": 8, "allproc": 8, "dumptid": 4, "mp_maxid": 4, "mp_ncpus": 4,
        "panic_cpu": 4, "stopped_cpus": 8, "time_second": 8, "time_uptime": 8, "panicbuf": 256, "dumppcb": pcbSize,
        "stoppcbs": UInt64(k.maxCPU) * pcbSize,
    ]
    guard addr["stoppcbs"]! + sizes["stoppcbs"]! <= k.pcpuBase else { throw .invalidDescription("riscv stoppcbs overflow .bss") }
    try image.writeKernelGlobals(addr, hostname: RISCVFixture.hostname, panicString: RISCVFixture.panicString, msgbufp: msgbufp,
                                 dumpTID: d.dumpTID, cpuCount: d.cpuCount, stoppedCPUs: d.stoppedCPUs)

    /// The older pcb (`ThreadLayout.riscvFullPCB`) has pcb_t[7] between pcb_tp and pcb_s[12], then pcb_a[8].
    let fullPCB = layout.pcbSize == ThreadLayout.riscvFullPCB.pcbSize
    /// The pcb: pcb_ra, pcb_sp, pcb_gp, pcb_tp, (older: pcb_t[7], random,) pcb_s[12] (older: then pcb_a[8],
    /// random); the FP state after them is 0.
    func pcbBytes(_ r: [String: UInt64]) -> [UInt8] {
        var pcb = [UInt8](repeating: 0, count: layout.pcbSize)
        func put(_ at: Int, _ v: UInt64) { pcb.replaceSubrange(at..<at + 8, with: KernelFixture.le(v, 8)) }
        for (i, name) in ["ra", "sp", "gp", "tp"].enumerated() { put(8 * i, r[name]!) }
        let s0 = fullPCB ? 0x58 : 0x20
        if fullPCB {
            for i in 0..<7 { put(0x20 + 8 * i, rng.next()) }
            for i in 0..<8 { put(0xb8 + 8 * i, rng.next()) }
        }
        for i in 0..<12 { put(s0 + 8 * i, r["s\(i)"]!) }
        return pcb
    }

    /// A trapframe at `tf` (sys/riscv/include/frame.h), the registers not given random.
    func writeTrapframe(_ tf: UInt64, sp: UInt64, s0: UInt64, sepc: UInt64, sstatus: UInt64, stval: UInt64, scause: UInt64,
                        t0: UInt64) {
        var bytes = [UInt8](repeating: 0, count: Int(tfSize))
        func put(_ at: Int, _ v: UInt64) { bytes.replaceSubrange(at..<at + 8, with: KernelFixture.le(v, 8)) }
        for i in 0..<31 { put(8 * i, rng.next() & 0xffff_ffff) }
        put(0x08, sp); put(0x10, k.globalPointer); put(0x20, t0); put(0x58, s0)
        put(0xf8, sepc); put(0x100, sstatus); put(0x108, stval); put(0x110, scause)
        image.write(tf, bytes)
    }

    var procTruth: [ProcessTruth] = []
    var threadTruth: [ThreadTruth] = []
    /// Per thread: the addresses of its saved-s0 words in walk order (the record below the pcb's s0 first).
    var walkRecords: [Int32: [UInt64]] = [:]
    var stackBottoms: [Int32: UInt64] = [:]
    var crashedCPU: UInt32 = 0
    var threadIndex = 0
    let userSP: UInt64 = 0x3f_ffff_e680, userS0: UInt64 = 0x3f_ffff_e6a0, userPC: UInt64 = 0x4031_0a58
    let storePageFault: UInt64 = 15, faultAddress: UInt64 = 0x10
    let softwareInterrupt: UInt64 = 1 << 63 | 1

    for (p, proc) in d.processes.enumerated() {
        let pa = k.procBase + UInt64(p * layout.procSize)
        var firstThread: UInt64 = 0
        var lastThread: UInt64 = 0
        for (t, thread) in proc.threads.enumerated() {
            let ta = k.threadBase + UInt64(threadIndex * layout.threadSize)
            let slot = k.stackBase + UInt64(threadIndex) * k.stackStride
            let stackBottom = slot + k.stackOffset
            let stackTop = stackBottom + k.stackSize
            mappings.append(RISCVMapping(virtualAddress: stackBottom, pageSize: .size4K, count: Int(k.stackSize / 4096)))
            stackBottoms[thread.tid] = stackBottom
            // td_pcb at the top of the kernel stack; td_frame right below it.
            let tdPCB = stackTop - pcbSize
            let tdFrame = (tdPCB & ~15) - tfSize
            let saved = (0..<11).map { _ in rng.next() }  // s1–s11
            let crashed = thread.tid == d.dumpTID
            var sp = tdFrame
            var frames: [FrameTruth] = []
            var records: [UInt64] = []
            var pcbAddress = tdPCB
            var pcbSource = "td_pcb"
            var stop = "thread-start"
            /// pcb_ra and pcb_s[0] of the innermost function.
            let innermost: (ra: UInt64, s0: UInt64)
            var neverRan = false

            /// The user-mode entry at the top of the stack: a trapframe from U-mode (ecall, syscall number `code`
            /// in t0) at td_frame, where do_trap_user's frame record ends.
            func userEntry(_ code: UInt64) {
                writeTrapframe(tdFrame, sp: userSP, s0: userS0, sepc: userPC, sstatus: 0x20, stval: 0, scause: 8, t0: code)
            }
            func userTrap(_ code: UInt64) -> TrapTruth {
                TrapTruth(kind: "syscall", number: code, rip: userPC, rsp: userSP, rbp: userS0, user: true, address: tdFrame)
            }
            /// The outermost chain of a kernel thread (from fork_trampoline) or of a system call.
            func baseChain(_ calls: [String], syscall: UInt64?) -> RISCVChain {
                if let code = syscall {
                    userEntry(code)
                    sites.append(("cpu_exception_handler_user", "do_trap_user"))
                    return RISCVChain(chain: ["do_trap_user", "ecall_handler", "syscallenter"] + calls.reversed(),
                                      outerReturn: k.returnAddress(caller: "cpu_exception_handler_user", callee: "do_trap_user"),
                                      outerFP: userS0)
                }
                sites.append(("fork_trampoline", "fork_exit"))
                // fork_trampoline passes s0 (the callout cpu_fork_kthread_handler put there) to fork_exit.
                return RISCVChain(chain: ["fork_exit"] + calls.reversed(),
                                  outerReturn: k.returnAddress(caller: "fork_trampoline", callee: "fork_exit"),
                                  outerFP: k.start(calls.last ?? "fork_return"))
            }
            /// The frames of `base` read from its records, the handler frame at the outermost carrying the
            /// user trap.
            func baseFrames(_ base: RISCVChain, syscall: UInt64?) -> [FrameTruth] {
                var out = base.frames()
                if let code = syscall {
                    let last = out.removeLast()
                    out.append(riscvFrame(pc: last.pc, sp: last.sp, fp: last.fp, trap: userTrap(code)))
                }
                return out
            }
            /// A supervisor trap over the function whose frame pointer is `fp` and whose sp is `sp`: the
            /// trapframe below `sp`, then `chain` (outermost first) from do_trap_supervisor; returns it built.
            func supervisorTrap(_ chain: [String], sp: inout UInt64, fp: UInt64, sepc: UInt64, stval: UInt64,
                                scause: UInt64) -> RISCVChain {
                let interruptedSP = sp
                sp -= tfSize
                writeTrapframe(sp, sp: interruptedSP, s0: fp, sepc: sepc, sstatus: 0x120, stval: stval, scause: scause, t0: 0)
                sites.append(("cpu_exception_handler_supervisor", chain[0]))
                var inner = RISCVChain(chain: chain, outerReturn: k.returnAddress(caller: "cpu_exception_handler_supervisor",
                                                                                 callee: chain[0]), outerFP: fp)
                inner.build(&sp, &image, sites: &sites)
                return inner
            }

            switch thread.activity {
            case .sleepingInSyscall(let calls, _), .sleepingKernelThread(let calls):
                var syscall: UInt64?
                if case .sleepingInSyscall(_, let code) = thread.activity { syscall = code }
                var base = baseChain(calls, syscall: syscall)
                base.chain += ["mi_switch", "sched_switch"]
                base.build(&sp, &image, sites: &sites)
                sites.append(("sched_switch", "cpu_switch"))
                innermost = (k.returnAddress(caller: "sched_switch", callee: "cpu_switch"), base.fps.last!)
                frames = baseFrames(base, syscall: syscall)
                records = base.fps.reversed()
                stop = syscall != nil ? "user-trapframe" : "thread-start"
            case .neverRan:
                innermost = (k.start("fork_trampoline"), k.start("fork_return"))
                neverRan = true
                stop = "thread-start"
            case .crashed:
                var outer = baseChain(["sysctl_debug_crash", "sysctl_root_handler_locked", "sysctl_root", "userland_sysctl",
                                       "sys___sysctl"], syscall: 202)
                outer.build(&sp, &image, sites: &sites)
                let faultSP = sp, faultFP = outer.fps.last!
                let sepc = k.interruptedPC("sysctl_debug_crash", "fault")
                let inner = supervisorTrap(["do_trap_supervisor", "page_fault_handler", "panic", "vpanic", "kern_reboot", "doadump"],
                                           sp: &sp, fp: faultFP, sepc: sepc, stval: faultAddress, scause: storePageFault)
                sites.append(("doadump", "savectx"))
                innermost = (k.returnAddress(caller: "doadump", callee: "savectx"), inner.fps.last!)
                var innerFrames = inner.frames()
                let h = innerFrames.removeLast()
                innerFrames.append(riscvFrame(pc: h.pc, sp: h.sp, fp: h.fp, trap: TrapTruth(
                    kind: "exception", number: storePageFault, rip: sepc, rsp: faultSP, rbp: faultFP, user: false, address: h.sp)))
                frames = innerFrames + [riscvFrame(pc: sepc, sp: faultSP, fp: faultFP)] + baseFrames(outer, syscall: 202)
                records = inner.fps.reversed() + outer.fps.reversed()
                pcbSource = "dumppcb"
                pcbAddress = addr["dumppcb"]!
                stop = "user-trapframe"
                crashedCPU = UInt32(thread.onCPU ?? 0)
            case .stoppedByIPI(let interrupted, let syscall):
                guard let cpu = thread.onCPU, d.stoppedCPUs.contains(cpu) else {
                    throw .invalidDescription("thread \(thread.tid) is stopped by IPI but its CPU is not in stoppedCPUs")
                }
                var outer = baseChain(interrupted, syscall: syscall)
                outer.build(&sp, &image, sites: &sites)
                let irqSP = sp, irqFP = outer.fps.last!
                let sepc = k.interruptedPC(interrupted[0], "irq")
                let inner = supervisorTrap(["do_trap_supervisor", "riscv_cpu_intr", "intr_isrc_dispatch", "ipi_handler"],
                                           sp: &sp, fp: irqFP, sepc: sepc, stval: 0, scause: softwareInterrupt)
                sites.append(("ipi_handler", "savectx"))
                innermost = (k.returnAddress(caller: "ipi_handler", callee: "savectx"), inner.fps.last!)
                var innerFrames = inner.frames()
                let h = innerFrames.removeLast()
                innerFrames.append(riscvFrame(pc: h.pc, sp: h.sp, fp: h.fp, trap: TrapTruth(
                    kind: "interrupt", number: 1, rip: sepc, rsp: irqSP, rbp: irqFP, user: false, address: h.sp)))
                frames = innerFrames + [riscvFrame(pc: sepc, sp: irqSP, fp: irqFP)] + baseFrames(outer, syscall: syscall)
                records = inner.fps.reversed() + outer.fps.reversed()
                pcbSource = "stoppcbs[\(cpu)]"
                pcbAddress = addr["stoppcbs"]! + UInt64(cpu) * pcbSize
                stop = syscall != nil ? "user-trapframe" : "thread-start"
            }
            if let cpu = thread.onCPU, d.stoppedCPUs.contains(cpu), !crashed {
                guard case .stoppedByIPI = thread.activity else {
                    throw .invalidDescription("thread \(thread.tid) is on stopped CPU \(cpu) but not .stoppedByIPI")
                }
            }
            // savectx and cpu_switch are leaves: pcb_sp is the innermost function's sp.
            let pcbSP = sp
            var registers: [String: UInt64] = ["ra": innermost.ra, "sp": pcbSP, "gp": k.globalPointer,
                                               "tp": k.pcpuBase + 0x100 * UInt64(thread.onCPU ?? 0), "s0": innermost.s0]
            for (i, v) in saved.enumerated() { registers["s\(i + 1)"] = v }
            if neverRan { registers["s1"] = ta }  // fork_trampoline's second argument: the thread
            image.write(pcbAddress, pcbBytes(registers))
            registers["pc"] = innermost.ra
            frames.insert(riscvFrame(pc: innermost.ra, sp: pcbSP, fp: innermost.s0), at: 0)

            // struct thread.
            let next = t + 1 < proc.threads.count ? k.threadBase + UInt64((threadIndex + 1) * layout.threadSize) : 0
            image.u64(ta + 8, pa)
            image.u64(ta + UInt64(layout.threadPList), next)
            image.u64(ta + UInt64(layout.threadPList) + 8,
                      t == 0 ? pa + UInt64(layout.procThreads) : ta - UInt64(layout.threadSize) + UInt64(layout.threadPList))
            image.u32(ta + UInt64(layout.threadTID), UInt32(bitPattern: thread.tid))
            image.write(ta + UInt64(layout.threadName), riscvCName(thread.name))
            image.u32(ta + UInt64(layout.threadOnCPU), UInt32(bitPattern: Int32(thread.onCPU ?? -1)))
            let state: (UInt32, String)
            switch thread.activity {
            case .crashed, .stoppedByIPI: state = (4, "RUNNING")
            case .neverRan: state = (2, "CAN_RUN")
            case .sleepingInSyscall, .sleepingKernelThread: state = thread.onCPU == nil ? (1, "INHIBITED") : (4, "RUNNING")
            }
            image.u32(ta + UInt64(layout.threadState), state.0)
            image.u64(ta + UInt64(layout.threadPCB), tdPCB)
            image.u64(ta + 0x490, tdFrame)

            var name = "(pid \(proc.pid)) \(proc.comm)"
            if !thread.name.isEmpty && thread.name != proc.comm { name += "/\(thread.name)" }
            if crashed { name += " (crashed)" } else if let cpu = thread.onCPU { name += " (on CPU \(cpu))" }
            threadTruth.append(ThreadTruth(
                tid: thread.tid, pid: proc.pid, comm: proc.comm, name: thread.name, cpu: thread.onCPU, state: state.1,
                crashed: crashed, pcbSource: pcbSource, pcb: pcbAddress, address: ta, registers: registers, frames: frames,
                stop: stop, displayName: name))
            walkRecords[thread.tid] = records.map { $0 - 16 }
            if t == 0 { firstThread = ta }
            lastThread = ta
            threadIndex += 1
        }
        image.u64(pa + UInt64(layout.procList), p + 1 < d.processes.count ? pa + UInt64(layout.procSize) : 0)
        image.u64(pa + UInt64(layout.procList) + 8, p == 0 ? addr["allproc"]! : pa - UInt64(layout.procSize))
        image.u64(pa + UInt64(layout.procThreads), firstThread)
        image.u64(pa + UInt64(layout.procThreads) + 8,
                  lastThread == 0 ? pa + UInt64(layout.procThreads) : lastThread + UInt64(layout.threadPList))
        image.u32(pa + UInt64(layout.procFlag), proc.flags)
        image.u32(pa + UInt64(layout.procPID), UInt32(bitPattern: proc.pid))
        image.write(pa + UInt64(layout.procComm), riscvCName(proc.comm))
        procTruth.append(ProcessTruth(pid: proc.pid, comm: proc.comm, flags: proc.flags, address: pa, threadCount: proc.threads.count))
    }
    image.u64(addr["allproc"]!, d.processes.isEmpty ? 0 : k.procBase)
    image.u32(addr["panic_cpu"]!, crashedCPU)

    // Corruptions: change memory and the expected backtrace.
    func mutate(_ tid: Int32, _ body: (inout ThreadTruth) throws(GeneratorError) -> Void) throws(GeneratorError) {
        guard let i = threadTruth.firstIndex(where: { $0.tid == tid }) else { throw .invalidDescription("no thread \(tid) to corrupt") }
        try body(&threadTruth[i])
    }
    /// Frame record `frame` of `tid` saves `fp`: the walk reads frames 1...`frame` as before, the last with that
    /// fp, then stops with `stop`. `fp` gets the address of the saved-s0 word.
    func redirect(_ tid: Int32, _ frame: Int, to fp: (UInt64) -> UInt64, stop: String) throws(GeneratorError) {
        guard let records = walkRecords[tid], frame >= 1, frame <= records.count else {
            throw .invalidDescription("thread \(tid) has no frame record \(frame)")
        }
        let record = records[frame - 1]
        try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
            guard t.frames[frame].fp == image.readU64(record), t.frames[frame].trap == nil else {
                throw .invalidDescription("thread \(tid) frame \(frame) is not a plain frame record")
            }
            let target = fp(record)
            image.u64(record, target)
            var f = t.frames[frame]
            f.fp = target
            t.frames = Array(t.frames.prefix(frame)) + [f]
            t.stop = stop
        }
    }
    for c in d.corruptions {
        switch c {
        case .frameLoop(let tid, let frame): try redirect(tid, frame, to: { $0 + 16 }, stop: "loop")
        case .framePointerUnmapped(let tid, let frame):
            try redirect(tid, frame, to: { _ in stackBottoms[tid]! + k.stackSize + 0x1000 }, stop: "unreadable")
        case .framePointerOutsideStack(let tid, let frame):
            try redirect(tid, frame, to: { _ in k.heapBase + 0x100 }, stop: "zero-return-address")
        case .pcbUnmapped(let tid):
            try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
                guard t.pcbSource == "td_pcb" else { throw .invalidDescription("thread \(tid) is not unwound from td_pcb") }
                image.u64(t.address + UInt64(layout.threadPCB), k.unmapped)
                t.pcb = k.unmapped
                t.registers = [:]
                t.frames = []
                t.stop = "unreadable"
            }
        }
    }

    // The kernel ELF and the dump.
    let text = k.textBytes(callSites: sites)
    image.write(k.textBase, text)
    let dump = RISCVDumpDescription(
        version: d.version, seed: d.seed, physicalRanges: ranges, dmapPhys: RISCVFixture.dmapPhys,
        kernelMapChunks: k.kernelMapChunks, mappings: mappings, directMapOnlyPages: 4, messageBuffer: message,
        overlays: image.overlays())
    var symbols: [KernelELFSymbol] = k.functions.map { f in
        KernelELFSymbol(name: f.0, value: k.start(f.0), size: UInt64(f.1), type: f.2 ? .noType : .function, section: .text)
    }
    symbols.insert(KernelELFSymbol(name: "btext", value: k.textBase, size: 0, type: .noType, section: .text), at: 0)
    symbols.append(KernelELFSymbol(name: "etext", value: k.textBase + UInt64(k.textSize), size: 0, type: .noType, section: .text))
    for (name, offset, bytes) in dataVars {
        symbols.append(KernelELFSymbol(name: name, value: k.dataBase + offset, size: UInt64(bytes.count), type: .object, section: .data))
    }
    for name in addr.keys.sorted() {
        symbols.append(KernelELFSymbol(name: name, value: addr[name]!, size: sizes[name]!, type: .object, section: .bss))
    }
    symbols.append(KernelELFSymbol(name: "end", value: bss + k.bssSize, size: 0, type: .noType, section: .bss))
    var data = [UInt8](repeating: 0, count: k.dataSize)
    for (_, offset, bytes) in dataVars { data.replaceSubrange(Int(offset)..<Int(offset) + bytes.count, with: bytes) }
    var kernel = KernelELFDescription(symbols: symbols, textBase: k.textBase, text: text, dataBase: k.dataBase, data: data,
                                      bssBase: bss, bssSize: k.bssSize)
    kernel.machine = 243  // EM_RISCV
    var symbolValues: [String: UInt64] = [:]
    for s in symbols { symbolValues[s.name] = s.value }
    let truth = ThreadsTruth(processes: procTruth, threads: threadTruth, dumpTID: d.dumpTID, symbols: symbolValues,
                             stoppcbsIsPointer: false, listProblems: [])
    return RISCVThreadFixture(kernel: kernel, dump: dump, truth: truth)
}

/// `name` as a NUL-padded `char[MAXCOMLEN + 1]` (cut to 19 bytes).
private func riscvCName(_ name: String) -> [UInt8] {
    let bytes = Array(name.utf8.prefix(19))
    return bytes + [UInt8](repeating: 0, count: 20 - bytes.count)
}
