/// Writes the thread fuzzer's seeds: for every corruption the generator can make, the patches that turn
/// the golden `vmcore.2` into that corrupt dump (so the fuzzer starts from each broken structure),
/// plus an empty input (the golden dump itself). Built by `make fuzz-threads-build` against VMCoreBuilder.
///
/// Usage: `make-thread-seeds DIR`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import VMCoreBuilder

private func fatal(_ message: String) -> Never {
    let line = Array("make-thread-seeds: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

private func save(_ bytes: [UInt8], _ path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { fatal("cannot create \(path)") }
    defer { close(fd) }
    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { fatal("cannot write \(path)") }
}

/// Patch records ([u32 offset][u8 length][bytes]) turning `a` into `b` (same length).
private func patches(from a: [UInt8], to b: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < min(a.count, b.count) {
        guard a[i] != b[i] else { i += 1; continue }
        var j = i
        while j < b.count && j - i < 255 && a[j] != b[j] { j += 1 }
        for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: i >> (8 * k))) }
        out.append(UInt8(j - i))
        out += b[i..<j]
        i = j
    }
    return out
}

@main
struct MakeThreadSeeds {
    static func main() {
        guard CommandLine.arguments.count == 2 else { fatal("usage: make-thread-seeds DIR") }
        let directory = CommandLine.arguments[1]
        let corruptions: [(String, ThreadCorruption)] = [
            ("proc-cycle", .processListCycle), ("thread-cycle", .threadListCycle(tid: 100_092)),
            ("proc-unmapped", .processPointerUnmapped(index: 3)), ("frame-loop", .frameLoop(tid: 100_090, frame: 2)),
            ("zero-ra", .zeroReturnAddress(tid: 100_002, frame: 4)), ("fp-unmapped", .framePointerUnmapped(tid: 100_020, frame: 1)),
            ("pcb-unmapped", .pcbUnmapped(tid: 100_004)), ("pcb-zero-pc", .pcbZeroPC(tid: 100_005)),
            ("pcb-null", .pcbNull(tid: 100_006)), ("crashed-loop", .frameLoop(tid: 100_123, frame: 9)),
            ("absurd-offset", .absurdOffset(symbol: "thread_off_td_name", value: 0x7fff_0000)),
        ]
        do {
            let golden = try generateDump(try threadFixture().dump).bytes
            save([], directory + "/golden")
            for (name, corruption) in corruptions {
                var d = ThreadsDescription.golden()
                d.corruptions = [corruption]
                let corrupt = try generateDump(try threadFixture(d).dump).bytes
                guard corrupt.count == golden.count else { fatal("\(name): the corrupt dump has another size") }
                save(patches(from: golden, to: corrupt), directory + "/" + name)
            }
        } catch {
            fatal("\(error)")
        }
        print("make-thread-seeds: \(corruptions.count + 1) seeds in \(directory)")
    }
}
