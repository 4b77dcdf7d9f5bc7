// Builds the thread fixture: a kernel ELF with real function prologues and call sites, and a dump
// holding allproc, processes, threads, 16 KiB kernel stacks with frame chains and trapframes,
// dumppcb/dumptid, stoppcbs (array or pointer form), stopped_cpus and per-CPU NMI stacks.

/// Addresses and the kernel text of the thread fixture (kernel map K = 0xfffffe0000000000).
public enum ThreadKernel {
    public static let kernbase: UInt64 = 0xffff_fe00_0000_0000
    /// `.text`: 40 KiB.
    public static let textBase = kernbase + 0x1000_0000
    public static let textSize = 0xa000
    /// `.data`: one page (version, osreldate, the offset symbols).
    public static let dataBase = kernbase + 0x1001_0000
    /// `.bss`: 8 pages (dumppcb, stoppcbs, stopped_cpus, the panic message, …).
    public static let bssBase = kernbase + 0x1002_0000
    public static let bssSize: UInt64 = 0x8000
    /// Per-CPU NMI stacks: one mapped page every 8 KiB.
    public static let nmiStackBase = kernbase + 0x1003_0000
    /// Where the pointer form of `stoppcbs` points.
    public static let stoppcbsHeap = kernbase + 0x1008_0000
    /// `struct proc`s, then `struct thread`s, then kernel stacks (each 4 pages above an unmapped guard page).
    public static let procBase = kernbase + 0x1100_0000
    public static let threadBase = kernbase + 0x1200_0000
    public static let stackBase = kernbase + 0x1400_0000
    /// Stack slot stride: guard page + 16 KiB.
    public static let stackStride: UInt64 = 0x5000
    /// KSTACK_PAGES.
    public static let stackPages = 4
    /// MAXCPU of the fixture kernel (cpuset_t is one long).
    public static let maxCPU = 64
    /// The panic message (`panicstr` points at it).
    public static let panicString = "page fault"
    /// The `__FreeBSD_version` from which stoppcbs is a pointer (LLVM PR #222977).
    public static let stoppcbsPointerSince: UInt32 = 1_400_089

    /// The kernel's code: (name, size, is an assembler label without a prologue). Laid out in order from
    /// `textBase`, each at a 16-byte boundary.
    static let functions: [(String, Int, Bool)] = [
        ("btext", 0x40, true), ("kdb_backtrace", 0x60, false), ("vpanic", 0x200, false), ("panic", 0x60, false),
        ("doadump", 0x80, false), ("kern_reboot", 0x300, false), ("trap_fatal", 0x400, false),
        ("trap_pfault", 0x300, false), ("trap", 0x500, false), ("calltrap", 0x20, true),
        ("nmi_calltrap", 0x20, true), ("Xtimerint", 0x80, true), ("Xfast_syscall", 0x40, true),
        ("fast_syscall_common", 0x180, true), ("fork_trampoline", 0x20, true), ("savectx", 0x100, false),
        ("cpu_switch", 0x200, false), ("cpustop_handler", 0x100, false), ("ipi_nmi_handler", 0x80, false),
        ("sched_switch", 0x400, false), ("mi_switch", 0x200, false), ("sleepq_switch", 0x200, false),
        ("sleepq_wait", 0x80, false), ("sleepq_catch_signals", 0x300, false), ("sleepq_wait_sig", 0x80, false),
        ("sleepq_timedwait", 0x100, false), ("_sleep", 0x300, false), ("_cv_wait", 0x200, false),
        ("_cv_wait_sig", 0x200, false), ("_cv_timedwait_sbt", 0x200, false), ("seltdwait", 0x100, false),
        ("kern_select", 0x600, false), ("sys_select", 0x80, false), ("kern_poll", 0x400, false),
        ("sys_poll", 0x80, false), ("kern_nanosleep", 0x200, false), ("sys_nanosleep", 0x80, false),
        ("kern_wait6", 0x300, false), ("sys_wait4", 0x80, false), ("pipe_read", 0x400, false),
        ("dofileread", 0x100, false), ("kern_readv", 0x80, false), ("sys_read", 0x80, false),
        ("amd64_syscall", 0x300, false), ("fork_exit", 0x100, false), ("sched_idletd", 0x400, false),
        ("cpu_idle", 0x100, false), ("acpi_cpu_idle", 0x200, false), ("cpu_idle_acpi", 0x80, false),
        ("vm_pageout_worker", 0x600, false), ("vm_pageout", 0x200, false), ("vm_pageout_laundry_worker", 0x500, false),
        ("uma_reclaim_worker", 0x100, false), ("ithread_loop", 0x300, false), ("taskqueue_thread_loop", 0x200, false),
        ("swapper", 0x100, false), ("mi_startup", 0x100, false), ("sysctl_debug_crash", 0x80, false),
        ("sysctl_root_handler_locked", 0x100, false), ("sysctl_root", 0x300, false), ("userland_sysctl", 0x200, false),
        ("sys___sysctl", 0x100, false), ("uiomove_faultflag", 0x300, false), ("vn_read", 0x200, false),
        ("ffs_read", 0x600, false), ("vn_io_fault", 0x300, false), ("lapic_handle_timer", 0x100, false),
        ("handleevents", 0x200, false),
    ]

