// Builds the i386 thread fixture: an EM_386 ELF32 kernel (functions with prologues and `call` sites,
// the exception stubs, the offset symbols, `setidt_disp`) and an i386 minidump holding allproc,
// processes, threads, 16 KiB kernel stacks of ebp frames with trapframes, dumppcb/dumptid, stoppcbs
// and stopped_cpus — with the backtraces a reader must find (ThreadsTruth: the trap truth's
// rip/rsp/rbp are eip/esp/ebp here). Return addresses into the exception code are the trampoline
// copy's, as a FreeBSD 12+ kernel's stacks hold them.

/// The built i386 thread fixture.
public struct I386ThreadFixture: Sendable {
    public var kernel: KernelELFDescription
    public var dump: I386DumpDescription
    public var truth: ThreadsTruth
}

/// A run of ebp frames on one stack: `chain` outermost first. The outermost function's frame lies at
/// `first` and saves `outerFP` and `outerReturn` (into a stub); each further frame lies 16 to 40 bytes
/// lower. `records[i]` is chain[i]'s frame address ([fp] the saved ebp, [fp + 4] the return address).
private struct EBPChain {
    var chain: [String]
    var outerReturn: UInt64
    var outerFP: UInt64
    var records: [UInt64] = []

    mutating func build(first: UInt64, _ image: inout VirtualImage, sites: inout [(caller: String, callee: String)]) {
        records = []
        var fp = first
        for (i, function) in chain.enumerated() {
            if i > 0 { fp -= 16 + 8 * (ThreadKernel.fnv(function) % 4) }
            let saved = i == 0 ? outerFP : records[i - 1]
            let ret: UInt64
            if i == 0 {
                ret = outerReturn
            } else {
                ret = I386ThreadKernel.returnAddress(caller: chain[i - 1], callee: function)
                sites.append((chain[i - 1], function))
            }
            image.u32(fp, UInt32(saved))
            image.u32(fp + 4, UInt32(ret))
            records.append(fp)
        }
    }

    /// The frames a reader finds from these records, innermost first (pc = return address, sp = fp + 8,
    /// fp = the saved ebp).
    func frames() -> [FrameTruth] {
        (0..<chain.count).reversed().map { i in
            let pc = i == 0 ? outerReturn : I386ThreadKernel.returnAddress(caller: chain[i - 1], callee: chain[i])
            return i386Frame(pc: pc, sp: records[i] + 8, fp: i == 0 ? outerFP : records[i - 1])
        }
    }
}

/// A frame whose function and offset come from the fixture's text layout (trampoline pcs through
/// `setidt_disp`).
private func i386Frame(pc: UInt64, sp: UInt64, fp: UInt64, trap: TrapTruth? = nil) -> FrameTruth {
    let k = I386ThreadKernel.self
    let linked = pc >= 0xffc0_0000 ? pc - k.setidtDisp : pc
    let f = k.layout.filter { $0.value.start <= linked }.max { $0.value.start < $1.value.start }!
    return FrameTruth(pc: pc, sp: sp, fp: fp, function: f.key, offset: linked - f.value.start, trap: trap)
}

/// The panic's message buffer text.
private let i386ThreadMessage = Array("""
    ---<<BOOT>>---
    Copyright (c) 1992-2024 The FreeBSD Project.
    FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC i386
    CPU: Intel(R) Core(TM) i5-4590 CPU @ 3.30GHz (3292.45-MHz 686-class CPU)
    FreeBSD/SMP: Multiprocessor System Detected: 4 CPUs


    Fatal trap 12: page fault while in kernel mode
    cpuid = 1; apic id = 01
    fault virtual address   = 0xdeadc0de
    fault code              = supervisor write, page not present
    current process         = 939 (sysctl)
    trap number             = 12
    panic: page fault
    cpuid = 1
    time = 1700000000
    Uptime: 1h2m3s
    Dumping 1 out of 7 MB:..100%

    """.utf8)

