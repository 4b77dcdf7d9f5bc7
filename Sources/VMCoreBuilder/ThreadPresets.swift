// The thread fixtures: the golden `vmcore.2` + `kernel.2` scenario, its array-form twin, the
// corrupt variants and the 10,000-thread benchmark machine.

extension ThreadsDescription {
    /// The golden scenario (`vmcore.2`): 4 CPUs; CPU 1 panics (page fault in a sysctl handler reached from
    /// `sysctl(2)`), CPUs 0 and 2 are stopped by the panic NMI (CPU 0 inside its timer interrupt handler,
    /// entered through `Xtimerint` from the idle loop), CPU 3 never answered (missing from
    /// `stopped_cpus`, so its thread is unwound from its stale `td_pcb`, as kgdb does).
    /// FreeBSD 14.1 (`osreldate` 1401000): `stoppcbs` is a pointer.
    public static func golden(osreldate: UInt32 = KernelFixture.osreldate) -> ThreadsDescription {
        let selectCalls = ["sleepq_switch", "sleepq_catch_signals", "sleepq_wait_sig", "_cv_wait_sig", "seltdwait",
                           "kern_select", "sys_select"]
        let processes = [
            ProcessDescription(pid: 806, comm: "sysctl", threads: [
                ThreadDescription(tid: Int32(KernelFixture.dumpThreadID), name: "sysctl", onCPU: 1, activity: .crashed),
            ]),
            ProcessDescription(pid: 805, comm: "dd", threads: [
                ThreadDescription(tid: 100_122, name: "dd", onCPU: 2,
                                  activity: .stoppedByNMI(interrupted: ["uiomove_faultflag", "ffs_read", "vn_read", "vn_io_fault",
                                                                        "dofileread", "kern_readv", "sys_read"], syscall: 3)),
            ]),
            ProcessDescription(pid: 804, comm: "sh", threads: [
                ThreadDescription(tid: 100_121, name: "sh", activity: .sleepingInSyscall(
                    calls: ["sleepq_switch", "sleepq_catch_signals", "sleepq_wait_sig", "_sleep", "kern_wait6", "sys_wait4"],
                    syscall: 7)),
            ]),
            ProcessDescription(pid: 28, comm: "pagedaemon", flags: 0x1000_0204, threads: [
                ThreadDescription(tid: 100_090, name: "dom0", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep", "vm_pageout_worker", "vm_pageout"])),
                ThreadDescription(tid: 100_091, name: "laundry: dom0", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_timedwait", "_sleep", "vm_pageout_laundry_worker"])),
                ThreadDescription(tid: 100_092, name: "uma", activity: .sleepingKernelThread(
                    calls: ["sleepq_switch", "sleepq_wait", "_sleep", "uma_reclaim_worker"])),
            ]),
            ProcessDescription(pid: 12, comm: "intr", flags: 0x1000_0204, threads: [
                ThreadDescription(tid: 100_020, name: "swi4: clock (0)", activity: .sleepingKernelThread(calls: ["ithread_loop"])),
                ThreadDescription(tid: 100_021, name: "irq24: virtio_pci0", onCPU: 3,
                                  activity: .sleepingKernelThread(calls: ["ithread_loop"])),
            ]),
            ProcessDescription(pid: 11, comm: "idle", flags: 0x1000_0204, threads: [
                ThreadDescription(tid: 100_003, name: "idle: cpu0", onCPU: 0, activity: .stoppedByNMIInTimerInterrupt(
                    interrupted: ["acpi_cpu_idle", "cpu_idle", "sched_idletd"], handler: ["handleevents", "lapic_handle_timer"])),
                ThreadDescription(tid: 100_004, name: "idle: cpu1", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
                ThreadDescription(tid: 100_005, name: "idle: cpu2", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
                ThreadDescription(tid: 100_006, name: "idle: cpu3", activity: .sleepingKernelThread(calls: ["sched_idletd"])),
            ]),
            ProcessDescription(pid: 1, comm: "init", threads: [
                ThreadDescription(tid: 100_002, name: "init", activity: .sleepingInSyscall(calls: selectCalls, syscall: 93)),
            ]),
            ProcessDescription(pid: 0, comm: "kernel", flags: 0x1000_0204, threads: [
                ThreadDescription(tid: 100_000, name: "swapper", activity: .sleepingKernelThread(calls: ["sleepq_switch", "sleepq_timedwait", "_sleep"])),
                ThreadDescription(tid: 100_007, name: "thread taskq", activity: .neverRan),
                ThreadDescription(tid: 100_008, name: "", activity: .sleepingKernelThread(calls: ["sleepq_switch", "sleepq_wait", "_cv_wait", "taskqueue_thread_loop"])),
            ]),
        ]
        return ThreadsDescription(osreldate: osreldate, cpuCount: 4, stoppedCPUs: [0, 2], processes: processes,
                                  dumpTID: Int32(KernelFixture.dumpThreadID))
    }

    /// The benchmark machine: `threads` threads (16 KiB stacks, 11–12 frames each) in processes of 1–8 threads,
    /// plus the crashed thread and 8 idle threads (CPU 0 and 2–7 stopped by NMI).
    public static func bench(threads: Int) -> ThreadsDescription {
        var rng = SplitMix64(seed: 0x6265_6e63_6874_6872)
        var processes: [ProcessDescription] = []
        var tid: Int32 = 100_200
        var pid: Int32 = 90_000
        var made = 0
        let calls: [[String]] = [
            ["sleepq_switch", "sleepq_catch_signals", "sleepq_wait_sig", "_cv_wait_sig", "seltdwait", "kern_select", "sys_select"],
            ["sleepq_switch", "sleepq_catch_signals", "sleepq_wait_sig", "_sleep", "kern_wait6", "sys_wait4"],
            ["sleepq_switch", "sleepq_catch_signals", "sleepq_wait_sig", "_cv_wait_sig", "seltdwait", "kern_poll", "sys_poll"],
            ["sleepq_switch", "sleepq_catch_signals", "sleepq_timedwait", "_sleep", "kern_nanosleep", "sys_nanosleep"],
        ]
        let target = max(0, threads - 9)
        while made < target {
            let n = min(target - made, 1 + Int(rng.next(below: 8)))
            var list: [ThreadDescription] = []
            for i in 0..<n {
                list.append(ThreadDescription(tid: tid, name: i == 0 ? "worker" : "worker \(i)", activity: .sleepingInSyscall(
                    calls: calls[Int(rng.next(below: UInt64(calls.count)))], syscall: 93)))
                tid += 1
            }
            processes.append(ProcessDescription(pid: pid, comm: "worker", threads: list))
            pid -= 1
            made += n
        }
        var golden = ThreadsDescription.golden()
        var idle: [ThreadDescription] = []
        for cpu in 0..<8 {
            let activity: ThreadActivity = cpu == 1 ? .sleepingKernelThread(calls: ["sched_idletd"])
                : .stoppedByNMI(interrupted: ["acpi_cpu_idle", "cpu_idle", "sched_idletd"], syscall: nil)
            idle.append(ThreadDescription(tid: Int32(100_003 + cpu), name: "idle: cpu\(cpu)", onCPU: cpu == 1 ? nil : cpu,
                                          activity: activity))
        }
        golden.processes = [golden.processes[0]] + processes + [ProcessDescription(pid: 11, comm: "idle", flags: 0x1000_0204, threads: idle)]
        golden.cpuCount = 8
        golden.stoppedCPUs = [0, 2, 3, 4, 5, 6, 7]
        golden.stampPages = false
        return golden
    }
}

/// The thread fixture of `d` on the standard v3 dump (small scenarios).
public func threadFixture(_ d: ThreadsDescription = .golden()) throws(GeneratorError) -> ThreadFixture {
    try makeThreadFixture(d, base: .standard(version: 3, seed: 0))
}

/// The benchmark thread fixture: `threads` threads on a 1 GiB machine whose ordinary pages are holes.
public func benchThreadFixture(threads: Int = 10_000) throws(GeneratorError) -> ThreadFixture {
    let ranges: [Range<UInt64>] = [0x1000..<0x9_f000, 0x10_0000..<0x4000_0000]
    let base = DumpDescription(version: 3, seed: 0, physicalRanges: ranges, kernelMapSlots: 4,
                               messageBuffer: .panicDmesg(seed: 0, physicalMemory: 0x3ff9_e000, reservedSize: 8192),
                               stampPages: false)
    return try makeThreadFixture(.bench(threads: threads), base: base)
}

/// `vmcore.2` and `kernel.2`: the golden thread fixture.
func goldenThreadFixture() -> ThreadFixture {
    do {
        return try threadFixture()
    } catch {
        fatalError("the golden thread fixture does not build: \(error)")
    }
}
