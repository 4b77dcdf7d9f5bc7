/// Compressed dumps (issue 13): every golden case that reads `Fixtures/vmcore.0`, `.1`, `.2` or an
/// ELF full dump (`vmcore.full`, `.full2`, `.full16m`, `.fulldelta`) gives the same stdout, stderr and exit status on the dump compressed, the compressed file's path
/// written back as the plain one. Compressed by the committed fixtures (`vmcore.0.gz`/`.zst`, made
/// by mkvmcore without compression) and by the real `gzip -6`, `zstd -6`, `zstd -6 --long` and
/// `zstd -6 -T0` when they are at /usr/bin (a test fails, saying so, when they are not).
import Foundation
import Testing

/// The fixture dumps `Fixtures/vmcore.N` whose golden cases are run on compressed copies: the
/// minidumps 0, 1, 2 and the ELF full dumps.
let fixtureDumps = ["0", "1", "2", "full", "full2", "full16m", "fulldelta"]

/// A golden case reduced to what the compressed runs need.
struct DumpCase: Sendable, CustomStringConvertible {
    let name: String
    let arguments: [String]
    let environment: [String: String]
    let stdin: String?
    var description: String { name }
}

/// The golden cases that name one of the fixture dumps and need no scratch file.
let compressibleCases: [DumpCase] = {
    let all = goldenCases.filter { $0.scratch.isEmpty }.map {
        DumpCase(name: $0.name, arguments: $0.arguments, environment: $0.environment, stdin: $0.stdin)
    } + symbolGoldenCases.map {
        DumpCase(name: $0.name, arguments: $0.arguments, environment: $0.environment, stdin: $0.stdin)
    } + threadGoldenCases.map { DumpCase(name: $0.name, arguments: $0.arguments, environment: [:], stdin: nil) }
    return all.filter { c in
        let text = (c.arguments + Array(c.environment.values)).joined(separator: " ")
        return !text.contains("$TMP") && fixtureDumps.contains { dumpReference(in: text, number: $0) }
    }
}()

/// True if `text` names `Fixtures/vmcore.N` itself (not `vmcore.N` followed by more of a name).
func dumpReference(in text: String, number: String) -> Bool {
    var rest = text[...]
    while let found = rest.range(of: "Fixtures/vmcore." + number) {
        let next = rest[found.upperBound...].first
        if next == nil || next == " " || next == "\n" { return true }
        rest = rest[found.upperBound...]
    }
    return false
}

/// Replaces every whole-word `Fixtures/vmcore.N` (N in `fixtureDumps`) in `word` by `directory/vmcore.N + suffix`.
private func substitute(_ word: String, directory: String, suffix: String) -> String {
    var word = word
    for n in fixtureDumps {
        let plain = "Fixtures/vmcore." + n
        if word == plain { return directory + "/vmcore." + n + suffix }
        if word.hasSuffix("=" + plain) { word = String(word.dropLast(plain.count)) + directory + "/vmcore." + n + suffix }
    }
    return word
}

/// Output bytes with the compressed copies' paths written as the plain fixtures'.
private func restorePaths(_ data: Data, directory: String, suffix: String) -> Data {
    var text = data
    for n in fixtureDumps {
        text = replacing(text, Data((directory + "/vmcore." + n + suffix).utf8), with: Data(("Fixtures/vmcore." + n).utf8))
    }
    return replacing(text, Data((directory + "/").utf8), with: Data("Fixtures/".utf8))
}

private func replacing(_ data: Data, _ pattern: Data, with replacement: Data) -> Data {
    var output = Data()
    var rest = data[...]
    while let found = rest.range(of: pattern) {
        output += rest[..<found.lowerBound] + replacement
        rest = rest[found.upperBound...]
    }
    return output + rest
}

/// A directory of compressed copies of the three fixture dumps (and `info.1` beside them, as savecore
/// leaves it), with its own cache directory.
final class CompressedCopies: @unchecked Sendable {
    let scratch: TemporaryDirectory
    let suffix: String
    var directory: String { scratch.url.path }
    var cache: String { directory + "/cache" }