    /// The text's layout: start, size and label flag of every function.
    static let text = FixtureText(functions, base: textBase, size: textSize, what: "")
    static var layout: [String: (start: UInt64, size: Int, label: Bool)] { text.layout }

    /// The start of function `name` (a fixture bug traps: names are fixed at compile time).
    static func start(_ name: String) -> UInt64 { text.start(name) }

    /// FNV-1a of the text.
    static func fnv(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Fixed return offsets of the assembler stubs (after their `call`).
    static let stubReturn: [String: UInt64] = [
        "calltrap": 0x8, "nmi_calltrap": 0x8, "fast_syscall_common": 0xf8, "fork_trampoline": 0xe, "btext": 0x2c,
        "Xtimerint": 0x3a,
    ]

    /// The return address of the call from `caller` to `callee` (the same site for every thread).
    static func returnAddress(caller: String, callee: String) -> UInt64 {
        if let fixed = stubReturn[caller] { return start(caller) + fixed }
        let size = UInt64(layout[caller]!.size)
        return start(caller) + 0x10 + fnv(caller + ">" + callee) % (size - 0x20)
    }

    /// An instruction inside `function` (not a call site) where a trap or NMI hit.
    static func interruptedPC(_ function: String, _ why: String) -> UInt64 {
        let size = UInt64(layout[function]!.size)
        return start(function) + 0x8 + fnv(function + "!" + why) % (size - 0x10)
    }

    /// Every call site the fixture uses, so `.text` can hold a real `call rel32` before each.
    static func textBytes(callSites: [(caller: String, callee: String)]) -> [UInt8] {
        var text = [UInt8](repeating: 0xcc, count: textSize)
        for (name, _, label) in functions where !label {
            let at = Int(start(name) - textBase)
            text.replaceSubrange(at..<at + 4, with: [0x55, 0x48, 0x89, 0xe5])
        }
        for site in callSites {
            let ra = returnAddress(caller: site.caller, callee: site.callee)
            let at = Int(ra - textBase) - 5
            let rel = Int64(bitPattern: start(site.callee) &- ra)
            text[at] = 0xe8
            for i in 0..<4 { text[at + 1 + i] = UInt8(truncatingIfNeeded: rel >> (8 * Int64(i))) }
        }
        return text
    }
}

/// Kernel virtual memory under construction: pages by VA, created on first write.
struct VirtualImage {
    var pages: [UInt64: [UInt8]] = [:]

    mutating func write(_ va: UInt64, _ bytes: [UInt8]) {
        var i = 0
        while i < bytes.count {
            let at = va + UInt64(i)
            let page = at & ~0xfff
            let offset = Int(at & 0xfff)
            let n = min(bytes.count - i, 4096 - offset)
            if pages[page] == nil { pages[page] = [UInt8](repeating: 0, count: 4096) }
            pages[page]!.replaceSubrange(offset..<offset + n, with: bytes[i..<i + n])
            i += n
        }
    }

    mutating func u64(_ va: UInt64, _ value: UInt64) { write(va, KernelFixture.le(value, 8)) }
    mutating func u32(_ va: UInt64, _ value: UInt32) { write(va, KernelFixture.le(UInt64(value), 4)) }

    func readU64(_ va: UInt64) -> UInt64 {
        guard let page = pages[va & ~0xfff], va & 0xfff <= 0xff8 else { return 0 }
        let o = Int(va & 0xfff)
        return (0..<8).reduce(0) { $0 | UInt64(page[o + $1]) << (8 * UInt64($1)) }
    }

    func readU32(_ va: UInt64) -> UInt32 {
        guard let page = pages[va & ~0xfff], va & 0xfff <= 0xffc else { return 0 }
        let o = Int(va & 0xfff)
        return (0..<4).reduce(0) { $0 | UInt32(page[o + $1]) << (8 * UInt32($1)) }
    }

    func overlays() -> [Overlay] { pages.keys.sorted().map { Overlay(va: $0, bytes: pages[$0]!) } }
}

/// A downward-growing stack being filled.
private struct StackCursor {
    var sp: UInt64
    mutating func push(_ value: UInt64, into image: inout VirtualImage) {
        sp -= 8
        image.u64(sp, value)
    }
}

/// What the generator built for one thread before corruption.
private struct BuiltThread {
    var truth: ThreadTruth
    var address: UInt64
}

/// Makes trapframe bytes (192, layout of spec §6.1).
private func trapframe(rip: UInt64, rsp: UInt64, rbp: UInt64, trapno: UInt32, user: Bool, rax: UInt64 = 0,
                       addr: UInt64 = 0) -> [UInt8] {
    var tf = [UInt8](repeating: 0, count: 0xc0)
    setU64LE(&tf, at: 0x30, rax)
    setU64LE(&tf, at: 0x40, rbp)
    setU32LE(&tf, at: 0x78, trapno)
    setU64LE(&tf, at: 0x80, addr)
    setU64LE(&tf, at: 0x98, rip)
    setU64LE(&tf, at: 0xa0, user ? 0x43 : 0x20)
    setU64LE(&tf, at: 0xa8, 0x10246)
    setU64LE(&tf, at: 0xb0, rsp)
    setU64LE(&tf, at: 0xb8, user ? 0x3b : 0x28)
    return tf
}

/// One run of frames on one stack: functions outermost first, entered from `outerReturn` (a return
/// address into a stub or fork_trampoline) with `outerSavedRBP` saved in the outermost frame.
private struct Segment {
    var chain: [String]
    var outerReturn: UInt64
    var outerSavedRBP: UInt64
    var trap: TrapTruth?
    /// The fp of each chain function, outermost first (filled by `build`).
    var fps: [UInt64] = []

