import Foundation
import Testing
import VMCoreBuilder
@testable import Decompress

/// The reference tools the tests compare against; missing tools fail the tests loudly.
enum Tool {
    static let gzip = "/usr/bin/gzip"
    static let zstd = "/usr/bin/zstd"

    static func require(_ path: String) {
        #expect(FileManager.default.isExecutableFile(atPath: path), "\(path) is needed by the decoder tests and is missing")
    }

    static let scratch: URL = {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdump-decompress-\(getpid())")
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }()

    /// Run `tool args < input` through files; the tool's stdout.
    /// With `asFile`, the input is named on the command line instead of piped (zstd then records the
    /// content size in the frame header).
    static func run(_ tool: String, _ args: [String], input: [UInt8], asFile: Bool = false) throws -> [UInt8] {
        require(tool)
        let id = UUID().uuidString
        let inURL = scratch.appendingPathComponent("in-\(id)")
        let outURL = scratch.appendingPathComponent("out-\(id)")
        defer {
            try? FileManager.default.removeItem(at: inURL)
            try? FileManager.default.removeItem(at: outURL)
        }
        try Data(input).write(to: inURL)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = asFile ? args + [inURL.path] : args
        p.standardInput = try FileHandle(forReadingFrom: inURL)
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(tool) \(args) exited \(p.terminationStatus)")
        return [UInt8](try Data(contentsOf: outURL))
    }
}

/// Test inputs: a generated dump, random bytes, text-like bytes, runs and mixtures.
enum Inputs {
    static let dump: [UInt8] = try! generateDump(DumpDescription.standard(version: 3, seed: 7)).bytes

    static func random(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var out = [UInt8]()
        out.reserveCapacity(n)
        while out.count < n {
            let v = rng.next()
            for k in 0..<8 where out.count < n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) }
        }
        return out
    }

    /// Words from a small vocabulary, runs of one byte, random stretches, repeats at long distances.
    static func structured(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        let words = ["kernel", "panic", "page", "fault", " ", "\n", "0x", "ffffffff80", "vm_fault", "trap", "<6>", "cpu"]
        var out = [UInt8]()
        out.reserveCapacity(n + 70000)
        while out.count < n {
            switch rng.next() % 10 {
            case 0: out.append(contentsOf: repeatElement(UInt8(truncatingIfNeeded: rng.next()), count: Int(rng.next() % 3000)))
            case 1: out.append(contentsOf: random(Int(rng.next() % 500), seed: rng.next()))
            case 2 where out.count > 70000:
                let d = Int(rng.next() % 70000) + 1
                let l = Int(rng.next() % 400)
                for _ in 0..<l { out.append(out[out.count - d]) }
            default:
                for _ in 0..<Int(rng.next() % 30) { out.append(contentsOf: Array(words[Int(rng.next() % UInt64(words.count))].utf8)) }
            }
        }
        return Array(out.prefix(n))
    }
}

/// A source that hands out at most `step` bytes a call: chunk boundaries everywhere.
struct DribbleSource: ByteSource {
    var inner: ArraySource
    let step: Int
    mutating func read(into buffer: inout [UInt8], maxCount: Int) throws -> Int {
        try inner.read(into: &buffer, maxCount: min(step, maxCount))
    }
}

func gunzip(_ bytes: [UInt8], step: Int? = nil, chunk: Int = 1 << 20) throws -> [UInt8] {
    let src: any ByteSource = step.map { DribbleSource(inner: ArraySource(bytes), step: $0) } ?? ArraySource(bytes)
    var s = InflateStream(source: src, format: .gzip)
    var out: [UInt8] = []
    while try s.read(into: &out, maxCount: chunk) > 0 {}
    return out
}
