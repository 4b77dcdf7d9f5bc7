// kvmdump-bench: generates realistic dumps once, measures MinidumpCore and the kvmdump CLI on them,
// compares the popcount-bin index with the designs it replaced, and prints one table.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let usage = """
    usage: kvmdump-bench [--smoke] [--cache DIR] [--runs N]
           kvmdump-bench --profile WORKLOAD [--smoke] [--cache DIR] [--dump a|b|c] [--ops N] [--repeat N]
    --smoke     tiny dumps in a temporary folder and a few thousand operations (seconds)
    --cache     where the full-size dumps are generated once (default .bench-cache)
    --runs      runs per figure; each figure is the median, with min and max (default 5; smoke 2)
    --profile   run one workload once, for valgrind --tool=callgrind: \(profileWorkloads.joined(separator: ", "))
    --repeat    with --profile: run it N times and report the fastest
    """

/// Parsed command line.
struct BenchOptions {
    var smoke = false
    var cache = ".bench-cache"
    var runs: Int?
    var profile: String?
    var dump = "a"
    var ops = 200_000
    var repeats = 1
    var probe: (runs: Int, argv: [String])?

    init(_ arguments: [String]) throws(BenchError) {
        var args = arguments[...]
        func value(_ option: String) throws(BenchError) -> String {
            guard let next = args.popFirst() else { throw BenchError("\(option) needs a value\n\(usage)") }
            return next
        }
        func number(_ option: String) throws(BenchError) -> Int {
            guard let parsed = Int(try value(option)), parsed > 0 else { throw BenchError("\(option) needs a positive number") }
            return parsed
        }
        while let argument = args.popFirst() {
            switch argument {
            case "--smoke": smoke = true
            case "--cache": cache = try value(argument)
            case "--runs": runs = try number(argument)
            case "--profile": profile = try value(argument)
            case "--dump": dump = try value(argument)
            case "--ops": ops = try number(argument)
            case "--repeat": repeats = try number(argument)
            case "--probe-child":
                let count = try number(argument)
                guard args.popFirst() == "--", !args.isEmpty else { throw BenchError("--probe-child N -- ARGV...") }
                probe = (count, Array(args))
                args = []
            case "-h", "--help":
                print(usage)
                exit(0)
            default: throw BenchError("unknown argument '\(argument)'\n\(usage)")
            }
        }
    }
}

/// One line describing this machine: CPUs, CPU model, kernel, memory.
func machineDescription() -> String {
    let cpuinfo = readText(atPath: "/proc/cpuinfo") ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { $0.split(separator: ":", maxSplits: 1).last!.trimmingPrefix(" ") } ?? "unknown CPU"
    var names = utsname()
    uname(&names)
    let release = withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let memory = (readText(atPath: "/proc/meminfo") ?? "").split(separator: "\n").first { $0.hasPrefix("MemTotal") }
        .map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "?" } ?? "?"
    let gib = (Double(memory) ?? 0) / 1024 / 1024
    return "\(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs (\(model)), Linux \(release), \(formatShort(gib)) GiB RAM"
}

/// When this benchmark and the `kvmdump` it runs were built (UTC modification times), so that a stale
/// `kvmdump` (a release build of the benchmark alone does not rebuild it) shows in the report.
func binaryStamps() throws(BenchError) -> String {
    func modified(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "\(path) (cannot stat: errno \(errno))" }
        #if canImport(Darwin)
        var seconds = info.st_mtimespec.tv_sec
        #else
        var seconds = info.st_mtim.tv_sec
        #endif
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(path) \(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }
    return "kvmdump-bench \(modified(try executablePath())), kvmdump \(modified(try kvmdumpPath()))"
}

/// The 1-minute load average from /proc/loadavg.
func loadAverage() -> String {
    (readText(atPath: "/proc/loadavg") ?? "?").split(separator: " ").first.map(String.init) ?? "?"
}

/// A fresh temporary folder for the smoke dumps.
func temporaryDirectory() throws(BenchError) -> String {
    var template = Array("/tmp/kvmdump-bench.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw BenchError("mkdtemp: errno \(errno)") }
    return String(cString: made)
}

/// Removes the smoke dumps and their folder.
func removeDirectory(_ directory: String, files: [String]) {
    for file in files {
        unlink(file)
        unlink(file + ".stamp")
    }
    rmdir(directory)
}

/// One `kvmdump read` on (c) against one on (a), wall and peak RSS (the issue's target: at most 2×),
/// with the index cache as users get it and without it.
func oneShotRatios(_ figures: [Figure]) -> [Figure] {
    var rows: [Figure] = []
    for (suffix, label) in [("", ""), (", KVMDUMP_INDEX_CACHE=0", " (no index cache)")] {
        for (measure, unit) in [("wall", "wall"), ("peak RSS", "peak RSS")] {
            let name = "kvmdump read --len 64\(suffix): \(measure)"
            guard let a = figures.first(where: { $0.name == name && $0.dump == "a" }),
                  let c = figures.first(where: { $0.name == name && $0.dump == "c" }), a.samples.median > 0 else { continue }
            rows.append(Figure(name: "ratio kvmdump read (c) / (a)\(label): \(unit)", dump: "c", unit: .ratio,
                               samples: c.samples.scaled(by: 1 / a.samples.median), target: suffix.isEmpty ? .atMost(2) : nil))
        }
    }
    return rows
}

/// The whole benchmark: prepare the dumps, measure each, print the table.
func runBenchmark(_ options: BenchOptions) throws(BenchError) {
    let started = ContinuousClock().now
    let startLoad = loadAverage()
    let datasets = options.smoke ? smokeDatasets() : fullDatasets()
    let directory = options.smoke ? try temporaryDirectory() : options.cache
    let paths = try prepareDumps(datasets, in: directory)
    defer { if options.smoke { removeDirectory(directory, files: paths) } }
    // Every child's caches (decompressed dumps, page indexes) in a directory of the run's own.
    setenv("KVMDUMP_CACHE", directory + "/kvmdump-bench-cache", 1)
    unsetenv("KVMDUMP_INDEX_CACHE")
    clearCache(benchCacheDirectory())
    defer { clearCache(benchCacheDirectory()) }
    let settings = RunSettings(runs: options.runs ?? (options.smoke ? 2 : 5), smoke: options.smoke,
                               kvmdump: try kvmdumpPath())
    var checksum = Checksum()
    var figures: [Figure] = []
    var floors: [String] = []
    for (dataset, path) in zip(datasets, paths) {
        let results = try benchmarkDump(dataset, path: path, settings: settings, checksum: &checksum)
        figures += results.figures
        floors.append("\(dataset.key) \(formatValue(Double(results.probeFloorBytes), .bytes))")
    }
    let threadRun = try benchmarkThreads(directory: directory, settings: settings)
    figures += threadRun.figures
    defer { if options.smoke { for file in threadRun.files { unlink(file); unlink(file + ".stamp") } } }
    let fullRun = try benchmarkFullDump(directory: directory, settings: settings)
    figures += fullRun.figures
    defer { if options.smoke { for file in fullRun.files { unlink(file); unlink(file + ".stamp") } } }
    let archRun = try benchmarkArchitectures(directory: directory, settings: settings, checksum: &checksum)
    figures += archRun.figures
    defer { if options.smoke { for file in archRun.files { unlink(file); unlink(file + ".stamp") } } }
    figures += try benchmarkExport(dumps: zip(datasets, paths).map { (key: $0.0.key, path: $0.1) },
                                   threadDump: (threadRun.files[0], threadRun.files[1]), directory: directory, settings: settings)
    figures += oneShotRatios(figures)
    let elapsed = (ContinuousClock().now - started).seconds
    var report = "kvmdump-bench\(options.smoke ? " --smoke" : ""): \(settings.runs) runs per figure (median, min, max)\n"
    report += "machine: \(machineDescription())\n"
    report += "load average (1 min) at start \(startLoad), at end \(loadAverage()); other processes share the CPUs\n"
    report += "binaries: \(try binaryStamps())\n"
    for (dataset, path) in zip(datasets, paths) { report += "dump \(dataset.key): \(dataset.label): \(path)\n" }
    report += "dump t: \(options.smoke ? smokeThreadCount : benchThreadCount) threads (thread fixture): \(threadRun.files[0])\n"
    report += "dump f: ELF full dump, kernel at a quarter of RAM (tables found by the search): \(fullRun.files[0])\n"
    for (label, file) in zip(archRun.labels, archRun.files) { report += "\(label): \(file)\n" }
    report += "\n" + renderTable(figures, targetsApply: !options.smoke)
    let missed = figures.filter { $0.met == false }
    if !options.smoke {
        report += "\ntargets: \(figures.filter { $0.met == true }.count) met, \(missed.count) missed"
        report += missed.isEmpty ? "\n" : ": " + missed.map { "\($0.name) (\($0.dump))" }.joined(separator: "; ") + "\n"
    }
    report += "probe process peak RSS (floor of the kvmdump read RSS figure): \(floors.joined(separator: ", "))\n"
    report += "checksum \(String(checksum.value, radix: 16)); total \(formatShort(elapsed)) s\n"
    print(report, terminator: "")
}

do {
    let options = try BenchOptions(Array(CommandLine.arguments.dropFirst()))
    if let probe = options.probe {
        try probeChildMain(runs: probe.runs, argv: probe.argv)
    } else if let workload = options.profile {
        try runProfile(workload, options: options)
    } else {
        try runBenchmark(options)
    }
} catch {
    note("kvmdump-bench: \(error)")
    exit(1)
}