    /// Pushes the frames; leaves `cursor` below the innermost frame's locals.
    mutating func build(_ cursor: inout StackCursor, _ image: inout VirtualImage, sites: inout [(caller: String, callee: String)]) {
        var saved = outerSavedRBP
        var ret = outerReturn
        fps = []
        for (i, function) in chain.enumerated() {
            cursor.push(ret, into: &image)
            cursor.push(saved, into: &image)
            fps.append(cursor.sp)
            saved = cursor.sp
            cursor.sp -= 0x10 + (ThreadKernel.fnv(function) % 6) * 0x10
            if i + 1 < chain.count {
                ret = ThreadKernel.returnAddress(caller: function, callee: chain[i + 1])
                sites.append((function, chain[i + 1]))
            }
        }
    }

    /// Expected frames of this segment after its innermost frame (which the caller supplies): the caller
    /// frames from inner to outer, then the stub frame at `outerReturn`.
    func callerFrames() -> [FrameTruth] {
        var frames: [FrameTruth] = []
        var i = chain.count - 1
        while i > 0 {
            let pc = ThreadKernel.returnAddress(caller: chain[i - 1], callee: chain[i])
            frames.append(frame(pc: pc, sp: fps[i] + 16, fp: fps[i - 1]))
            i -= 1
        }
        var outer = frame(pc: outerReturn, sp: fps[0] + 16, fp: outerSavedRBP)
        outer.trap = trap
        frames.append(outer)
        return frames
    }
}

/// A frame whose function and offset come from the fixture's text layout.
private func frame(pc: UInt64, sp: UInt64, fp: UInt64) -> FrameTruth {
    var best = ("?", UInt64(0))
    for (name, f) in ThreadKernel.layout where f.start <= pc && f.start >= best.1 { best = (name, f.start) }
    return FrameTruth(pc: pc, sp: sp, fp: fp, function: best.0, offset: pc - best.1, trap: nil)
}

/// The built fixture: kernel ELF description, dump description and the expected threads.
public struct ThreadFixture: Sendable {
    public var kernel: KernelELFDescription
    public var dump: DumpDescription
    public var truth: ThreadsTruth
}

/// The functions a kernel thread's stack shows below `calls`.
private let kernelThreadBottom = ["fork_exit"]

/// Builds the thread fixture for `d` on top of the dump `base` (which gets the mappings and overlays).
public func makeThreadFixture(_ d: ThreadsDescription, base: DumpDescription) throws(GeneratorError) -> ThreadFixture {
    let k = ThreadKernel.self
    let layout = d.layout
    guard d.cpuCount >= 1, d.cpuCount <= k.maxCPU else { throw .invalidDescription("cpuCount \(d.cpuCount) is not in 1...\(k.maxCPU)") }
    let pointerForm = d.stoppcbsPointer ?? (d.osreldate >= k.stoppcbsPointerSince)
    var image = VirtualImage()
    var sites: [(caller: String, callee: String)] = []
    var rng = SplitMix64(seed: d.seed ^ 0x7468_7265_6164_7300)

    // .data: version, osreldate, the offset symbols; .bss: the rest.
    var dataVars: [(String, UInt64, [UInt8])] = [
        ("version", 0, Array(KernelFixture.version.utf8) + [0]),
        ("osreldate", 0x80, KernelFixture.le(UInt64(d.osreldate), 4)),
        ("hz", 0x84, KernelFixture.le(UInt64(KernelFixture.hz), 4)),
    ]
    var offsetValues: [String: Int32] = [:]
    for (name, value) in layout.symbolValues { offsetValues[name] = Int32(value) }
    for c in d.corruptions { if case .absurdOffset(let s, let v) = c { offsetValues[s] = v } }
    for (i, (name, _)) in layout.symbolValues.enumerated() {
        dataVars.append((name, 0x100 + UInt64(4 * i), KernelFixture.le(UInt64(UInt32(bitPattern: offsetValues[name]!)), 4)))
    }
    let bss = k.bssBase
    let addr: [String: UInt64] = [
        "hostname": bss, "panicstr": bss + 0x100, "msgbufp": bss + 0x108, "allproc": bss + 0x110, "dumptid": bss + 0x118,
        "mp_maxid": bss + 0x11c, "mp_ncpus": bss + 0x120, "panic_cpu": bss + 0x124, "stopped_cpus": bss + 0x128,
        "time_second": bss + 0x130, "time_uptime": bss + 0x138, "panicbuf": bss + 0x200, "dumppcb": bss + 0x400,
        "stoppcbs": bss + 0x1000,
    ]
    let sizes: [String: UInt64] = [
        "hostname": 256, "panicstr": 8, "msgbufp": 8, "allproc": 8, "dumptid": 4, "mp_maxid": 4, "mp_ncpus": 4,
        "panic_cpu": 4, "stopped_cpus": 8, "time_second": 8, "time_uptime": 8, "panicbuf": 256, "dumppcb": 0x140,
        "stoppcbs": pointerForm ? 8 : UInt64(k.maxCPU * layout.pcbSize),
    ]
    for (_, offset, bytes) in dataVars { image.write(k.dataBase + offset, bytes) }
    try image.writeKernelGlobals(addr, hostname: KernelFixture.hostname, panicString: k.panicString, msgbufp: KernelFixture.msgbufPointer,
                                 dumpTID: d.dumpTID, cpuCount: d.cpuCount, stoppedCPUs: d.stoppedCPUs)
    let stoppcbsArray = pointerForm ? k.stoppcbsHeap : addr["stoppcbs"]!
    if pointerForm { image.u64(addr["stoppcbs"]!, k.stoppcbsHeap) }

    // Structures: processes, threads, stacks.
    var threadIndex = 0
    var procAddresses: [UInt64] = []
    var procTruth: [ProcessTruth] = []
    var builtThreads: [[BuiltThread]] = []
    var crashedCPU: UInt32 = 0
    let allThreads = d.processes.reduce(0) { $0 + $1.threads.count }
    var mappings: [KernelMapping] = []

    func pcbBytes(rip: UInt64, rsp: UInt64, rbp: UInt64, rbx: UInt64, r12: UInt64, r13: UInt64, r14: UInt64, r15: UInt64) -> [UInt8] {
        var pcb = [UInt8](repeating: 0, count: layout.pcbSize)
        for (i, v) in [r15, r14, r13, r12, rbp, rsp, rbx, rip].enumerated() { setU64LE(&pcb, at: 8 * i, v) }
        return pcb
    }
    func registers(_ pcb: [UInt8]) -> [String: UInt64] {
        func at(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(pcb[o + $1]) << (8 * UInt64($1)) } }
        return ["r15": at(0), "r14": at(8), "r13": at(0x10), "r12": at(0x18), "rbp": at(0x20), "rsp": at(0x28),
                "rbx": at(0x30), "rip": at(0x38)]
    }

