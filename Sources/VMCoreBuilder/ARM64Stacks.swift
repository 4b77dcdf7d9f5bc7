// Builds the arm64 thread fixture: an EM_AARCH64 kernel ELF (functions with prologues and `bl` call
// sites, the offset symbols) and an arm64 minidump holding allproc, processes, threads, 16 KiB kernel
// stacks of AAPCS64 frame records with exception-vector trapframes, dumppcb/dumptid, stoppcbs and
// stopped_cpus — with the backtraces a reader must find (ThreadsTruth, shared with amd64: the trap
// truth's rip/rsp/rbp are pc/sp/fp here).

/// The built arm64 thread fixture.
public struct ARM64ThreadFixture: Sendable {
    public var kernel: KernelELFDescription
    public var dump: ARM64DumpDescription
    public var truth: ThreadsTruth
}

/// A run of frame records on one stack: `chain` outermost first, the outermost saving `outerFP` and
/// `outerReturn` (into a vector or fork_trampoline). `records[i]` is chain[i]'s record address.
private struct RecordChain {
    var chain: [String]
    var outerReturn: UInt64
    var outerFP: UInt64
    var records: [UInt64] = []

    /// Pushes the records below `sp` (each frame 16 to 64 bytes), writing [fp] and [fp + 8].
    mutating func build(_ sp: inout UInt64, _ image: inout VirtualImage, sites: inout [(caller: String, callee: String)],
                        sign: (UInt64) -> UInt64) {
        records = []
        for (i, function) in chain.enumerated() {
            sp -= 16 + 16 * (ThreadKernel.fnv(function) % 4)
            let savedFP = i == 0 ? outerFP : records[i - 1]
            let ret: UInt64
            if i == 0 {
                ret = outerReturn
            } else {
                ret = ARM64ThreadKernel.returnAddress(caller: chain[i - 1], callee: function)
                sites.append((chain[i - 1], function))
            }
            image.u64(sp, savedFP)
            image.u64(sp + 8, sign(ret))
            records.append(sp)
        }
    }

    /// The frames a reader finds from these records, innermost first (pc = return address, sp = fp + 16,
    /// fp = the saved fp).
    func frames() -> [FrameTruth] {
        (0..<chain.count).reversed().map { i in
            let pc = i == 0 ? outerReturn : ARM64ThreadKernel.returnAddress(caller: chain[i - 1], callee: chain[i])
            return arm64Frame(pc: pc, sp: records[i] + 16, fp: i == 0 ? outerFP : records[i - 1])
        }
    }
}

/// A frame whose function and offset come from the fixture's text layout.
private func arm64Frame(pc: UInt64, sp: UInt64, fp: UInt64, trap: TrapTruth? = nil) -> FrameTruth {
    let f = ARM64ThreadKernel.layout.filter { $0.value.start <= pc }.max { $0.value.start < $1.value.start }!
    return FrameTruth(pc: pc, sp: sp, fp: fp, function: f.key, offset: pc - f.value.start, trap: trap)
}

