/// Decoder throughput: `decompress-bench --generate PATH MB` writes a dump-like test file (a generated
/// minidump's metadata, then pages that are zero, text, kernel-pointer tables, code-like or random);
/// `decompress-bench gzip|zstd FILE [RUNS]` decodes FILE with our decoders and prints MB/s of output.
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
    var rng = SplitMix64(seed: 42)
    var written = dump.count
    let words = Array("the quick kernel panic trap vm_fault page fault while in kernel mode cpuid = 3 apic id = 03 fault virtual address = 0x0 stack pointer = 0x28:0xfffffe00 frame pointer code segment = base 0x0, limit 0xfffff, type 0x1b ".utf8)
    var page = [UInt8](repeating: 0, count: 4096)
    while written < megabytes << 20 {
        let kind = rng.next() % 10
        switch kind {
        case 0...3: for i in 0..<4096 { page[i] = 0 }
        case 4, 5:
            var i = 0
            while i < 4096 {
                let start = Int(rng.next() % UInt64(words.count - 40))
                let n = min(4096 - i, 5 + Int(rng.next() % 30))
                for k in 0..<n { page[i + k] = words[start + k] }
                i += n
            }
        case 6, 7:
            for w in 0..<512 {
                let v: UInt64 = rng.next() % 4 == 0 ? 0 : 0xffff_f800_0000_0000 | (rng.next() % 0x4000_0000) << 4
                for k in 0..<8 { page[w * 8 + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            }
        case 8:
            let ops: [UInt8] = [0x55, 0x48, 0x89, 0xe5, 0x41, 0x57, 0x41, 0x56, 0x53, 0x50, 0xe8, 0x8b, 0x45, 0xc3, 0x0f, 0x1f, 0x44, 0x00]
            for i in 0..<4096 { page[i] = rng.next() % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : ops[Int(rng.next() % UInt64(ops.count))] }
        default:
            for i in stride(from: 0, to: 4096, by: 8) {
                let v = rng.next()
                for k in 0..<8 { page[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            }
        }
        try out.write(page)
        written += 4096
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
let runs = args.count > 2 ? Int(args[2]) ?? 3 : 3
let file: MappedFile
do { file = try MappedFile(path: args[1]) } catch { fail("\(args[1]): \(error)") }
var best = Duration.seconds(1_000_000)
var total: UInt64 = 0
for _ in 0..<runs {
    let clock = ContinuousClock()
    let start = clock.now
    var out: [UInt8] = []
    out.reserveCapacity(1 << 20)
    total = 0
    do {
        let src = ViewSource(view: file.bytes, size: file.size)
        if mode == "gzip" {
            var s = InflateStream(source: src, format: .gzip)
            while try s.read(into: &out, maxCount: 1 << 20) > 0 { total += UInt64(out.count); out.removeAll(keepingCapacity: true) }
        } else {
            var s = ZstdStream(source: src)
            while try s.read(into: &out, maxCount: 1 << 20) > 0 { total += UInt64(out.count); out.removeAll(keepingCapacity: true) }
        }
    } catch { fail("\(args[1]): \(error)") }
    let t = clock.now - start
    if t < best { best = t }
}
let secs = Double(best.components.seconds) + Double(best.components.attoseconds) / 1e18
print("\(mode) \(args[1]): \(total) bytes in \(secs) s (best of \(runs)): \(Int(Double(total) / secs / 1e6)) MB/s")
