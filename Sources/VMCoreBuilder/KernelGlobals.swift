// The kernel variables every 64-bit thread fixture (amd64, arm64, riscv) writes the same way.

extension VirtualImage {
    /// Writes `hostname`, `panicbuf` with `panicstr` pointing at it, `msgbufp`, `dumptid`, `mp_maxid`,
    /// `mp_ncpus`, `time_second`, `time_uptime` and the `stopped_cpus` word at their addresses in `addr`.
    /// Throws if a stopped CPU is not below `cpuCount`.
    mutating func writeKernelGlobals(_ addr: [String: UInt64], hostname: String, panicString: String, msgbufp: UInt64,
                                     dumpTID: Int32, cpuCount: Int, stoppedCPUs: [Int]) throws(GeneratorError) {
        write(addr["hostname"]!, Array(hostname.utf8) + [0])
        write(addr["panicbuf"]!, Array(panicString.utf8) + [0])
        u64(addr["panicstr"]!, addr["panicbuf"]!)
        u64(addr["msgbufp"]!, msgbufp)
        u32(addr["dumptid"]!, UInt32(bitPattern: dumpTID))
        u32(addr["mp_maxid"]!, UInt32(cpuCount - 1))
        u32(addr["mp_ncpus"]!, UInt32(cpuCount))
        u64(addr["time_second"]!, KernelFixture.timeSecond)
        u64(addr["time_uptime"]!, KernelFixture.timeUptime)
        var stoppedWord: UInt64 = 0
        for cpu in stoppedCPUs {
            guard cpu >= 0, cpu < cpuCount else { throw .invalidDescription("stopped CPU \(cpu) is not below cpuCount") }
            stoppedWord |= 1 << UInt64(cpu)
        }
        u64(addr["stopped_cpus"]!, stoppedWord)
    }
}