/// Builds the arm64 thread fixture for `d`.
public func makeARM64ThreadFixture(_ d: ARM64ThreadsDescription) throws(GeneratorError) -> ARM64ThreadFixture {
    let k = ARM64ThreadKernel.self
    let layout = d.layout
    guard d.cpuCount >= 1, d.cpuCount <= k.maxCPU else { throw .invalidDescription("cpuCount \(d.cpuCount) is not in 1...\(k.maxCPU)") }
    let allThreads = d.processes.reduce(0) { $0 + $1.threads.count }
    guard allThreads * layout.threadSize <= 0x8000, d.processes.count * layout.procSize <= 0x8000, allThreads <= 160 else {
        throw .invalidDescription("\(d.processes.count) processes and \(allThreads) threads do not fit the arm64 fixture")
    }
    let form = d.trapframeForm
    let newPCB = d.osreldate >= 1_400_084
    var image = VirtualImage()
    var sites: [(caller: String, callee: String)] = []
    var rng = SplitMix64(seed: d.seed ^ 0x6172_6d36_3474_6872)
    func sign(_ ret: UInt64) -> UInt64 {
        guard d.signedReturnAddresses else { return ret }
        return ret & ~(UInt64(1 + ThreadKernel.fnv(String(ret)) % 0x7f) << 48)
    }

    // The base dump: RAM as in the other arm64 fixtures, the message buffer at the top of the second range.
    var dump = ARM64DumpDescription(version: 3, granule: d.granule, seed: d.seed, physicalRanges: ARM64Fixture.physicalRanges,
                                    l2Regions: 4)
    dump.messageBuffer = .panicDmesg(seed: d.seed, physicalMemory: 12 << 20, reservedSize: 32 * 1024)
    let msgbufPA = ARM64Fixture.physicalRanges[1].upperBound - 32 * 1024
    dump.messageBuffer.physicalAddress = msgbufPA
    let msgbufp = dump.dmapBase + (msgbufPA - ARM64Fixture.physicalRanges[0].lowerBound) + UInt64(dump.messageBuffer.ringSize)
    let page = d.granule.rawValue
    func pages(_ bytes: UInt64) -> Int { Int((bytes + page - 1) / page) }
    dump.mappings = [
        ARM64Mapping(virtualAddress: k.textBase, count: pages(UInt64(k.textSize)), writable: false, executable: true),
        ARM64Mapping(virtualAddress: k.dataBase, count: pages(UInt64(k.dataSize))),
        ARM64Mapping(virtualAddress: k.bssBase, count: pages(k.bssSize)),
        ARM64Mapping(virtualAddress: k.procBase, count: pages(0x8000)),
        ARM64Mapping(virtualAddress: k.threadBase, count: pages(0x8000)),
        ARM64Mapping(virtualAddress: k.heapBase, count: pages(0x4000)),
    ]
    image.write(k.heapBase, [UInt8](repeating: 0, count: 0x1000))

    // .data: version, osreldate, hz, the offset symbols.
    let versionBytes = Array(ARM64Fixture.version.utf8) + [0]
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
    try image.writeKernelGlobals(addr, hostname: ARM64Fixture.hostname, panicString: ARM64Fixture.panicString, msgbufp: msgbufp,
                                 dumpTID: d.dumpTID, cpuCount: d.cpuCount, stoppedCPUs: d.stoppedCPUs)

    /// A pcb: FreeBSD 14's (x19–x28, fp, lr, sp) or 13's (x0–x29, lr, reserved, sp); x0–x18 are 0.
    func pcbBytes(lr: UInt64, sp: UInt64, fp: UInt64, x19: [UInt64]) -> [UInt8] {
        var pcb = [UInt8](repeating: 0, count: layout.pcbSize)
        let (x19At, fpAt, lrAt, spAt) = newPCB ? (0x00, 0x50, 0x58, 0x60) : (0x98, 0xe8, 0xf0, 0x100)
        func put(_ at: Int, _ v: UInt64) { pcb.replaceSubrange(at..<at + 8, with: KernelFixture.le(v, 8)) }
        for (i, v) in x19.enumerated() { put(x19At + 8 * i, v) }
        put(fpAt, fp); put(lrAt, lr); put(spAt, sp)
        return pcb
    }
    func registers(lr: UInt64, sp: UInt64, fp: UInt64, x19: [UInt64]) -> [String: UInt64] {
        var r: [String: UInt64] = ["pc": lr, "sp": sp, "fp": fp, "lr": lr]
        for (i, v) in x19.enumerated() { r["x\(19 + i)"] = v }
        return r
    }

    /// A trapframe (form `form`) at `tf`: x29 at tf_x[29], the other x registers random.
    func writeTrapframe(_ tf: UInt64, sp: UInt64, lr: UInt64, elr: UInt64, spsr: UInt32, esr: UInt32, far: UInt64, x29: UInt64) {
        var bytes = [UInt8](repeating: 0, count: Int(form.size))
        func put(_ at: UInt64, _ v: UInt64, _ n: Int = 8) { bytes.replaceSubrange(Int(at)..<Int(at) + n, with: KernelFixture.le(v, n)) }
        put(0, sp); put(8, lr); put(16, elr)
        if form == .narrow {
            put(24, UInt64(spsr), 4); put(28, UInt64(esr), 4)
        } else {
            put(24, UInt64(spsr)); put(32, UInt64(esr)); put(40, far)
        }
        for i in 0..<29 { put(form.x + 8 * UInt64(i), rng.next() & 0xffff_ffff) }
        put(form.x + 29 * 8, x29)
        image.write(tf, bytes)
    }

    var procTruth: [ProcessTruth] = []
    var threadTruth: [ThreadTruth] = []
    var threadAddresses: [UInt64] = []
    /// Per thread: its frame-record addresses in walk order (the record at the pcb's fp first).
    var walkRecords: [Int32: [UInt64]] = [:]
    var stackBottoms: [Int32: UInt64] = [:]
    var crashedCPU: UInt32 = 0
    var threadIndex = 0
    let userESR: UInt32 = 0x5600_0000  // EC 0x15 (SVC64), IL
    let abortESR: UInt32 = 0x9600_0045  // EC 0x25 (data abort, same EL), IL, WnR, level-1 translation fault

    for (p, proc) in d.processes.enumerated() {
        let pa = k.procBase + UInt64(p * layout.procSize)
        var firstThread: UInt64 = 0
        var lastThread: UInt64 = 0
        for (t, thread) in proc.threads.enumerated() {
            let ta = k.threadBase + UInt64(threadIndex * layout.threadSize)
            let slot = k.stackBase + UInt64(threadIndex) * k.stackStride
            let stackBottom = slot + k.stackOffset
            let stackTop = stackBottom + k.stackSize
            dump.mappings.append(ARM64Mapping(virtualAddress: stackBottom, count: pages(k.stackSize)))
            stackBottoms[thread.tid] = stackBottom
            // td_pcb at the top of the kernel stack; td_frame right below it.
            let tdPCB = stackTop - pcbSize
            let tdFrame = (tdPCB & ~15) - 16 - form.size
            let x19 = (0..<10).map { _ in rng.next() }
            let crashed = thread.tid == d.dumpTID
            var sp = tdFrame
            var frames: [FrameTruth] = []
            var records: [UInt64] = []
            var pcbAddress = tdPCB
            var pcbSource = "td_pcb"
            var stop = "thread-start"
            var innermost: (lr: UInt64, fp: UInt64)

            /// The user-mode entry at the top of the stack: a trapframe from EL0 (SVC64) and handle_el0_sync's
            /// record above it; returns that record's address.
            func userEntry() -> UInt64 {
                let record = tdFrame + form.size
                let userFP: UInt64 = 0x0000_7fff_ffff_e6a0, userLR: UInt64 = 0x0000_0000_4023_1c84
                writeTrapframe(tdFrame, sp: 0x0000_7fff_ffff_e680, lr: userLR, elr: 0x0000_0000_4031_0a58, spsr: 0,
                               esr: userESR, far: 0, x29: userFP)
                image.u64(record, userFP)
                image.u64(record + 8, userLR)
                return record
            }
            func userTrap(_ record: UInt64) -> TrapTruth {
                TrapTruth(kind: "exception", number: UInt64(userESR), rip: 0x0000_0000_4031_0a58, rsp: 0x0000_7fff_ffff_e680,
                          rbp: 0x0000_7fff_ffff_e6a0, user: true, address: record - form.size)
            }
            /// The outermost chain of a kernel thread (from fork_trampoline) or of a system call.
            func baseChain(_ calls: [String], syscall: Bool) -> RecordChain {
                if syscall {
                    let record = userEntry()
                    sites.append(("handle_el0_sync", "do_el0_sync"))
                    return RecordChain(chain: ["do_el0_sync", "svc_handler"] + calls.reversed(),
                                       outerReturn: k.returnAddress(caller: "handle_el0_sync", callee: "do_el0_sync"), outerFP: record)
                }
                sites.append(("fork_trampoline", "fork_exit"))
                return RecordChain(chain: ["fork_exit"] + calls.reversed(),
                                   outerReturn: k.returnAddress(caller: "fork_trampoline", callee: "fork_exit"), outerFP: 0)
            }
            /// The frames of `base` read from its records, the vector frame at the outermost carrying `trap`.
            func baseFrames(_ base: RecordChain, syscall: Bool) -> [FrameTruth] {
                var out = base.frames()
                if syscall {
                    let last = out.removeLast()
                    out.append(arm64Frame(pc: last.pc, sp: last.sp, fp: last.fp, trap: userTrap(base.outerFP)))
                }
                return out
            }

            switch thread.activity {
            case .sleepingInSyscall(let calls), .sleepingKernelThread(let calls):
                let syscall: Bool
                if case .sleepingInSyscall = thread.activity { syscall = true } else { syscall = false }
                var base = baseChain(calls, syscall: syscall)
                base.chain += ["mi_switch", "sched_switch"]
                base.build(&sp, &image, sites: &sites, sign: sign)
                sites.append(("sched_switch", "cpu_switch"))
                innermost = (k.returnAddress(caller: "sched_switch", callee: "cpu_switch"), base.records.last!)
                frames = baseFrames(base, syscall: syscall)
                records = base.records.reversed()
                stop = syscall ? "user-trapframe" : "thread-start"
            case .neverRan:
                innermost = (k.start("fork_trampoline"), 0)
                stop = "thread-start"
            case .crashed:
                let base = baseChain(["sysctl_debug_crash", "sysctl_root_handler_locked", "sysctl_root", "userland_sysctl",
                                      "sys___sysctl"], syscall: true)
                var outer = base
                outer.build(&sp, &image, sites: &sites, sign: sign)
                // The data abort in sysctl_debug_crash: save_registers 1 (x18 = sp; sp -= 128; sp -= TF_SIZE + 16).
                sp -= 0x20  // the faulting function's locals
                let faultSP = sp
                let elr = k.interruptedPC("sysctl_debug_crash", "abort")
                let faultFP = outer.records.last!
                sp -= 128 + form.size + 16
                let tf = sp
                let vectorRecord = tf + form.size
                writeTrapframe(tf, sp: faultSP, lr: elr + 0x10, elr: elr, spsr: 0x3c5, esr: abortESR, far: 0xdead_c0de, x29: faultFP)
                image.u64(vectorRecord, faultFP)
                image.u64(vectorRecord + 8, elr + 0x10)
                sites.append(("handle_el1h_sync", "do_el1h_sync"))
                var inner = RecordChain(chain: ["do_el1h_sync", "data_abort", "panic", "vpanic", "kern_reboot", "doadump"],
                                        outerReturn: k.returnAddress(caller: "handle_el1h_sync", callee: "do_el1h_sync"),
                                        outerFP: vectorRecord)
                inner.build(&sp, &image, sites: &sites, sign: sign)
                sites.append(("doadump", "savectx"))
                innermost = (k.returnAddress(caller: "doadump", callee: "savectx"), inner.records.last!)
                var innerFrames = inner.frames()
                let v = innerFrames.removeLast()
                innerFrames.append(arm64Frame(pc: v.pc, sp: v.sp, fp: v.fp, trap: TrapTruth(
                    kind: "exception", number: UInt64(abortESR), rip: elr, rsp: faultSP, rbp: faultFP, user: false, address: tf)))
                frames = innerFrames + [arm64Frame(pc: elr, sp: faultSP, fp: faultFP)] + baseFrames(outer, syscall: true)
                records = inner.records.reversed() + outer.records.reversed()
                pcbSource = "dumppcb"
                pcbAddress = addr["dumppcb"]!
                stop = "user-trapframe"
                crashedCPU = UInt32(thread.onCPU ?? 0)
            case .stoppedByIPI(let interrupted, let syscall):
                guard let cpu = thread.onCPU, d.stoppedCPUs.contains(cpu) else {
                    throw .invalidDescription("thread \(thread.tid) is stopped by IPI but its CPU is not in stoppedCPUs")
                }
                var outer = baseChain(interrupted, syscall: syscall)
                outer.build(&sp, &image, sites: &sites, sign: sign)
                sp -= 0x20  // the interrupted function's locals
                let irqSP = sp
                let elr = k.interruptedPC(interrupted[0], "irq")
                let irqFP = outer.records.last!
                sp -= 128 + form.size + 16
                let tf = sp
                let vectorRecord = tf + form.size
                writeTrapframe(tf, sp: irqSP, lr: elr + 0x20, elr: elr, spsr: 0x5, esr: 0, far: 0, x29: irqFP)
                image.u64(vectorRecord, irqFP)
                image.u64(vectorRecord + 8, elr + 0x20)
                sites.append(("handle_el1h_irq", "intr_irq_handler"))
                var inner = RecordChain(chain: ["intr_irq_handler", "intr_ipi_dispatch", "ipi_handler", "ipi_stop"],
                                        outerReturn: k.returnAddress(caller: "handle_el1h_irq", callee: "intr_irq_handler"),
                                        outerFP: vectorRecord)
                inner.build(&sp, &image, sites: &sites, sign: sign)
                sites.append(("ipi_stop", "savectx"))
                innermost = (k.returnAddress(caller: "ipi_stop", callee: "savectx"), inner.records.last!)
                var innerFrames = inner.frames()
                let v = innerFrames.removeLast()
                innerFrames.append(arm64Frame(pc: v.pc, sp: v.sp, fp: v.fp, trap: TrapTruth(
                    kind: "interrupt", number: 0, rip: elr, rsp: irqSP, rbp: irqFP, user: false, address: tf)))
                frames = innerFrames + [arm64Frame(pc: elr, sp: irqSP, fp: irqFP)] + baseFrames(outer, syscall: syscall)
                records = inner.records.reversed() + outer.records.reversed()
                pcbSource = "stoppcbs[\(cpu)]"
                pcbAddress = addr["stoppcbs"]! + UInt64(cpu) * pcbSize
                stop = syscall ? "user-trapframe" : "thread-start"
            }
            if let cpu = thread.onCPU, d.stoppedCPUs.contains(cpu), !crashed {
                guard case .stoppedByIPI = thread.activity else {
                    throw .invalidDescription("thread \(thread.tid) is on stopped CPU \(cpu) but not .stoppedByIPI")
                }
            }
            let pcbSP = innermost.fp == 0 ? tdFrame : innermost.fp - 0x30
            image.write(pcbAddress, pcbBytes(lr: innermost.lr, sp: pcbSP, fp: innermost.fp, x19: x19))
            frames.insert(arm64Frame(pc: innermost.lr, sp: pcbSP, fp: innermost.fp), at: 0)
            if case .neverRan = thread.activity {} else if innermost.fp == 0 {
                throw .invalidDescription("thread \(thread.tid) has no frames")
            }

            // struct thread.
            let next = t + 1 < proc.threads.count ? k.threadBase + UInt64((threadIndex + 1) * layout.threadSize) : 0
            image.u64(ta + 8, pa)
            image.u64(ta + UInt64(layout.threadPList), next)
            image.u64(ta + UInt64(layout.threadPList) + 8,
                      t == 0 ? pa + UInt64(layout.procThreads) : ta - UInt64(layout.threadSize) + UInt64(layout.threadPList))
            image.u32(ta + UInt64(layout.threadTID), UInt32(bitPattern: thread.tid))
            image.write(ta + UInt64(layout.threadName), arm64CName(thread.name))
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
                crashed: crashed, pcbSource: pcbSource, pcb: pcbAddress, address: ta,
                registers: registers(lr: innermost.lr, sp: pcbSP, fp: innermost.fp, x19: x19), frames: frames, stop: stop,
                displayName: name))
            threadAddresses.append(ta)
            walkRecords[thread.tid] = records
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
        image.write(pa + UInt64(layout.procComm), arm64CName(proc.comm))
        procTruth.append(ProcessTruth(pid: proc.pid, comm: proc.comm, flags: proc.flags, address: pa, threadCount: proc.threads.count))
    }
    image.u64(addr["allproc"]!, d.processes.isEmpty ? 0 : k.procBase)
    image.u32(addr["panic_cpu"]!, crashedCPU)

    // Corruptions: change memory and the expected backtrace.
    func mutate(_ tid: Int32, _ body: (inout ThreadTruth) throws(GeneratorError) -> Void) throws(GeneratorError) {
        guard let i = threadTruth.firstIndex(where: { $0.tid == tid }) else { throw .invalidDescription("no thread \(tid) to corrupt") }
        try body(&threadTruth[i])
    }
    /// Frame record `frame` of `tid` saves `fp`: the walk reads frames 1...`frame` as before, the last with
    /// that fp, then stops with `stop`.
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
        case .frameLoop(let tid, let frame): try redirect(tid, frame, to: { $0 }, stop: "loop")
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

    // The kernel ELF and the dump's overlays.
    let text = k.textBytes(callSites: sites, trapframeSize: form.size)
    image.write(k.textBase, text)
    dump.overlays = image.overlays()
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
    // .data in the image: the boot-time values (the offsets and osreldate are constants; version too).
    var data = [UInt8](repeating: 0, count: k.dataSize)
    for (_, offset, bytes) in dataVars { data.replaceSubrange(Int(offset)..<Int(offset) + bytes.count, with: bytes) }
    var kernel = KernelELFDescription(symbols: symbols, textBase: k.textBase, text: text, dataBase: k.dataBase, data: data,
                                      bssBase: bss, bssSize: k.bssSize)
    kernel.machine = 183
    var symbolValues: [String: UInt64] = [:]
    for s in symbols { symbolValues[s.name] = s.value }
    let truth = ThreadsTruth(processes: procTruth, threads: threadTruth, dumpTID: d.dumpTID, symbols: symbolValues,
                             stoppcbsIsPointer: false, listProblems: [])
    return ARM64ThreadFixture(kernel: kernel, dump: dump, truth: truth)
}

/// `name` as a NUL-padded `char[MAXCOMLEN + 1]` (cut to 19 bytes).
private func arm64CName(_ name: String) -> [UInt8] {
    let bytes = Array(name.utf8.prefix(19))
    return bytes + [UInt8](repeating: 0, count: 20 - bytes.count)
}