    /// Copies made by `tool arguments` (stdin to stdout), or the committed fixture (`tool` nil) for vmcore.0.
    init(tool: String?, _ arguments: [String], suffix: String) throws {
        scratch = try TemporaryDirectory()
        self.suffix = suffix
        try FileManager.default.createDirectory(atPath: directory + "/cache", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Paths.root.path + "/Fixtures/info.1", toPath: directory + "/info.1")
        for n in fixtureDumps {
            let source = Paths.root.path + "/Fixtures/vmcore." + n
            let target = directory + "/vmcore." + n + suffix
            guard let tool else {
                let committed = source + suffix
                if FileManager.default.fileExists(atPath: committed) { try FileManager.default.copyItem(atPath: committed, toPath: target) }
                continue
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
            FileManager.default.createFile(atPath: target, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw HarnessError("\(tool) \(arguments) failed on \(source)") }
        }
        // The cache made before any case runs, so that every case reads the decoded dump whichever ran
        // first (stats and info without -N read only the metadata while there is no cache entry:
        // `MetadataOnlyStatsTests`).
        for n in fixtureDumps where has(n) {
            let result = try Tool.run(["stats", "--decode", directory + "/vmcore." + n + suffix], environment: ["KVMDUMP_CACHE": cache])
            guard result.status == 0 else { throw HarnessError("stats --decode on vmcore.\(n)\(suffix): \(result.stderrText)") }
        }
    }

    func has(_ n: String) -> Bool { FileManager.default.fileExists(atPath: directory + "/vmcore." + n + suffix) }

    /// Runs `c` on the copies and compares with its golden files.
    func check(_ c: DumpCase, sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard let expected = GoldenFiles(name: c.name).load() else {
            Issue.record("no golden files for \(c.name)", sourceLocation: sourceLocation)
            return
        }
        let arguments = c.arguments.map { substitute($0, directory: directory, suffix: suffix) }
        var environment = c.environment.mapValues { substitute($0, directory: directory, suffix: suffix) }
        environment["KVMDUMP_CACHE"] = cache
        var result = try Tool.run(arguments, environment: environment, stdin: c.stdin.map { Data($0.utf8) })
        result.stdout = restorePaths(result.stdout, directory: directory, suffix: suffix)
        result.stderr = restorePaths(result.stderr, directory: directory, suffix: suffix)
        #expect(result == expected, "\(c.name) on \(suffix): kvmdump \(arguments.joined(separator: " "))\n\(describeDifference(result, expected))",
                sourceLocation: sourceLocation)
    }
}

/// The real tools, or nil (and a loud failure) when one is missing.
private func realTool(_ path: String) -> String? {
    if FileManager.default.isExecutableFile(atPath: path) { return path }
    Issue.record("\(path) is missing: the compressed dumps made by the real tool are NOT tested")
    print("*** \(path) is missing: the compressed dumps made by the real tool are NOT tested ***")
    return nil
}

private let committedGzip = Result { try CompressedCopies(tool: nil, [], suffix: ".gz") }
private let committedZstd = Result { try CompressedCopies(tool: nil, [], suffix: ".zst") }
private let toolGzip = Result { try CompressedCopies(tool: "/usr/bin/gzip", ["-6", "-c"], suffix: ".gz") }
private let toolZstd = Result { try CompressedCopies(tool: "/usr/bin/zstd", ["-6", "-q", "-c"], suffix: ".zst") }
private let toolZstdLong = Result { try CompressedCopies(tool: "/usr/bin/zstd", ["-6", "--long", "-q", "-c"], suffix: ".zst") }
private let toolZstdThreads = Result { try CompressedCopies(tool: "/usr/bin/zstd", ["-6", "-T0", "-q", "-c"], suffix: ".zst") }

/// One case per subcommand (the first that names a dump), for the rarer tool settings.
private let onePerSubcommand: [DumpCase] = {
    var seen: Set<String> = []
    return compressibleCases.filter { c in
        let command = c.arguments.first { ["header", "msgbuf", "read", "translate", "pages", "stats", "sym", "info",
                                           "ps", "threads", "bt", "export"].contains($0) } ?? ""
        return seen.insert(command).inserted
    }
}()

@Suite("Compressed dumps give the same output")
struct CompressedOutputTests {
    @Test("the cases cover every subcommand that reads a dump")
    func coverage() {
        #expect(compressibleCases.count > 100, "only \(compressibleCases.count) cases")
        #expect(onePerSubcommand.count == 12, "\(onePerSubcommand.map(\.name))")
    }

    @Test("committed vmcore.0.gz (stored deflate blocks)", arguments: compressibleCases.filter { dumpReference(in: $0.arguments.joined(separator: " "), number: "0") })
    func committedGz(_ c: DumpCase) throws { try committedGzip.get().check(c) }

    @Test("committed vmcore.0.zst (raw and RLE blocks)", arguments: compressibleCases.filter { dumpReference(in: $0.arguments.joined(separator: " "), number: "0") })
    func committedZst(_ c: DumpCase) throws { try committedZstd.get().check(c) }

    @Test("gzip -6", arguments: compressibleCases)
    func gzip6(_ c: DumpCase) throws {
        guard realTool("/usr/bin/gzip") != nil else { return }
        try toolGzip.get().check(c)
    }

