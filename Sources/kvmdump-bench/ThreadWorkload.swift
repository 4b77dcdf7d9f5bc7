/// The thread workload (issue 10): `kvmdump bt --all` and `kvmdump ps` on a dump with 10,000 threads
/// (16 KiB stacks, 11–12 frames each), whole-process wall time and peak RSS.
import VMCoreBuilder

/// Threads in the full and the smoke thread dump.
let benchThreadCount = 10_000
let smokeThreadCount = 200

/// Generates (once, stamped like the other dumps) the thread dump and its kernel; returns their paths.
func prepareThreadDump(in directory: String, threads: Int) throws(BenchError) -> (dump: String, kernel: String) {
    let base = directory + "/vmcore.bench-threads-\(threads)"
    let kernelPath = directory + "/kernel.bench-threads-\(threads)"
    let stampPath = base + ".stamp"
    let fixture: ThreadFixture
    do {
        fixture = try benchThreadFixture(threads: threads)
    } catch {
        throw BenchError("thread fixture: \(error)")
    }
    let stamp = "\(cacheFormatVersion) threads \(threads) \(String(fingerprint(String(reflecting: fixture.dump)), radix: 16))"
    if fileSize(atPath: base) != nil, fileSize(atPath: kernelPath) != nil, readText(atPath: stampPath) == stamp {
        return (base, kernelPath)
    }
    note("generating \(base) (\(threads) threads)")
    do {
        let seconds = try timeSeconds { () throws(GeneratorError) in
            _ = try writeDump(fixture.dump, to: base)
            try writeFile(makeKernelELF(fixture.kernel), toPath: kernelPath)
        }
        note("  \(fileSize(atPath: base) ?? 0) bytes in \(formatFixed(seconds, 2)) s")
    } catch {
        throw BenchError("generating \(base): \(error)")
    }
    try writeText(stamp, atPath: stampPath)
    return (base, kernelPath)
}

/// Times `kvmdump bt --all`, `bt --all --json` and `ps` on the thread dump, each a fresh process.
func benchmarkThreads(directory: String, settings: RunSettings) throws(BenchError) -> (figures: [Figure], files: [String]) {
    let threads = settings.smoke ? smokeThreadCount : benchThreadCount
    let (dump, kernel) = try prepareThreadDump(in: directory, threads: threads)
    var figures: [Figure] = []
    let commands: [(String, [String], Target?)] = [
        ("kvmdump bt --all (\(threads) threads)", ["bt", "--all"], settings.smoke ? nil : .atMost(0.050)),
        ("kvmdump bt --all --json (\(threads) threads)", ["bt", "--all", "--json"], nil),
        ("kvmdump ps (\(threads) threads)", ["ps"], nil),
    ]
    for (name, arguments, target) in commands {
        note("[t] \(name)")
        let argv = [settings.kvmdump] + arguments + ["-N", kernel, "-M", dump]
        let probe = try probeChild(argv, runs: settings.runs + 1)
        let measured = probe.runs.dropFirst()
        if let bad = measured.first(where: { $0.status != 0 }) {
            throw BenchError("\(argv.joined(separator: " ")) exited with status \(bad.status)")
        }
        figures.append(Figure(name: name + ": wall", dump: "t", unit: .seconds,
                              samples: Samples(values: measured.map(\.seconds)), target: target))
        figures.append(Figure(name: name + ": peak RSS", dump: "t", unit: .bytes,
                              samples: Samples(values: measured.map { Double($0.peakRSSBytes) })))
    }
    return (figures, [dump, kernel])
}