    for (p, proc) in d.processes.enumerated() {
        let pa = k.procBase + UInt64(p * layout.procSize)
        procAddresses.append(pa)
        procTruth.append(ProcessTruth(pid: proc.pid, comm: proc.comm, flags: proc.flags, address: pa, threadCount: proc.threads.count))
        var built: [BuiltThread] = []
        for thread in proc.threads {
            let ta = k.threadBase + UInt64(threadIndex * layout.threadSize)
            let kstack = k.stackBase + UInt64(threadIndex) * k.stackStride + 0x1000
            let top = kstack + UInt64(k.stackPages) * 0x1000
            let tdFrame = top - 0x100 - 0xc0
            mappings.append(KernelMapping(virtualAddress: kstack, pageSize: .size4K, count: k.stackPages))
            var cursor = StackCursor(sp: tdFrame)
            var pcbSource = "td_pcb"
            var pcbAddress: UInt64? = ta + UInt64(layout.threadMDPCB)
            var frames: [FrameTruth] = []
            var stop = "thread-start"
            let r = (rng.next(), rng.next(), rng.next(), rng.next())
            let crashed = thread.tid == d.dumpTID
            if crashed, case .crashed = thread.activity {} else if crashed || thread.activity == .crashed {
                throw .invalidDescription("thread \(thread.tid): only the thread with tid == dumpTID is .crashed")
            }

            /// Builds the syscall part (outermost) of a user thread: amd64_syscall … `calls` outermost first.
            func syscallSegment(_ calls: [String], number: UInt64) -> Segment {
                let userRBP: UInt64 = 0x7fff_ffff_e000 - UInt64(thread.tid & 0xff) * 0x100
                let userRSP = userRBP - 0x48
                let userRIP: UInt64 = 0x8_2000_0000 + UInt64(thread.tid & 0xfff) * 0x10 + 0xa
                image.write(tdFrame, trapframe(rip: userRIP, rsp: userRSP, rbp: userRBP, trapno: 0, user: true, rax: number))
                let trap = TrapTruth(kind: "syscall", number: number, rip: userRIP, rsp: userRSP, rbp: userRBP, user: true, address: tdFrame)
                sites.append(("fast_syscall_common", "amd64_syscall"))
                return Segment(chain: ["amd64_syscall"] + calls, outerReturn: k.returnAddress(caller: "fast_syscall_common", callee: "amd64_syscall"),
                               outerSavedRBP: userRBP, trap: trap)
            }
            func kernelSegment(_ calls: [String]) -> Segment {
                image.write(tdFrame, [UInt8](repeating: 0, count: 0xc0))
                sites.append(("fork_trampoline", "fork_exit"))
                return Segment(chain: kernelThreadBottom + calls, outerReturn: k.returnAddress(caller: "fork_trampoline", callee: "fork_exit"),
                               outerSavedRBP: 0, trap: nil)
            }
            /// Ends the innermost function of `segment` with a call to `callee` that saved a pcb there.
            func finishWithPCB(_ segment: Segment, callee: String, at pcbVA: UInt64) -> [UInt8] {
                let inner = segment.chain.last!
                let rip = k.returnAddress(caller: inner, callee: callee)
                sites.append((inner, callee))
                cursor.push(rip, into: &image)
                let pcb = pcbBytes(rip: rip, rsp: cursor.sp, rbp: segment.fps.last!, rbx: r.0, r12: r.1, r13: r.2, r14: r.3, r15: ta)
                image.write(pcbVA, pcb)
                frames = [frame(pc: rip, sp: cursor.sp, fp: segment.fps.last!)] + segment.callerFrames()
                return pcb
            }
            var pcbUsed: [UInt8] = []
            let staleRIP = k.returnAddress(caller: "sched_switch", callee: "cpu_switch")

            switch thread.activity {
            case .sleepingInSyscall(let calls, let number):
                var s = syscallSegment(Array(calls.reversed()) + ["mi_switch", "sched_switch"], number: number)
                s.build(&cursor, &image, sites: &sites)
                pcbUsed = finishWithPCB(s, callee: "cpu_switch", at: pcbAddress!)
                stop = "user-trapframe"
            case .sleepingKernelThread(let calls):
                var s = kernelSegment(Array(calls.reversed()) + ["mi_switch", "sched_switch"])
                s.build(&cursor, &image, sites: &sites)
                pcbUsed = finishWithPCB(s, callee: "cpu_switch", at: pcbAddress!)
            case .neverRan:
                image.write(tdFrame, [UInt8](repeating: 0, count: 0xc0))
                let pcb = pcbBytes(rip: k.start("fork_trampoline"), rsp: tdFrame - 8, rbp: 0, rbx: ta,
                                   r12: k.start("taskqueue_thread_loop"), r13: 0, r14: 0, r15: 0)
                image.write(pcbAddress!, pcb)
                pcbUsed = pcb
                frames = [frame(pc: k.start("fork_trampoline"), sp: tdFrame - 8, fp: 0)]
            case .crashed:
                // Outer: the syscall into the sysctl handler that faults.
                var outer = syscallSegment(["sys___sysctl", "userland_sysctl", "sysctl_root", "sysctl_root_handler_locked",
                                            "sysctl_debug_crash"], number: 202)
                outer.build(&cursor, &image, sites: &sites)
                let faultRIP = k.interruptedPC("sysctl_debug_crash", "fault")
                let tfRSP = cursor.sp - 8
                let tfRBP = outer.fps.last!
                let tf = (tfRSP & ~0xf) - 0xc0
                image.write(tf, trapframe(rip: faultRIP, rsp: tfRSP, rbp: tfRBP, trapno: 12, user: false, addr: 0x18))
                cursor.sp = tf
                sites.append(("calltrap", "trap"))
                var inner = Segment(chain: ["trap", "trap_pfault", "trap_fatal", "panic", "vpanic", "kern_reboot", "doadump"],
                                    outerReturn: k.returnAddress(caller: "calltrap", callee: "trap"), outerSavedRBP: tfRBP,
                                    trap: TrapTruth(kind: "trap", number: 12, rip: faultRIP, rsp: tfRSP, rbp: tfRBP, user: false, address: tf))
                inner.build(&cursor, &image, sites: &sites)
                pcbSource = "dumppcb"
                pcbAddress = addr["dumppcb"]!
                pcbUsed = finishWithPCB(inner, callee: "savectx", at: addr["dumppcb"]!)
                frames += [frame(pc: faultRIP, sp: tfRSP, fp: tfRBP)] + outer.callerFrames()
                image.write(ta + UInt64(layout.threadMDPCB), pcbBytes(rip: staleRIP, rsp: 0, rbp: 0, rbx: 0, r12: 0, r13: 0, r14: 0, r15: 0))
                stop = "user-trapframe"
                crashedCPU = UInt32(thread.onCPU ?? 0)
            case .stoppedByNMI, .stoppedByNMIInTimerInterrupt:
                let interrupted: [String], number: UInt64?, handler: [String]?
                switch thread.activity {
                case .stoppedByNMI(let i, let n): (interrupted, number, handler) = (i, n, nil)
                case .stoppedByNMIInTimerInterrupt(let i, let h): (interrupted, number, handler) = (i, nil, h)
                default: preconditionFailure("unreachable")
                }
                guard let cpu = thread.onCPU, d.stoppedCPUs.contains(cpu) else {
                    throw .invalidDescription("thread \(thread.tid) is stopped by NMI but its CPU is not in stoppedCPUs")
                }
                var outer = number.map { syscallSegment(Array(interrupted.reversed()), number: $0) }
                    ?? kernelSegment(Array(interrupted.reversed()))
                outer.build(&cursor, &image, sites: &sites)
                var outerFrames = outer.callerFrames()
                var hitFunction = interrupted[0]
                var tfRBP = outer.fps.last!
                if let handler {
                    // The timer interrupt: a kernel-mode trapframe on the thread's stack, then the handler's frames.
                    let irqRIP = k.interruptedPC(interrupted[0], "timer")
                    let irqRSP = cursor.sp - 8
                    let irqTF = (irqRSP & ~0xf) - 0xc0
                    image.write(irqTF, trapframe(rip: irqRIP, rsp: irqRSP, rbp: tfRBP, trapno: 0, user: false))
                    cursor.sp = irqTF
                    sites.append(("Xtimerint", handler.last!))
                    var middle = Segment(chain: Array(handler.reversed()),
                                         outerReturn: k.returnAddress(caller: "Xtimerint", callee: handler.last!), outerSavedRBP: tfRBP,
                                         trap: TrapTruth(kind: "interrupt", number: 0, rip: irqRIP, rsp: irqRSP, rbp: tfRBP,
                                                         user: false, address: irqTF))
                    middle.build(&cursor, &image, sites: &sites)
                    outerFrames = middle.callerFrames() + [frame(pc: irqRIP, sp: irqRSP, fp: tfRBP)] + outerFrames
                    hitFunction = handler[0]
                    tfRBP = middle.fps.last!
                }
                let hitRIP = k.interruptedPC(hitFunction, "nmi")
                let tfRSP = cursor.sp - 8
                // The NMI runs on the CPU's own IST stack.
                let nmiTop = k.nmiStackBase + UInt64(cpu) * 0x2000 + 0x1000 - 0x10
                let tf = nmiTop - 0xc0
                image.write(tf, trapframe(rip: hitRIP, rsp: tfRSP, rbp: tfRBP, trapno: 19, user: false))
                var nmiCursor = StackCursor(sp: tf)
                sites.append(("nmi_calltrap", "trap"))
                var inner = Segment(chain: ["trap", "ipi_nmi_handler", "cpustop_handler"],
                                    outerReturn: k.returnAddress(caller: "nmi_calltrap", callee: "trap"), outerSavedRBP: tfRBP,
                                    trap: TrapTruth(kind: "trap", number: 19, rip: hitRIP, rsp: tfRSP, rbp: tfRBP, user: false, address: tf))
                inner.build(&nmiCursor, &image, sites: &sites)
                swap(&cursor, &nmiCursor)
                pcbSource = "stoppcbs[\(cpu)]"
                pcbAddress = stoppcbsArray + UInt64(cpu * layout.pcbSize)
                pcbUsed = finishWithPCB(inner, callee: "savectx", at: pcbAddress!)
                frames += [frame(pc: hitRIP, sp: tfRSP, fp: tfRBP)] + outerFrames
                image.write(ta + UInt64(layout.threadMDPCB), pcbBytes(rip: staleRIP, rsp: 0, rbp: 0, rbx: 0, r12: 0, r13: 0, r14: 0, r15: 0))
                stop = number == nil ? "thread-start" : "user-trapframe"
            }
            if thread.onCPU.map({ d.stoppedCPUs.contains($0) }) ?? false, !crashed {
                switch thread.activity {
                case .stoppedByNMI, .stoppedByNMIInTimerInterrupt: break
                default:
                    throw .invalidDescription("thread \(thread.tid) is on stopped CPU \(thread.onCPU!) but not .stoppedByNMI")
                }
            }

            // struct thread.
            let next = threadIndex + 1 < allThreads && built.count + 1 < proc.threads.count
                ? k.threadBase + UInt64((threadIndex + 1) * layout.threadSize) : 0
            image.u64(ta + 0, bss + 0x180)
            image.u64(ta + 8, pa)
            image.u64(ta + UInt64(layout.threadPList), next)
            image.u64(ta + UInt64(layout.threadPList) + 8, built.isEmpty ? pa + UInt64(layout.procThreads) : ta - UInt64(layout.threadSize) + UInt64(layout.threadPList))
            image.u32(ta + UInt64(layout.threadTID), UInt32(bitPattern: thread.tid))
            image.write(ta + UInt64(layout.threadName), cName(thread.name))
            image.u32(ta + UInt64(layout.threadOnCPU), UInt32(bitPattern: Int32(thread.onCPU ?? -1)))
            image.u32(ta + UInt64(layout.threadOnCPU) + 4, UInt32(bitPattern: Int32(thread.onCPU ?? 0)))
            // enum td_states: INACTIVE 0, INHIBITED 1, CAN_RUN 2, RUNQ 3, RUNNING 4.
            let state: (UInt32, String)
            switch thread.activity {
            case .crashed, .stoppedByNMI, .stoppedByNMIInTimerInterrupt: state = (4, "RUNNING")
            case .neverRan: state = (2, "CAN_RUN")
            case .sleepingInSyscall, .sleepingKernelThread: state = thread.onCPU == nil ? (1, "INHIBITED") : (4, "RUNNING")
            }
            image.u32(ta + UInt64(layout.threadState), state.0)
            image.u64(ta + UInt64(layout.threadPCB), ta + UInt64(layout.threadMDPCB))
            image.u64(ta + 0x480, kstack)
            image.u32(ta + 0x488, UInt32(k.stackPages))
            image.u64(ta + 0x490, tdFrame)

            var name = "(pid \(proc.pid)) \(proc.comm)"
            if !thread.name.isEmpty && thread.name != proc.comm { name += "/\(thread.name)" }
            if crashed { name += " (crashed)" } else if let cpu = thread.onCPU { name += " (on CPU \(cpu))" }
            let truth = ThreadTruth(tid: thread.tid, pid: proc.pid, comm: proc.comm, name: thread.name, cpu: thread.onCPU,
                                    state: state.1, crashed: crashed, pcbSource: pcbSource, pcb: pcbAddress, address: ta,
                                    registers: registers(pcbUsed), frames: frames, stop: stop, displayName: name)
            built.append(BuiltThread(truth: truth, address: ta))
            threadIndex += 1
        }
        builtThreads.append(built)
        // struct proc.
        image.u64(pa + UInt64(layout.procList), p + 1 < d.processes.count ? pa + UInt64(layout.procSize) : 0)
        image.u64(pa + UInt64(layout.procList) + 8, p == 0 ? addr["allproc"]! : pa - UInt64(layout.procSize))
        image.u64(pa + UInt64(layout.procThreads), built.first?.address ?? 0)
        image.u64(pa + UInt64(layout.procThreads) + 8, built.last.map { $0.address + UInt64(layout.threadPList) } ?? pa + UInt64(layout.procThreads))
        image.u32(pa + UInt64(layout.procFlag), proc.flags)
        image.u32(pa + 0xb8, 1)
        image.u32(pa + UInt64(layout.procPID), UInt32(bitPattern: proc.pid))
        image.write(pa + UInt64(layout.procComm), cName(proc.comm))
    }
    image.u64(addr["allproc"]!, procAddresses.first ?? 0)
    image.u32(addr["panic_cpu"]!, crashedCPU)