/// Builds the i386 thread fixture for `d`.
public func makeI386ThreadFixture(_ d: I386ThreadsDescription) throws(GeneratorError) -> I386ThreadFixture {
    let k = I386ThreadKernel.self
    let layout = d.layout
    guard d.cpuCount >= 1, d.cpuCount <= k.maxCPU else { throw .invalidDescription("cpuCount \(d.cpuCount) is not in 1...\(k.maxCPU)") }
    let allThreads = d.processes.reduce(0) { $0 + $1.threads.count }
    guard allThreads * layout.threadSize <= 0x8000, d.processes.count * layout.procSize <= 0x4000, allThreads <= 32 else {
        throw .invalidDescription("\(d.processes.count) processes and \(allThreads) threads do not fit the i386 fixture")
    }
    var image = VirtualImage()
    var sites: [(caller: String, callee: String)] = []
    var rng = SplitMix64(seed: d.seed ^ 0x6933_3836_7468_7264)
    func random32() -> UInt32 { UInt32(truncatingIfNeeded: rng.next()) }

    var mappings = [
        I386Mapping(virtualAddress: k.textBase, count: k.textSize / 4096, writable: false, executable: true),
        I386Mapping(virtualAddress: k.dataBase, count: k.dataSize / 4096),
        I386Mapping(virtualAddress: k.bssBase, count: Int(k.bssSize / 4096)),
        I386Mapping(virtualAddress: k.procBase, count: 4),
        I386Mapping(virtualAddress: k.threadBase, count: 8),
        I386Mapping(virtualAddress: k.heapBase, count: 1),
    ]
    image.write(k.heapBase, [UInt8](repeating: 0, count: 0x1000))

    // .data: version, osreldate, hz, setidt_disp, the offset symbols.
    let version = "FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC i386\n"
    var dataVars: [(String, UInt64, [UInt8])] = [
        ("version", 0, Array(version.utf8) + [0]), ("osreldate", 0x80, KernelFixture.le(UInt64(d.osreldate), 4)),
        ("hz", 0x84, KernelFixture.le(100, 4)), ("setidt_disp", 0x88, KernelFixture.le(k.setidtDisp, 4)),
    ]
    for (i, (name, value)) in layout.symbolValues.enumerated() {
        dataVars.append((name, 0x100 + UInt64(4 * i), KernelFixture.le(UInt64(UInt32(value)), 4)))
    }
    for (_, offset, bytes) in dataVars { image.write(k.dataBase + offset, bytes) }
    let bss = k.bssBase
    let pcbSize = UInt64(layout.pcbSize)
    let stoppcbsArray = bss + 0x1000
    var addr: [String: UInt64] = [
        "hostname": bss, "panicstr": bss + 0x100, "msgbufp": bss + 0x104, "allproc": bss + 0x108, "dumptid": bss + 0x10c,
        "mp_maxid": bss + 0x110, "mp_ncpus": bss + 0x114, "panic_cpu": bss + 0x118, "stopped_cpus": bss + 0x11c,
        "time_second": bss + 0x120, "time_uptime": bss + 0x124, "boottime": bss + 0x128, "panicbuf": bss + 0x200,
        "dumppcb": bss + 0x400,
    ]
    var sizes: [String: UInt64] = [
        "hostname": 256, "panicstr": 4, "msgbufp": 4, "allproc": 4, "dumptid": 4, "mp_maxid": 4, "mp_ncpus": 4,
        "panic_cpu": 4, "stopped_cpus": 4, "time_second": 4, "time_uptime": 4, "boottime": 8, "panicbuf": 256,
        "dumppcb": pcbSize,
    ]
    if d.stoppcbsPointer {
        addr["stoppcbs"] = bss + 0x500
        sizes["stoppcbs"] = 4
        image.u32(bss + 0x500, UInt32(stoppcbsArray))
    } else {
        addr["stoppcbs"] = stoppcbsArray
        sizes["stoppcbs"] = UInt64(k.maxCPU) * pcbSize
    }
    let msgbufVA: UInt64 = 0xff_e000
    image.write(addr["hostname"]!, Array("i386.kvmdump.test".utf8) + [0])
    image.write(addr["panicbuf"]!, Array("page fault".utf8) + [0])
    image.u32(addr["panicstr"]!, UInt32(addr["panicbuf"]!))
    image.u32(addr["msgbufp"]!, UInt32(msgbufVA + 0x2000 - UInt64(I386DumpDescription.msgbufStructSize)))
    image.u32(addr["dumptid"]!, UInt32(bitPattern: d.dumpTID))
    image.u32(addr["mp_maxid"]!, UInt32(d.cpuCount - 1))
    image.u32(addr["mp_ncpus"]!, UInt32(d.cpuCount))
    image.u32(addr["time_second"]!, UInt32(KernelFixture.timeSecond))
    image.u32(addr["time_uptime"]!, UInt32(KernelFixture.timeUptime))
    image.u32(addr["boottime"]!, UInt32(KernelFixture.timeSecond - KernelFixture.timeUptime))
    var stoppedWord: UInt32 = 0
    for cpu in d.stoppedCPUs {
        guard cpu >= 0, cpu < d.cpuCount else { throw .invalidDescription("stopped CPU \(cpu) is not below cpuCount") }
        stoppedWord |= 1 << UInt32(cpu)
    }
    image.u32(addr["stopped_cpus"]!, stoppedWord)

    /// A pcb: pcb_edi, pcb_esi, pcb_ebp, pcb_esp, pcb_ebx, pcb_eip, the rest 0.
    func pcbBytes(_ r: [String: UInt64]) -> [UInt8] {
        var pcb = [UInt8](repeating: 0, count: layout.pcbSize)
        for (name, at) in [("edi", 0), ("esi", 4), ("ebp", 8), ("esp", 12), ("ebx", 16), ("eip", 20)] {
            pcb.replaceSubrange(at..<at + 4, with: KernelFixture.le(r[name]!, 4))
        }
        return pcb
    }
    /// A trapframe at `tf`; from user mode it has tf_esp and tf_ss (72 bytes), else 64.
    func writeTrapframe(_ tf: UInt64, eip: UInt64, ebp: UInt64, esp: UInt64?, trapno: UInt32, eax: UInt32, err: UInt32) {
        var words = (0..<18).map { _ in random32() & 0xffff }
        words[0] = 0x8; words[1] = 0x28; words[2] = 0x28  // fs es ds (GPRIV, GDATA selectors)
        words[5] = UInt32(ebp); words[10] = eax; words[11] = trapno; words[12] = err; words[13] = UInt32(eip)
        words[14] = esp == nil ? 0x20 : 0x33  // cs: GCODE_SEL kernel, GUCODE_SEL | SEL_UPL
        words[15] = 0x0001_0282  // eflags: IF, SF, RF
        let count = esp == nil ? 16 : 18
        if let esp { words[16] = UInt32(esp); words[17] = 0x3b }
        image.write(tf, words.prefix(count).flatMap { KernelFixture.le(UInt64($0), 4) })
    }

    var procTruth: [ProcessTruth] = []
    var threadTruth: [ThreadTruth] = []
    var walkRecords: [Int32: [UInt64]] = [:]
    var stackBottoms: [Int32: UInt64] = [:]
    var crashedCPU: UInt32 = 0
    var threadIndex = 0
    let userEIP: UInt64 = 0x2843_1c57, userESP: UInt64 = 0xffbf_e84c, userEBP: UInt64 = 0xffbf_e878

    for (p, proc) in d.processes.enumerated() {
        let pa = k.procBase + UInt64(p * layout.procSize)
        var firstThread: UInt64 = 0
        var lastThread: UInt64 = 0
        for (t, thread) in proc.threads.enumerated() {
            let ta = k.threadBase + UInt64(threadIndex * layout.threadSize)
            let stackBottom = k.stackBase + UInt64(threadIndex) * k.stackStride + k.stackOffset
            let stackTop = stackBottom + k.stackSize
            mappings.append(I386Mapping(virtualAddress: stackBottom, count: Int(k.stackSize / 4096)))
            stackBottoms[thread.tid] = stackBottom
            // The pcb at the top of the kernel stack, td_frame right below it.
            let tdPCB = stackTop - pcbSize
            let tdFrame = tdPCB - 72
            let crashed = thread.tid == d.dumpTID
            var frames: [FrameTruth] = []
            var records: [UInt64] = []
            var pcbAddress = tdPCB
            var pcbSource = "td_pcb"
            var stop = "thread-start"
            let innermost: (eip: UInt64, ebp: UInt64)

            /// The outermost chain of a kernel thread (fork_trampoline pushes the trapframe pointer, ebx and
            /// esi, calls fork_exit; pcb_ebp was 0) or of a system call (Xint0x80_syscall pushes the
            /// trapframe pointer, calls syscall; ebp = the trapframe), and its first frame's address.
            func baseChain(_ calls: [String], syscall: UInt32?) -> (EBPChain, UInt64) {
                if let number = syscall {
                    writeTrapframe(tdFrame, eip: userEIP, ebp: userEBP, esp: userESP, trapno: 0, eax: number, err: 2)
                    sites.append(("Xint0x80_syscall", "syscall"))
                    return (EBPChain(chain: ["syscall"] + calls.reversed(), outerReturn: k.stubReturn("Xint0x80_syscall"),
                                     outerFP: tdFrame), tdFrame - 12)
                }
                sites.append(("fork_trampoline", "fork_exit"))
                return (EBPChain(chain: ["fork_exit"] + calls.reversed(), outerReturn: k.stubReturn("fork_trampoline"),
                                 outerFP: 0), tdFrame - 20)
            }
            /// The frames of `base`, the stub frame at the outermost carrying the user syscall's trap line.
            func baseFrames(_ base: EBPChain, syscall: UInt32?) -> [FrameTruth] {
                var out = base.frames()
                if let number = syscall {
                    let last = out.removeLast()
                    out.append(i386Frame(pc: last.pc, sp: last.sp, fp: last.fp, trap: TrapTruth(
                        kind: "syscall", number: UInt64(number), rip: userEIP, rsp: userESP, rbp: userEBP, user: true,
                        address: tdFrame)))
                }
                return out
            }

            switch thread.activity {
            case .sleepingInSyscall(let calls, let number):
                let (start, first) = baseChain(calls, syscall: number)
                var base = start
                base.chain += ["mi_switch", "sched_switch"]
                base.build(first: first, &image, sites: &sites)
                sites.append(("sched_switch", "cpu_switch"))
                innermost = (k.returnAddress(caller: "sched_switch", callee: "cpu_switch"), base.records.last!)
                frames = baseFrames(base, syscall: number)
                records = base.records.reversed()
                stop = "user-trapframe"
            case .sleepingKernelThread(let calls):
                let (start, first) = baseChain(calls, syscall: nil)
                var base = start
                base.chain += ["mi_switch", "sched_switch"]
                base.build(first: first, &image, sites: &sites)
                sites.append(("sched_switch", "cpu_switch"))
                innermost = (k.returnAddress(caller: "sched_switch", callee: "cpu_switch"), base.records.last!)
                frames = base.frames()
                records = base.records.reversed()
            case .neverRan:
                innermost = (k.trampoline(k.start("fork_trampoline")), 0)
            case .crashed:
                let (start, first) = baseChain(["sysctl_debug_crash", "sysctl_root_handler_locked", "sysctl_root",
                                                "userland_sysctl", "sys___sysctl"], syscall: 202)
                var outer = start
                outer.build(first: first, &image, sites: &sites)
                // The page fault in sysctl_debug_crash: a kernel-mode trapframe (no tf_esp/tf_ss) below its
                // locals; calltrap pushes its address and calls trap, whose frame saves ebp = the trapframe.
                let faultFP = outer.records.last!
                let faultESP = faultFP - 0x18
                let tf = faultESP - 64
                let eip = k.interruptedPC("sysctl_debug_crash", "fault")
                writeTrapframe(tf, eip: eip, ebp: faultFP, esp: nil, trapno: 12, eax: random32(), err: 2)
                sites.append(("calltrap", "trap"))
                var inner = EBPChain(chain: ["trap", "trap_pfault", "trap_fatal", "panic", "vpanic", "kern_reboot", "doadump"],
                                     outerReturn: k.stubReturn("calltrap"), outerFP: tf)
                inner.build(first: tf - 12, &image, sites: &sites)
                sites.append(("doadump", "savectx"))
                innermost = (k.returnAddress(caller: "doadump", callee: "savectx"), inner.records.last!)
                var innerFrames = inner.frames()
                let v = innerFrames.removeLast()
                innerFrames.append(i386Frame(pc: v.pc, sp: v.sp, fp: v.fp, trap: TrapTruth(
                    kind: "trap", number: 12, rip: eip, rsp: faultESP, rbp: faultFP, user: false, address: tf)))
                frames = innerFrames + [i386Frame(pc: eip, sp: faultESP, fp: faultFP)] + baseFrames(outer, syscall: 202)
                records = inner.records.reversed() + outer.records.reversed()
                pcbSource = "dumppcb"
                pcbAddress = addr["dumppcb"]!
                stop = "user-trapframe"
                crashedCPU = UInt32(thread.onCPU ?? 0)
            case .stoppedByIPI(let interrupted, let syscall):
                guard let cpu = thread.onCPU, d.stoppedCPUs.contains(cpu) else {
                    throw .invalidDescription("thread \(thread.tid) is stopped by IPI but its CPU is not in stoppedCPUs")
                }
                let (start, first) = baseChain(interrupted, syscall: syscall)
                var outer = start
                outer.build(first: first, &image, sites: &sites)
                // Xcpustop: PUSH_FRAME (ebp = the trapframe), no argument, `call *%eax` to cpustop_handler.
                let irqFP = outer.records.last!
                let irqESP = irqFP - 0x18
                let tf = irqESP - 64
                let eip = k.interruptedPC(interrupted[0], "ipi")
                writeTrapframe(tf, eip: eip, ebp: irqFP, esp: nil, trapno: 0, eax: random32(), err: 0)
                sites.append(("Xcpustop", "cpustop_handler"))
                var inner = EBPChain(chain: ["cpustop_handler"], outerReturn: k.stubReturn("Xcpustop"), outerFP: tf)
                inner.build(first: tf - 8, &image, sites: &sites)
                sites.append(("cpustop_handler", "savectx"))
                innermost = (k.returnAddress(caller: "cpustop_handler", callee: "savectx"), inner.records.last!)
                var innerFrames = inner.frames()
                let v = innerFrames.removeLast()
                innerFrames.append(i386Frame(pc: v.pc, sp: v.sp, fp: v.fp, trap: TrapTruth(
                    kind: "interrupt", number: 0, rip: eip, rsp: irqESP, rbp: irqFP, user: false, address: tf)))
                frames = innerFrames + [i386Frame(pc: eip, sp: irqESP, fp: irqFP)] + baseFrames(outer, syscall: syscall)
                records = inner.records.reversed() + outer.records.reversed()
                pcbSource = "stoppcbs[\(cpu)]"
                pcbAddress = stoppcbsArray + UInt64(cpu) * pcbSize
                stop = syscall == nil ? "thread-start" : "user-trapframe"
            }
            if let cpu = thread.onCPU, d.stoppedCPUs.contains(cpu), !crashed {
                guard case .stoppedByIPI = thread.activity else {
                    throw .invalidDescription("thread \(thread.tid) is on stopped CPU \(cpu) but not .stoppedByIPI")
                }
            }
            let pcbESP = innermost.ebp == 0 ? tdFrame - 4 : innermost.ebp - 0x14
            let registers: [String: UInt64] = [
                "eip": innermost.eip, "esp": pcbESP, "ebp": innermost.ebp, "ebx": UInt64(random32()),
                "esi": UInt64(random32()), "edi": UInt64(random32()),
            ]
            image.write(pcbAddress, pcbBytes(registers))
            frames.insert(i386Frame(pc: innermost.eip, sp: pcbESP, fp: innermost.ebp), at: 0)

            // struct thread.
            let next = t + 1 < proc.threads.count ? k.threadBase + UInt64((threadIndex + 1) * layout.threadSize) : 0
            image.u32(ta + 4, UInt32(pa))
            image.u32(ta + UInt64(layout.threadPList), UInt32(next))
            image.u32(ta + UInt64(layout.threadPList) + 4,
                      UInt32(t == 0 ? pa + UInt64(layout.procThreads) : ta - UInt64(layout.threadSize) + UInt64(layout.threadPList)))
            image.u32(ta + UInt64(layout.threadTID), UInt32(bitPattern: thread.tid))
            image.write(ta + UInt64(layout.threadName), i386CName(thread.name))
            image.u32(ta + UInt64(layout.threadOnCPU), UInt32(bitPattern: Int32(thread.onCPU ?? -1)))
            let state: (UInt32, String)
            switch thread.activity {
            case .crashed, .stoppedByIPI: state = (4, "RUNNING")
            case .neverRan: state = (2, "CAN_RUN")
            case .sleepingInSyscall, .sleepingKernelThread: state = thread.onCPU == nil ? (1, "INHIBITED") : (4, "RUNNING")
            }
            image.u32(ta + UInt64(layout.threadState), state.0)
            image.u32(ta + UInt64(layout.threadPCB), UInt32(tdPCB))
            image.u32(ta + UInt64(layout.threadMDPCB), UInt32(tdFrame))

            var name = "(pid \(proc.pid)) \(proc.comm)"
            if !thread.name.isEmpty && thread.name != proc.comm { name += "/\(thread.name)" }
            if crashed { name += " (crashed)" } else if let cpu = thread.onCPU { name += " (on CPU \(cpu))" }
            threadTruth.append(ThreadTruth(
                tid: thread.tid, pid: proc.pid, comm: proc.comm, name: thread.name, cpu: thread.onCPU, state: state.1,
                crashed: crashed, pcbSource: pcbSource, pcb: pcbAddress, address: ta, registers: registers, frames: frames,
                stop: stop, displayName: name))
            walkRecords[thread.tid] = records
            if t == 0 { firstThread = ta }
            lastThread = ta
            threadIndex += 1
        }
        image.u32(pa + UInt64(layout.procList), UInt32(p + 1 < d.processes.count ? pa + UInt64(layout.procSize) : 0))
        image.u32(pa + UInt64(layout.procList) + 4, UInt32(p == 0 ? addr["allproc"]! : pa - UInt64(layout.procSize)))
        image.u32(pa + UInt64(layout.procThreads), UInt32(firstThread))
        image.u32(pa + UInt64(layout.procThreads) + 4,
                  UInt32(lastThread == 0 ? pa + UInt64(layout.procThreads) : lastThread + UInt64(layout.threadPList)))
        image.u32(pa + UInt64(layout.procFlag), proc.flags)
        image.u32(pa + UInt64(layout.procPID), UInt32(bitPattern: proc.pid))
        image.write(pa + UInt64(layout.procComm), i386CName(proc.comm))
        procTruth.append(ProcessTruth(pid: proc.pid, comm: proc.comm, flags: proc.flags, address: pa, threadCount: proc.threads.count))
    }
    image.u32(addr["allproc"]!, UInt32(d.processes.isEmpty ? 0 : k.procBase))
    image.u32(addr["panic_cpu"]!, crashedCPU)

    // Corruptions: change memory and the expected backtrace.
    func mutate(_ tid: Int32, _ body: (inout ThreadTruth) throws(GeneratorError) -> Void) throws(GeneratorError) {
        guard let i = threadTruth.firstIndex(where: { $0.tid == tid }) else { throw .invalidDescription("no thread \(tid) to corrupt") }
        try body(&threadTruth[i])
    }
    /// Frame `frame` of `tid` saves `fp`: the walk reads frames 1...`frame` as before, the last with that
    /// ebp, then stops with `stop`.
    func redirect(_ tid: Int32, _ frame: Int, to fp: (UInt64) -> UInt64, stop: String) throws(GeneratorError) {
        guard let records = walkRecords[tid], frame >= 1, frame <= records.count else {
            throw .invalidDescription("thread \(tid) has no frame \(frame)")
        }
        let record = records[frame - 1]
        try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
            guard t.frames[frame].fp == UInt64(image.readU32(record)), t.frames[frame].trap == nil else {
                throw .invalidDescription("thread \(tid) frame \(frame) is not a plain frame")
            }
            let target = fp(record)
            image.u32(record, UInt32(target))
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
                image.u32(t.address + UInt64(layout.threadPCB), UInt32(k.unmapped))
                t.pcb = k.unmapped
                t.registers = [:]
                t.frames = []
                t.stop = "unreadable"
            }
        }
    }

    // The kernel ELF32 and the dump.
    let text = k.textBytes(callSites: sites)
    image.write(k.textBase, text)
    let dump = I386DumpDescription(
        version: 2, pae: d.pae, seed: d.seed, physicalRanges: [0x1000..<0x9f000, 0x10_0000..<0x70_0000], kernbase: k.kernbase,
        mapPages: d.pae ? 4 : 2, mappings: mappings, messageBufferReservation: 0x2000, messageText: i386ThreadMessage,
        messageBufferVirtualAddress: msgbufVA, overlays: image.overlays())
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
    kernel.machine = elfMachine386
    var symbolValues: [String: UInt64] = [:]
    for s in symbols { symbolValues[s.name] = s.value }
    let truth = ThreadsTruth(processes: procTruth, threads: threadTruth, dumpTID: d.dumpTID, symbols: symbolValues,
                             stoppcbsIsPointer: d.stoppcbsPointer, listProblems: [])
    return I386ThreadFixture(kernel: kernel, dump: dump, truth: truth)
}

/// `name` as a NUL-padded `char[MAXCOMLEN + 1]` (cut to 19 bytes).
private func i386CName(_ name: String) -> [UInt8] {
    let bytes = Array(name.utf8.prefix(19))
    return bytes + [UInt8](repeating: 0, count: 20 - bytes.count)
}
