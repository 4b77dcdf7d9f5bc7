/// Decoder throughput: `decompress-bench --generate PATH MB` writes a dump-like test file (a generated
/// minidump's metadata, then pages that are zero, text, kernel-pointer tables, code-like or random);
/// `decompress-bench gzip|zstd FILE [RUNS]` decodes FILE with our decoders and prints MB/s of output, by
/// the best wall time and by the best CPU time (user + system) of the runs.
/// `make bench-decompress` compares it with `gzip -dc` / `zstd -dc` on the same files.
import Decompress
import MappedBytes
import VMCoreBuilder

/// The compressed file, read through a mapped `ByteView`: the adapter the container seam needs.
struct ViewSource: ByteSource {
    let view: ByteView
    let size: UInt64
    var offset: UInt64 = 0
    mutating func read(into buffer: inout [UInt8], maxCount: Int) throws -> Int {
        let n = min(UInt64(maxCount), size - offset)
        guard n > 0, view.append(at: offset, length: n, to: &buffer) else { return 0 }
        offset += n
        return Int(n)
    }
}

func fail(_ s: String) -> Never {
    _ = writeUnbuffered(2, "decompress-bench: \(s)\n")
    exit(2)
}

#if canImport(Glibc)
import Glibc
#endif

func generate(path: String, megabytes: Int) throws {
    let out = try OutputFile(path: path, overwrite: true)
    let dump = try generateDump(DumpDescription.standard(version: 3, seed: 1)).bytes
    try out.write(dump)
    var written = dump.count
    var seed: UInt64 = 42
    while written < megabytes << 20 {
        let pages = dumpLikePages(count: 256, seed: seed)
        seed += 1
        try out.write(pages)
        written += pages.count
    }
    try out.finish()
}

var args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else { fail("usage: decompress-bench --generate PATH MB | gzip|zstd FILE [RUNS]") }
if mode == "--generate" {
    guard args.count == 3, let mb = Int(args[2]) else { fail("--generate PATH MB") }
    do { try generate(path: args[1], megabytes: mb) } catch { fail("\(error)") }
    exit(0)
}
guard args.count >= 2, mode == "gzip" || mode == "zstd" else { fail("usage: decompress-bench gzip|zstd FILE [RUNS]") }
let runs = args.count > 2 ? Int(args[2]) ?? 1 : 3
let file: MappedFile
do { file = try MappedFile(path: args[1]) } catch { fail("\(args[1]): \(error)") }
/// CPU seconds (user + system) this process has used: on a loaded machine a steadier figure than wall time.
func cpuSeconds() -> Double {
    var u = rusage()
    _ = getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

var best = Duration.seconds(1_000_000)
var bestCPU = 1e9
var total: UInt64 = 0
var stats = ""
for _ in 0..<runs {
    let clock = ContinuousClock()
    let start = clock.now
    let cpuStart = cpuSeconds()
    var out: [UInt8] = []
    out.reserveCapacity(1 << 20)
    total = 0
    do {
        let src = ViewSource(view: file.bytes, size: file.size)
        if mode == "gzip" {
            var s = InflateStream(source: src, format: .gzip)
            while try s.read(into: &out, maxCount: 1 << 20) > 0 { total += UInt64(out.count); out.removeAll(keepingCapacity: true) }
            stats = "blocks stored/fixed/dynamic \(s.blockCounts)"
        } else {
            var s = ZstdStream(source: src)
            while try s.read(into: &out, maxCount: 1 << 20) > 0 { total += UInt64(out.count); out.removeAll(keepingCapacity: true) }
            stats = "\(s.statistics)"
        }
    } catch { fail("\(args[1]): \(error)") }
    let t = clock.now - start
    if t < best { best = t }
    bestCPU = min(bestCPU, cpuSeconds() - cpuStart)
}
let secs = Double(best.components.seconds) + Double(best.components.attoseconds) / 1e18
print("\(mode) \(args[1]): \(total) bytes in \(secs) s (best of \(runs)): \(Int(Double(total) / secs / 1e6)) MB/s; "
      + "CPU \(bestCPU) s: \(Int(Double(total) / bestCPU / 1e6)) MB/s")
if CommandLine.arguments.contains("--stats") { print(stats) }
