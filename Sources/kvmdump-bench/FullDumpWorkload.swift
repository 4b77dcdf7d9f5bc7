/// The full-dump workload (issue 14): an amd64 ELF full dump whose kernel is not at 2 MiB, so the
/// page tables are found by the search. Whole-process wall time and peak RSS of `kvmdump stats -N`
/// (the search, then the census of the kernel's 4-level tables), `read --physical` of 64 MiB and a
/// `translate` through the tables.
import VMCoreBuilder

/// RAM of the full and the smoke full dump.
let benchFullDumpRAM: UInt64 = 256 << 20
let smokeFullDumpRAM: UInt64 = 16 << 20

/// Generates (once, stamped) the full dump and its kernel; returns their paths.
func prepareFullDump(in directory: String, ram: UInt64) throws(BenchError) -> (dump: String, kernel: String) {
    let base = directory + "/vmcore.bench-full-\(ram >> 20)m"
    let kernelPath = directory + "/kernel.bench-full"
    let stampPath = base + ".stamp"
    let machine = DumpDescription(
        version: 3, seed: 5, physicalRanges: [0x1000..<0x9_f000, 0x10_0000..<ram], kernelMapSlots: 4,
        mappings: [KernelMapping(virtualAddress: 0xffff_fe00_0100_0000, pageSize: .size2M, count: ram >= 64 << 20 ? 4 : 1),
                   KernelMapping(virtualAddress: 0xffff_fe00_0020_0000, pageSize: .size4K, count: 256)],
        messageBuffer: .panicDmesg(seed: 5, physicalMemory: ram, reservedSize: 8192), stampPages: false)
    let description = FullDumpOfMachine(machine: machine, kernelPhysicalBase: ram / 4, ram: .dumpAvail)
    let stamp = "\(cacheFormatVersion) full \(String(fingerprint(String(reflecting: description)), radix: 16))"
    if fileSize(atPath: base) != nil, fileSize(atPath: kernelPath) != nil, readText(atPath: stampPath) == stamp {
        return (base, kernelPath)
    }
    note("generating \(base) (\(ram >> 20) MiB of RAM)")
    do {
        let seconds = try timeSeconds { () throws(GeneratorError) in
            try writeFile(try generateFullDump(description).bytes, toPath: base)
            try writeFile(makeKernelELF(fullDumpKernel(KernelFixture.kernelDescription())), toPath: kernelPath)
        }
        note("  \(fileSize(atPath: base) ?? 0) bytes in \(formatFixed(seconds, 2)) s")
    } catch {
        throw BenchError("generating \(base): \(error)")
    }
    try writeText(stamp, atPath: stampPath)
    return (base, kernelPath)
}

/// Times the full-dump commands, each a fresh process.
func benchmarkFullDump(directory: String, settings: RunSettings) throws(BenchError) -> (figures: [Figure], files: [String]) {
    let ram = settings.smoke ? smokeFullDumpRAM : benchFullDumpRAM
    let (dump, kernel) = try prepareFullDump(in: directory, ram: ram)
    let length = min(ram / 4, 64 << 20)
    let commands: [(String, [String])] = [
        ("kvmdump stats -N (full dump, \(ram >> 20) MiB, tables searched)", ["stats", "-N", kernel]),
        ("kvmdump read --physical --raw (full dump, \(length >> 20) MiB)",
         ["read", "--physical", String(ram / 2), "--len", String(length), "--raw"]),
        ("kvmdump translate -N KPML4phys (full dump)", ["translate", "-N", kernel, "KPML4phys"]),
    ]
    var figures: [Figure] = []
    for (name, arguments) in commands {
        note("[f] \(name)")
        let argv = [settings.kvmdump] + arguments + ["-M", dump]
        let probe = try probeChild(argv, runs: settings.runs + 1)
        let measured = probe.runs.dropFirst()
        if let bad = measured.first(where: { $0.status != 0 }) {
            throw BenchError("\(argv.joined(separator: " ")) exited with status \(bad.status)")
        }
        figures.append(Figure(name: name + ": wall", dump: "f", unit: .seconds, samples: Samples(values: measured.map(\.seconds))))
        figures.append(Figure(name: name + ": peak RSS", dump: "f", unit: .bytes,
                              samples: Samples(values: measured.map { Double($0.peakRSSBytes) })))
    }
    return (figures, [dump, kernel])
}
