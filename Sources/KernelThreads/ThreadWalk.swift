/// The architecture-neutral part: allproc → p_threads, dumptid, the pcb choice, ordering.
import KernelImage
import MinidumpCore

/// Every process and thread of a dump, with what is needed to unwind them.
public struct ThreadList: Sendable {
    /// Processes in allproc order (head first).
    public let processes: [KernelProcess]
    /// Threads, the crashed one first, then in allproc order and p_threads order.
    public let threads: [KernelThread]
    /// `dumptid` (nil when unreadable).
    public let dumpTID: Int32?
    /// List problems (a cycle, an unreadable element, a limit); each stopped only its own list.
    public let problems: [String]
    /// The offsets used.
    public let offsets: KernelOffsets
    /// "amd64".
    public let architecture: String
    /// How `stoppcbs` was read, e.g. "pointer (osreldate 1401000 >= 1400089)".
    public let stoppcbsForm: String
    /// The bounds used.
    public let limits: WalkLimits
    /// The symbolizer (ddb's rules) over the kernel image.
    public let symbolizer: KernelSymbolizer

    let memory: Memory
    let arch: any ThreadArchitecture.Type
    let facts: KernelFacts

    /// The crashed thread (`td_tid == dumptid`), if found.
    public var crashed: KernelThread? { threads.first { $0.isCrashed } }

    /// The thread with `tid`.
    public func thread(tid: Int32) -> KernelThread? { threads.first { $0.tid == tid } }

    /// The backtrace of `thread` from its pcb (bounded by `limits.maxFrames`).
    public func backtrace(_ thread: KernelThread) -> Backtrace {
        guard thread.pcb != nil else {
            return Backtrace(frames: [], stop: .noPCB, detail: thread.pcbProblem ?? "no pcb")
        }
        if thread.registerValues.isEmpty {
            return Backtrace(frames: [], stop: .unreadable, detail: thread.pcbProblem ?? "the pcb is not in the dump")
        }
        return arch.unwind(registers: thread.registerValues, memory: memory, symbols: symbolizer, limits: limits, kernel: facts)
    }
}

