/// The compressed-dump workload (issue 13): dump (a) compressed by the system `zstd -6` and `gzip -6`
/// (the kernel's level), then one `kvmdump read --len 64` before the decompressed cache exists (the
/// whole-stream pass included) and after (the cache reused), and `kvmdump header`, which decodes only
/// the metadata prefix. Whole-process wall time; each "before" run gets an empty cache directory.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `argv` to completion; its exit status.
private func runTool(_ argv: [String], stdout: Int32? = nil) throws(BenchError) -> Int32 {
    try reap(try spawn(argv, stdin: nil, stdout: stdout)).status
}

/// `dump` compressed by `tool -6` into `dump + suffix` (kept beside the generated dump, made again
/// when older than it); nil with a note when the tool is not installed.
private func compressedCopy(_ dump: String, tool: String, suffix: String) throws(BenchError) -> String? {
    guard access(tool, X_OK) == 0 else {
        note("*** \(tool) is not installed: no \(suffix) rows ***")
        return nil
    }
    let target = dump + suffix
    var source = stat(), existing = stat()
    if stat(target, &existing) == 0, stat(dump, &source) == 0, existing.st_mtim.tv_sec >= source.st_mtim.tv_sec {
        return target
    }
    note("compressing \(dump) with \(tool) -6")
    let fd = open(target + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw BenchError("cannot create \(target).tmp: errno \(errno)") }
    let status = try runTool([tool, "-6", "-c", dump], stdout: fd)
    close(fd)
    guard status == 0, rename(target + ".tmp", target) == 0 else {
        unlink(target + ".tmp")
        throw BenchError("\(tool) -6 -c \(dump) failed (status \(status))")
    }
    return target
}

/// The cache directory every child of the benchmark uses (`KVMDUMP_CACHE`, set by `runBenchmark`),
/// so that nothing is written to the user's own cache.
func benchCacheDirectory() -> String { getenv("KVMDUMP_CACHE").map { String(cString: $0) } ?? "/nonexistent" }

/// Removes the cache directory's entries and the directory.
func clearCache(_ directory: String) {
    guard let handle = opendir(directory) else { return }
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { unlink(directory + "/" + name) }
    }
    closedir(handle)
    rmdir(directory)
}

/// The rows for dump (a) at `path`, reading `address`; `directory` holds the copies and the caches.
func benchmarkCompressed(path: String, address: UInt64, directory: String, settings: RunSettings) throws(BenchError) -> [Figure] {
    var figures: [Figure] = []
    let cache = benchCacheDirectory()
    defer { clearCache(cache) }
    let read = ["read", "0x" + String(address, radix: 16), "--len", "64"]
    for (tool, suffix) in [("/usr/bin/zstd", ".zst"), ("/usr/bin/gzip", ".gz")] {
        guard let copy = try compressedCopy(path, tool: tool, suffix: suffix) else { continue }
        defer { if settings.smoke { unlink(copy) } }
        let argv = [settings.kvmdump, "-M", copy] + read
        note("[a] kvmdump read on \(suffix): before the cache exists")
        var cold: [Double] = []
        for _ in 0..<max(1, min(settings.runs, 3)) {
            clearCache(cache)
            let outcome = try measureChild(argv)
            guard outcome.status == 0 else { throw BenchError("\(argv.joined(separator: " ")) exited with status \(outcome.status)") }
            cold.append(outcome.seconds)
        }
        figures.append(Figure(name: "kvmdump read --len 64 on \(suffix): before the cache (one pass)", dump: "a",
                              unit: .seconds, samples: Samples(values: cold)))
        note("[a] kvmdump read on \(suffix): the cache reused")
        let warm = try probeChild(argv, runs: settings.runs + 1)
        let measured = warm.runs.dropFirst()
        if let bad = measured.first(where: { $0.status != 0 }) {
            throw BenchError("\(argv.joined(separator: " ")) exited with status \(bad.status)")
        }
        figures.append(Figure(name: "kvmdump read --len 64 on \(suffix): cache reused", dump: "a", unit: .seconds,
                              samples: Samples(values: measured.map(\.seconds))))
        figures.append(Figure(name: "kvmdump read --len 64 on \(suffix): cache reused, peak RSS", dump: "a", unit: .bytes,
                              samples: Samples(values: measured.map { Double($0.peakRSSBytes) })))
        clearCache(cache)
        let header = try probeChild([settings.kvmdump, "header", "-M", copy], runs: settings.runs + 1)
        figures.append(Figure(name: "kvmdump header on \(suffix) (metadata prefix only)", dump: "a", unit: .seconds,
                              samples: Samples(values: header.runs.dropFirst().map(\.seconds))))
    }
    return figures
}
