/// The export workload (issue 11): `kvmdump export` of dump (a) (memory only, no kernel image) to a
/// file and to /dev/null, and of the thread dump with its kernel (one NT_PRSTATUS per thread);
/// whole-process wall time and peak RSS. The summary goes to stdout (--json), which is /dev/null.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Times the exports; `dumps` are (key, path) of the datasets; the core files are removed afterwards.
func benchmarkExport(dumps: [(key: String, path: String)], threadDump: (dump: String, kernel: String),
                     directory: String, settings: RunSettings) throws(BenchError) -> [Figure] {
    var figures: [Figure] = []
    let core = directory + "/export.core"
    defer { unlink(core); unlink(core + ".gdb") }
    var cases: [(name: String, dump: String, argv: [String])] = []
    for (key, path) in dumps where key == "a" {
        cases.append(("kvmdump export to a file", key, ["-M", path, "export", "-o", core, "--force", "--json"]))
        cases.append(("kvmdump export to /dev/null", key, ["-M", path, "export", "-o", "/dev/null", "--force", "--json"]))
    }
    cases.append(("kvmdump export -N with threads to a file", "t",
                  ["-N", threadDump.kernel, "-M", threadDump.dump, "export", "-o", core, "--force", "--json"]))
    for (name, dump, arguments) in cases {
        note("[\(dump)] \(name)")
        let argv = [settings.kvmdump] + arguments
        let probe = try probeChild(argv, runs: settings.runs + 1)
        let measured = probe.runs.dropFirst()
        if let bad = measured.first(where: { $0.status != 0 }) {
            throw BenchError("\(argv.joined(separator: " ")) exited with status \(bad.status)")
        }
        figures.append(Figure(name: name + ": wall", dump: dump, unit: .seconds,
                              samples: Samples(values: measured.map(\.seconds))))
        figures.append(Figure(name: name + ": peak RSS", dump: dump, unit: .bytes,
                              samples: Samples(values: measured.map { Double($0.peakRSSBytes) })))
    }
    return figures
}