/// Lists the processes and threads of `dump` with the symbols of `kernel`.
///
/// - Parameters:
///   - offsets: values from an offsets file (see `KernelOffsets.parseFile`), overriding the kernel's symbols.
///   - limits: bounds of the walks.
/// - Throws: `ThreadError` when the list cannot be started (unsupported machine, no `allproc`, missing or absurd
///   offsets, `allproc` unreadable). Broken elements further on become `problems` instead.
public func kernelThreads(dump: Dump, kernel: KernelImage, offsets file: (path: String, values: [String: Int])? = nil,
                          limits: WalkLimits = .standard) throws(ThreadError) -> ThreadList {
    guard let arch = threadArchitectures.first(where: { $0.elfMachine == kernel.machine }) else {
        throw .unsupportedArchitecture(kernel: kernel.path, machine: kernel.machine)
    }
    let memory = Memory(dump: dump)
    let pointerBytes = arch.pointerBytes
    func symbol(_ name: String) -> Symbol? {
        guard let s = kernel.symbol(named: name), s.isDefined else { return nil }
        return s
    }
    guard let allproc = symbol("allproc") else { throw .noSymbol(name: "allproc", kernel: kernel.path) }
    let offsets = try KernelOffsets.resolve(memory: memory, kernel: kernel, file: file)
    guard let head = memory.pointer(allproc.value, size: pointerBytes) else {
        throw .unreadable(what: "allproc", address: allproc.value, reason: "not in the dump")
    }
    var problems: [String] = []

    // dumptid, dumppcb, stopped CPUs.
    let osreldate = symbol("osreldate").flatMap { memory.u32($0.value) ?? (try? kernel.readU32(at: $0.value)) }
    var facts = KernelFacts(osreldate: osreldate, pcbSize: offsets.pcbSize)
    for name in arch.factSymbols {
        if let s = symbol(name), let value = memory.pointer(s.value, size: pointerBytes) { facts.words[name] = value }
    }
    let dumpTID = symbol("dumptid").flatMap { memory.u32($0.value) }.map { Int32(bitPattern: $0) }
    if symbol("dumptid") != nil && dumpTID == nil { problems.append("dumptid: not in the dump") }
    let dumppcb = symbol("dumppcb")?.value
    let pcbSize = offsets.pcbSize ?? arch.defaultPCBSize
    let stopped = symbol("stopped_cpus")
    let maxID: Int = symbol("mp_maxid").flatMap { memory.u32($0.value) }.map { Int($0) }
        ?? Int(max(1, min(stopped?.size ?? 8, 1024)) * 8 - 1)
    // cpuset_t is an array of `long`: pointer-sized words.
    let wordBits = 8 * pointerBytes
    var stoppedWords: [UInt64] = []
    if let stopped {
        let words = min(maxID / wordBits + 1, 1024 / wordBits)
        for i in 0..<words {
            guard let w = memory.pointer(stopped.value &+ UInt64(pointerBytes * i), size: pointerBytes) else {
                problems.append("stopped_cpus: word \(i) is not in the dump")
                break
            }
            stoppedWords.append(w)
        }
    }
    func isStopped(_ cpu: Int) -> Bool {
        guard cpu >= 0, cpu <= maxID, cpu / wordBits < stoppedWords.count else { return false }
        return stoppedWords[cpu / wordBits] >> UInt64(cpu % wordBits) & 1 != 0
    }
    var stoppcbsForm = "none (no stoppcbs symbol)"
    var stoppcbsBase: UInt64?
    if let stoppcbs = symbol("stoppcbs") {
        // The symbol's own size says which declaration the kernel has (a pointer's: `struct pcb *stoppcbs`, a multiple of
        // pcb_size: `struct pcb stoppcbs[MAXCPU]`); only without a size does the osreldate rule of LLVM PR
        // #222977 (pointer from 1400089) decide.
        let pointer: Bool
        if stoppcbs.size == UInt64(pointerBytes) && pcbSize != pointerBytes {
            pointer = true
            stoppcbsForm = "pointer (symbol size \(pointerBytes))"
        } else if stoppcbs.size >= UInt64(pcbSize) && stoppcbs.size % UInt64(pcbSize) == 0 {
            pointer = false
            stoppcbsForm = "array (symbol size \(stoppcbs.size) = \(stoppcbs.size / UInt64(pcbSize)) pcbs)"
        } else if let osreldate, let since = arch.stoppcbsPointerSince {
            pointer = osreldate >= since
            stoppcbsForm = pointer ? "pointer (osreldate \(osreldate) >= \(since))" : "array (osreldate \(osreldate) < \(since))"
        } else {
            pointer = false
            stoppcbsForm = "array (osreldate unknown, symbol size \(stoppcbs.size))"
        }
        if pointer {
            stoppcbsBase = memory.pointer(stoppcbs.value, size: pointerBytes).map(arch.canonical)
            if stoppcbsBase == nil { problems.append("stoppcbs: pointer at \(memory.hexAddress(stoppcbs.value)) is not in the dump") }
        } else {
            stoppcbsBase = stoppcbs.value
        }
    }

    // The walk.
    var processes: [KernelProcess] = []
    var threads: [KernelThread] = []
    var seenProcs: Set<UInt64> = []
    var seenThreads: Set<UInt64> = []
    let o = offsets
    let procLow = [o.procList, o.procPID, o.procComm, o.procThreads, o.procFlag ?? o.procList].min()!
    let procHigh = [o.procList + pointerBytes, o.procPID + 4, o.procComm + 20, o.procThreads + pointerBytes,
                    (o.procFlag ?? 0) + 4].max()!
    let tdLow = [o.threadTID, o.threadName, o.threadOnCPU, o.threadPCB, o.threadPList, o.threadState ?? o.threadTID].min()!
    let tdHigh = [o.threadTID + 4, o.threadName + 20, o.threadOnCPU + 4, o.threadPCB + pointerBytes,
                  o.threadPList + pointerBytes,
                  (o.threadState ?? 0) + 4].max()!
    /// The fields of the list node at `address`, or nil after recording why the walk of `list` stops
    /// there: not a kernel address, seen before (a cycle), or unreadable.
    func node(_ address: UInt64, list: String, kind: String, after: String, seen: inout Set<UInt64>,
              low: Int, high: Int) -> Fields? {
        guard arch.isKernelAddress(address) else {
            problems.append("\(list): pointer \(memory.hexAddress(address))\(after) is not a kernel address")
            return nil
        }
        guard seen.insert(address).inserted else {
            problems.append("\(list): cycle: the \(kind) at \(memory.hexAddress(address)) comes again\(after)")
            return nil
        }
        switch memory.bytesOrReason(address &+ UInt64(low), high - low) {
        case .success(let bytes): return Fields(bytes: bytes, base: low)
        case .failure(let f):
            problems.append("\(list): unreadable \(kind) at \(memory.hexAddress(address))\(after): \(f.reason)")
            return nil
        }
    }
    let stateNames = ["INACTIVE", "INHIBITED", "CAN_RUN", "RUNQ", "RUNNING"]
    var proc = arch.canonical(head)
    var stoppedAll = false
    while proc != 0 && !stoppedAll {
        guard processes.count < limits.maxProcesses else {
            problems.append("allproc: stopped after \(limits.maxProcesses) processes (the limit)")
            break
        }
        guard let pf = node(proc, list: "allproc", kind: "process", after: " after \(processes.count) processes",
                            seen: &seenProcs, low: procLow, high: procHigh) else { break }
        let pid = Int32(bitPattern: pf.u32(o.procPID)!)
        let comm = pf.name(o.procComm)!
        let flags = o.procFlag.flatMap { pf.u32($0) }
        var td = arch.canonical(pf.pointer(o.procThreads, size: pointerBytes)!)
        var count = 0
        while td != 0 {
            guard threads.count < limits.maxThreads else {
                problems.append("threads: stopped after \(limits.maxThreads) threads (the limit)")
                stoppedAll = true
                break
            }
            guard let tf = node(td, list: "p_threads of pid \(pid)", kind: "thread", after: "",
                                seen: &seenThreads, low: tdLow, high: tdHigh) else { break }
            let tid = Int32(bitPattern: tf.u32(o.threadTID)!)
            let name = tf.name(o.threadName)!
            let oncpu = Int32(bitPattern: tf.u32(o.threadOnCPU)!)
            let cpu: Int? = oncpu >= 0 && oncpu <= 0xffff ? Int(oncpu) : nil
            let tdPCB = arch.canonical(tf.pointer(o.threadPCB, size: pointerBytes)!)
            let state = o.threadState.flatMap { tf.u32($0) }.map { $0 < stateNames.count ? stateNames[Int($0)] : "state \($0)" }
            let crashed = dumpTID != nil && tid == dumpTID
            var pcb: UInt64?
            let source: String
            var problem: String?
            if crashed {
                source = "dumppcb"
                pcb = dumppcb
                if dumppcb == nil { problem = "the kernel has no dumppcb symbol" }
            } else if let cpu, isStopped(cpu) {
                source = "stoppcbs[\(cpu)]"
                if let base = stoppcbsBase {
                    let (product, o1) = UInt64(cpu).multipliedReportingOverflow(by: UInt64(pcbSize))
                    let (address, o2) = base.addingReportingOverflow(product)
                    pcb = o1 || o2 ? nil : address
                }
                if pcb == nil { problem = "stoppcbs is not readable" }
            } else {
                source = "td_pcb"
                pcb = tdPCB == 0 ? nil : tdPCB
                if pcb == nil { problem = "td_pcb is NULL" }
            }
            var registers: [UInt64] = []
            if let pcb {
                switch memory.bytesOrReason(pcb, arch.pcbRegisterBytes(facts)) {
                case .success(let bytes): registers = arch.registers(pcb: bytes, facts)
                case .failure(let f): problem = "pcb at \(memory.hexAddress(pcb)): \(f.reason)"
                }
            }
            threads.append(KernelThread(
                tid: tid, pid: pid, comm: comm, name: name, cpu: cpu, state: state, isCrashed: crashed, pcb: pcb.map { VirtualAddress($0) },
                pcbSource: source, address: VirtualAddress(td),
                processAddress: VirtualAddress(proc), pcbProblem: problem, registerNames: arch.registerNames,
                registerValues: registers))
            count += 1
            td = arch.canonical(tf.pointer(o.threadPList, size: pointerBytes)!)
        }
        processes.append(KernelProcess(pid: pid, comm: comm, flags: flags, address: VirtualAddress(proc), threadCount: count))
        proc = arch.canonical(pf.pointer(o.procList, size: pointerBytes)!)
    }
    if let i = threads.firstIndex(where: { $0.isCrashed }), i > 0 {
        let crashed = threads.remove(at: i)
        threads.insert(crashed, at: 0)
    }
    if dumpTID != nil && !threads.contains(where: { $0.isCrashed }) {
        problems.append("dumptid \(dumpTID!): no thread with that tid on allproc")
    }
    return ThreadList(processes: processes, threads: threads, dumpTID: dumpTID, problems: problems, offsets: offsets,
                      architecture: arch.name, stoppcbsForm: stoppcbsForm, limits: limits,
                      symbolizer: KernelSymbolizer(kernel: kernel, classify: arch.symbolTag), memory: memory, arch: arch,
                      facts: facts)
}