    @Test("zstd -6", arguments: compressibleCases)
    func zstd6(_ c: DumpCase) throws {
        guard realTool("/usr/bin/zstd") != nil else { return }
        try toolZstd.get().check(c)
    }

    @Test("zstd -6 --long", arguments: onePerSubcommand)
    func zstdLong(_ c: DumpCase) throws {
        guard realTool("/usr/bin/zstd") != nil else { return }
        try toolZstdLong.get().check(c)
    }

    @Test("zstd -6 -T0", arguments: onePerSubcommand)
    func zstdThreads(_ c: DumpCase) throws {
        guard realTool("/usr/bin/zstd") != nil else { return }
        try toolZstdThreads.get().check(c)
    }

    @Test("export writes the same core from vmcore.2 and its gzip -6 and zstd -6 copies")
    func export() throws {
        guard realTool("/usr/bin/zstd") != nil, realTool("/usr/bin/gzip") != nil else { return }
        let scratch = try TemporaryDirectory()
        var cores: [Data] = []
        for (dump, cache) in [("Fixtures/vmcore.2", scratch.url.path), (try toolZstd.get().directory + "/vmcore.2.zst", try toolZstd.get().cache),
                              (try toolGzip.get().directory + "/vmcore.2.gz", try toolGzip.get().cache)] {
            let core = scratch.url.appendingPathComponent("core.\(cores.count)").path
            let result = try Tool.run(["-N", "Fixtures/kernel.2", "-M", dump, "export", "-o", core],
                                      environment: ["KVMDUMP_CACHE": cache])
            #expect(result.status == 0, "\(result.stderrText)")
            cores.append(try Data(contentsOf: URL(fileURLWithPath: core)))
        }
        #expect(cores[0].count > 100_000)
        #expect(cores[0] == cores[1] && cores[0] == cores[2])
    }
}

/// `stats` and `info` (without -N) on a compressed dump with no cache entry: only the metadata is
/// decoded, nothing is cached, and the output is the plain dump's but for the figures they say they
/// cannot know (`stats --decode` gives all of them).
@Suite("stats and info read only the metadata of a compressed dump")
struct MetadataOnlyStatsTests {
    /// `kvmdump arguments` with `dump` and a fresh empty cache; the output with `dump`'s path written as `shown`.
    private func run(_ arguments: [String], _ dump: String, shown: String, cache: String) throws -> RunResult {
        var result = try Tool.run(arguments + [dump], environment: ["KVMDUMP_CACHE": cache])
        let directory = String(dump[..<(dump.lastIndex(of: "/") ?? dump.startIndex)]) + "/"
        func restore(_ text: String) -> Data {
            Data(text.replacingOccurrences(of: dump, with: shown).replacingOccurrences(of: directory, with: "Fixtures/").utf8)
        }
        result.stdout = restore(result.stdoutText)
        result.stderr = restore(result.stderrText)
        return result
    }