    // Corruptions: change memory and the expected results.
    var listProblems: [String] = []
    var keepProcesses = d.processes.count
    /// The unmapped guard page just above thread `tid`'s stack (the next stack slot's guard).
    func guardAbove(_ tid: Int32) -> UInt64? {
        for t in builtThreads.joined() where t.truth.tid == tid {
            let index = (t.address - k.threadBase) / UInt64(layout.threadSize)
            return k.stackBase + (index + 1) * k.stackStride
        }
        return nil
    }
    func mutate(_ tid: Int32, _ body: (inout ThreadTruth) throws(GeneratorError) -> Void) throws(GeneratorError) {
        for p in builtThreads.indices {
            for t in builtThreads[p].indices where builtThreads[p][t].truth.tid == tid {
                try body(&builtThreads[p][t].truth)
                return
            }
        }
        throw .invalidDescription("corruption names tid \(tid), which does not exist")
    }
    func checkFrame(_ truth: ThreadTruth, _ frame: Int) throws(GeneratorError) {
        guard frame >= 0, frame + 2 < truth.frames.count, truth.frames[frame].trap == nil,
              truth.frames[frame + 1].trap == nil, ThreadKernel.layout[truth.frames[frame + 1].function]?.label == false else {
            throw .invalidDescription("thread \(truth.tid) has no plain frame \(frame) to corrupt")
        }
    }
    for c in d.corruptions {
        switch c {
        case .processListCycle:
            guard let last = procAddresses.last, let first = procAddresses.first else { break }
            image.u64(last + UInt64(layout.procList), first)
            listProblems.append("allproc: cycle")
        case .threadListCycle(let tid):
            for p in builtThreads.indices {
                if let t = builtThreads[p].firstIndex(where: { $0.truth.tid == tid }) {
                    let ta = builtThreads[p][t].address
                    image.u64(ta + UInt64(layout.threadPList), ta)
                    builtThreads[p].removeSubrange((t + 1)...)
                    procTruth[p].threadCount = t + 1
                    listProblems.append("p_threads of pid \(procTruth[p].pid): cycle")
                }
            }
        case .processPointerUnmapped(let index):
            guard index >= 0, index < procAddresses.count else { throw .invalidDescription("no process at \(index)") }
            image.u64(procAddresses[index] + UInt64(layout.procList), k.stackBase + UInt64(allThreads + 7) * k.stackStride)
            keepProcesses = min(keepProcesses, index + 1)
            listProblems.append("allproc: unreadable")
        case .frameLoop(let tid, let n):
            try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
                try checkFrame(t, n)
                image.u64(t.frames[n].fp, t.frames[n].fp)
                var last = t.frames[n + 1]
                last.fp = t.frames[n].fp
                last.trap = nil
                t.frames = Array(t.frames[...n]) + [last]
                t.stop = "loop"
            }
        case .zeroReturnAddress(let tid, let n):
            try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
                try checkFrame(t, n)
                image.u64(t.frames[n].fp + 8, 0)
                t.frames = Array(t.frames[...n])
                t.stop = "zero-return-address"
            }
        case .framePointerUnmapped(let tid, let n):
            let target = guardAbove(tid) ?? 0
            try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
                try checkFrame(t, n)
                image.u64(t.frames[n].fp, target)
                var last = t.frames[n + 1]
                last.fp = target
                last.trap = nil
                t.frames = Array(t.frames[...n]) + [last]
                t.stop = "unreadable"
            }
        case .pcbUnmapped(let tid):
            let target = guardAbove(tid) ?? 0
            try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
                guard t.pcbSource == "td_pcb" else { throw .invalidDescription("thread \(tid) does not use td_pcb") }
                image.u64(t.address + UInt64(layout.threadPCB), target)
                t.pcb = target
                t.registers = [:]
                t.frames = []
                t.stop = "unreadable"
            }
        case .pcbZeroPC(let tid):
            try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
                guard let pcb = t.pcb else { return }
                image.u64(pcb + 0x38, 0)
                t.registers["rip"] = 0
                t.frames = []
                t.stop = "no-pc"
            }
        case .pcbNull(let tid):
            try mutate(tid) { (t: inout ThreadTruth) throws(GeneratorError) in
                guard t.pcbSource == "td_pcb" else { throw .invalidDescription("thread \(tid) does not use td_pcb") }
                image.u64(t.address + UInt64(layout.threadPCB), 0)
                t.pcb = nil
                t.registers = [:]
                t.frames = []
                t.stop = "no-pcb"
            }
        case .absurdOffset:
            break
        }
    }

    // The kernel ELF.
    var symbols: [KernelELFSymbol] = []
    for (name, f) in ThreadKernel.layout.sorted(by: { $0.value.start < $1.value.start }) {
        symbols.append(KernelELFSymbol(name: name, value: f.start, size: f.label ? 0 : UInt64(f.size),
                                       type: f.label ? .noType : .function, section: .text))
    }
    var data = [UInt8](repeating: 0, count: 0x200)
    for (name, offset, bytes) in dataVars {
        data.replaceSubrange(Int(offset)..<Int(offset) + bytes.count, with: bytes)
        symbols.append(KernelELFSymbol(name: name, value: k.dataBase + offset, size: name == "version" ? UInt64(bytes.count) : 4,
                                       type: .object, section: .data))
    }
    for (name, va) in addr.sorted(by: { $0.value < $1.value }) {
        symbols.append(KernelELFSymbol(name: name, value: va, size: sizes[name]!, type: .object, section: .bss,
                                       binding: name == "dumppcb" || name == "panicbuf" || name == "panic_cpu" ? .local : .global))
    }
    symbols.append(KernelELFSymbol(name: "etext", value: k.textBase + UInt64(k.textSize), size: 0, type: .noType, section: .text))
    symbols.append(KernelELFSymbol(name: "end", value: bss + k.bssSize, size: 0, type: .noType, section: .bss))
    let text = ThreadKernel.textBytes(callSites: sites)
    let kernel = KernelELFDescription(symbols: symbols, textBase: k.textBase, text: text, dataBase: k.dataBase, data: data,
                                      bssBase: bss, bssSize: k.bssSize)
    image.write(k.textBase, text)

    // The dump.
    var dump = base
    dump.stampPages = d.stampPages
    dump.messageBuffer.physicalAddress = KernelFixture.msgbufPhysicalAddress
    dump.mappings += [
        KernelMapping(virtualAddress: k.textBase, pageSize: .size4K, count: k.textSize / 0x1000, writable: false, executable: true),
        KernelMapping(virtualAddress: k.dataBase, pageSize: .size4K),
        KernelMapping(virtualAddress: bss, pageSize: .size4K, count: Int(k.bssSize / 0x1000)),
    ]
    for cpu in 0..<d.cpuCount {
        dump.mappings.append(KernelMapping(virtualAddress: k.nmiStackBase + UInt64(cpu) * 0x2000, pageSize: .size4K))
    }
    if pointerForm {
        dump.mappings.append(KernelMapping(virtualAddress: k.stoppcbsHeap, pageSize: .size4K,
                                           count: (k.maxCPU * layout.pcbSize + 0xfff) / 0x1000))
    }
    let procPages = (d.processes.count * layout.procSize + 0xfff) / 0x1000
    let threadPages = (allThreads * layout.threadSize + 0xfff) / 0x1000
    if procPages > 0 { dump.mappings.append(KernelMapping(virtualAddress: k.procBase, pageSize: .size4K, count: procPages)) }
    if threadPages > 0 { dump.mappings.append(KernelMapping(virtualAddress: k.threadBase, pageSize: .size4K, count: threadPages)) }
    dump.mappings += mappings
    dump.overlays += image.overlays()

    var threads: [ThreadTruth] = []
    for p in 0..<keepProcesses { threads += builtThreads[p].map(\.truth) }
    var symbolTable: [String: UInt64] = [:]
    for s in symbols { symbolTable[s.name] = s.value }
    let truth = ThreadsTruth(processes: Array(procTruth[..<keepProcesses]), threads: threads, dumpTID: d.dumpTID,
                             symbols: symbolTable, stoppcbsIsPointer: pointerForm, listProblems: listProblems)
    return ThreadFixture(kernel: kernel, dump: dump, truth: truth)
}

/// `name` as a NUL-padded `char[MAXCOMLEN + 1]` (cut to 19 bytes).
private func cName(_ name: String) -> [UInt8] {
    let bytes = Array(name.utf8.prefix(19))
    return bytes + [UInt8](repeating: 0, count: 20 - bytes.count)
}