    private func compressed(_ tool: String, _ arguments: [String], _ fixture: String, _ suffix: String,
                            in scratch: TemporaryDirectory) throws -> String? {
        guard let tool = realTool(tool) else { return nil }
        let target = scratch.url.path + "/" + fixture + suffix
        try FileManager.default.copyItem(atPath: Paths.root.path + "/Fixtures/info.1", toPath: scratch.url.path + "/info.1")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: Paths.root.path + "/Fixtures/" + fixture))
        FileManager.default.createFile(atPath: target, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return target
    }

    @Test("gzip -6: stats of arm64 and riscv, info, msgbuf and header of amd64 are byte-identical, and nothing is cached",
          arguments: [(["stats"], "vmcore.arm64.v2-4k"), (["stats", "--json"], "vmcore.arm64.v2-4k"), (["stats"], "vmcore.riscv.v2"),
                      (["info"], "vmcore.1"), (["info", "--json"], "vmcore.1"), (["stats", "--decode"], "vmcore.1"),
                      (["msgbuf"], "vmcore.1"), (["msgbuf", "--json"], "vmcore.2"), (["header"], "vmcore.2")])
    func gzipIdentical(_ arguments: [String], _ fixture: String) throws {
        let scratch = try TemporaryDirectory()
        guard let path = try compressed("/usr/bin/gzip", ["-6", "-c"], fixture, ".gz", in: scratch) else { return }
        let cache = scratch.url.path + "/cache"
        let plain = try Tool.run(arguments + ["Fixtures/" + fixture])
        let got = try run(arguments, path, shown: "Fixtures/" + fixture, cache: cache)
        #expect(got == plain, "\(describeDifference(got, plain))")
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
        #expect(cached.isEmpty == !arguments.contains("--decode"), "\(cached)")
    }

    @Test("zstd -6 (no content size): stats of amd64 says which figures it cannot know; the rest is the plain dump's")
    func zstdAMD64() throws {
        let scratch = try TemporaryDirectory()
        guard let path = try compressed("/usr/bin/zstd", ["-6", "-q", "-c"], "vmcore.1", ".zst", in: scratch) else { return }
        let cache = scratch.url.path + "/cache"
        let plain = try Tool.run(["stats", "Fixtures/vmcore.1"]).stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
        let got = try run(["stats"], path, shown: "Fixtures/vmcore.1", cache: cache)
        #expect(got.status == 0 && got.stderr.isEmpty)
        let lines = got.stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
        let size = "- (size not known: the zstd frame states no content size; stats --decode)"
        let data = "- (needs the page-table pages among the data pages, not decoded; stats --decode)"
        let unknown = ["pages in file": size, "kernel map 4k pages": data, "page table pages present": size,
                       "page table pages missing": size, "file size": size]
        #expect(lines.count == plain.count + 1)
        for (mine, theirs) in zip(lines, plain) where !mine.hasPrefix("  not checked") {
            let label = theirs.prefix(37).trimmingCharacters(in: .whitespaces)
            if let expected = unknown[label] {
                #expect(mine == theirs.prefix(37) + expected)
            } else {
                #expect(mine == theirs)
            }
        }
        #expect(lines.contains("  not checked: truncation and trailing bytes (the zstd frame states no content size; stats --decode reads the whole stream)"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).isEmpty)
        let whole = try run(["stats", "--decode"], path, shown: "Fixtures/vmcore.1", cache: cache)
        #expect(whole == (try Tool.run(["stats", "Fixtures/vmcore.1"])))
        // With the cache made, stats reads it: every figure.
        let again = try run(["stats"], path, shown: "Fixtures/vmcore.1", cache: cache)
        #expect(again == (try Tool.run(["stats", "Fixtures/vmcore.1"])))
    }

    @Test("gzip -6 amd64: the 4k pages are unknown until the checkpoint index exists, then stats reads through it")
    func gzipAMD64() throws {
        let scratch = try TemporaryDirectory()
        guard let path = try compressed("/usr/bin/gzip", ["-6", "-c"], "vmcore.1", ".gz", in: scratch) else { return }
        let cache = scratch.url.path + "/cache"
        let plain = try Tool.run(["stats", "Fixtures/vmcore.1"])
        let first = try run(["stats"], path, shown: "Fixtures/vmcore.1", cache: cache)
        #expect(first.stdoutText == plain.stdoutText.replacingOccurrences(
            of: "kernel map 4k pages                  21\n",
            with: "kernel map 4k pages                  - (needs the page-table pages among the data pages, not decoded; stats --decode)\n"))
        #expect(try run(["stats", "--decode"], path, shown: "Fixtures/vmcore.1", cache: cache) == plain)
        #expect(try run(["stats"], path, shown: "Fixtures/vmcore.1", cache: cache) == plain)
        #expect(try run(["info", "--json"], path, shown: "Fixtures/vmcore.1", cache: cache) == (try Tool.run(["info", "--json", "Fixtures/vmcore.1"])))
    }

    @Test("zstd -6: msgbuf and header without -N are byte-identical, and nothing is cached",
          arguments: [["msgbuf"], ["msgbuf", "--json"], ["header"], ["header", "--json"]])
    func zstdMsgbuf(_ arguments: [String]) throws {
        let scratch = try TemporaryDirectory()
        guard let path = try compressed("/usr/bin/zstd", ["-6", "-q", "-c"], "vmcore.2", ".zst", in: scratch) else { return }
        let cache = scratch.url.path + "/cache"
        let got = try run(arguments, path, shown: "Fixtures/vmcore.2", cache: cache)
        #expect(got == (try Tool.run(arguments + ["Fixtures/vmcore.2"])))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).isEmpty)
    }

    @Test("zstd -6: info without -N names the size as unknown, the rest is the plain dump's")
    func zstdInfo() throws {
        let scratch = try TemporaryDirectory()
        guard let path = try compressed("/usr/bin/zstd", ["-6", "-q", "-c"], "vmcore.1", ".zst", in: scratch) else { return }
        let plain = try Tool.run(["info", "Fixtures/vmcore.1"]).stdoutText
        let got = try run(["info"], path, shown: "Fixtures/vmcore.1", cache: scratch.url.path + "/cache")
        #expect(got.status == 0)
        let expected = plain.replacingOccurrences(
            of: "layout:     amd64 minidump v3, 286720 bytes,",
            with: "layout:     amd64 minidump v3, size not known (the zstd frame states no content size; without -N the stream is decoded only through its metadata),")
        #expect(expected != plain)
        #expect(got.stdoutText == expected)
    }
}
