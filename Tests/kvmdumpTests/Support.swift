/// Running the built `kvmdump` binary from tests: locating it, running it with controlled input and
/// environment, and comparing its output with the golden files in `Fixtures/expected/`.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Paths the tests work with.
enum Paths {
    /// The repository root: the working directory of every run, so outputs name `Fixtures/vmcore.0`.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where the golden outputs live.
    static let expected = root.appendingPathComponent("Fixtures/expected")

    /// The `kvmdump` binary built alongside this test bundle (`$KVMDUMP_BIN` overrides).
    ///
    /// The test executable sits in the build's bin directory (`.build/<triple>/debug/`, or under the
    /// `--scratch-path` of an ASan build), and so does `kvmdump`, so this works for every configuration.
    static let binary: String = {
        if let override = ProcessInfo.processInfo.environment["KVMDUMP_BIN"] { return override }
        var candidates: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        if let main = Bundle.main.executableURL { candidates.append(main.deletingLastPathComponent()) }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for directory in candidates {
            // On Darwin the test executable is inside `…PackageTests.xctest/Contents/MacOS/`.
            var probe = directory
            for _ in 0..<4 {
                let path = probe.appendingPathComponent("kvmdump").path
                if FileManager.default.isExecutableFile(atPath: path) { return path }
                probe.deleteLastPathComponent()
            }
        }
        return candidates.first.map { $0.appendingPathComponent("kvmdump").path } ?? "kvmdump"
    }()
}

/// What one run of the tool produced.
struct RunResult: Equatable {
    var stdout: Data
    var stderr: Data
    var status: Int32

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Failures of the test harness itself (not of the tool under test).
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs the tool and captures its output.
enum Tool {
    /// The environment every run gets: nothing from the caller's shell that could change the output
    /// (no `KVMDUMP_CORE`, `KVMDUMP_KERNEL`, locale), plus `extra`.
    static func environment(_ extra: [String: String]) -> [String: String] {
        var environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C", "ASAN_OPTIONS": "detect_leaks=0"]
        environment.merge(extra) { _, new in new }
        return environment
    }

    /// Runs `kvmdump arguments` in the repository root with `stdin` as its input (empty if nil); stdout and
    /// stderr go to temporary files, so no pipe can fill up. Kills the tool if it runs past `timeout` seconds.
    static func run(
        _ arguments: [String], environment extra: [String: String] = [:], stdin: Data? = nil,
        timeout: TimeInterval = 60
    ) throws -> RunResult {
        let scratch = try TemporaryDirectory()
        let outURL = scratch.url.appendingPathComponent("stdout")
        let errURL = scratch.url.appendingPathComponent("stderr")
        let inURL = scratch.url.appendingPathComponent("stdin")
        try Data().write(to: outURL)
        try Data().write(to: errURL)
        try (stdin ?? Data()).write(to: inURL)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        let input = try FileHandle(forReadingFrom: inURL)
        defer {
            try? out.close()
            try? err.close()
            try? input.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.binary)
        process.arguments = arguments
        process.currentDirectoryURL = Paths.root
        process.environment = environment(extra)
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                throw HarnessError("kvmdump \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        guard process.terminationReason == .exit else {
            throw HarnessError("kvmdump \(arguments.joined(separator: " ")) died of signal \(process.terminationStatus)")
        }
        return RunResult(
            stdout: try Data(contentsOf: outURL), stderr: try Data(contentsOf: errURL),
            status: process.terminationStatus)
    }
}

/// A directory under the system's temporary directory, removed when the value is released.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("kvmdumpTests-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Whether this run rewrites the golden files instead of comparing with them (`KVMDUMP_UPDATE_GOLDENS=1`).
let updatingGoldens = ProcessInfo.processInfo.environment["KVMDUMP_UPDATE_GOLDENS"] == "1"

/// The golden files of one case: `Fixtures/expected/<name>.stdout`, `.stderr` and `.status`.
struct GoldenFiles {
    let name: String

    func url(_ suffix: String) -> URL { Paths.expected.appendingPathComponent("\(name).\(suffix)") }

    /// The recorded result, or nil if any of the three files is missing.
    func load() -> RunResult? {
        guard let stdout = try? Data(contentsOf: url("stdout")),
              let stderr = try? Data(contentsOf: url("stderr")),
              let statusText = try? String(contentsOf: url("status"), encoding: .utf8),
              let status = Int32(statusText.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        return RunResult(stdout: stdout, stderr: stderr, status: status)
    }

    /// Records `result` as the new expectation.
    func save(_ result: RunResult) throws {
        try FileManager.default.createDirectory(at: Paths.expected, withIntermediateDirectories: true)
        try result.stdout.write(to: url("stdout"))
        try result.stderr.write(to: url("stderr"))
        try Data("\(result.status)\n".utf8).write(to: url("status"))
    }
}

/// A readable account of how `actual` differs from `expected`: status, then the first differing line of
/// each stream, with both versions of that line.
func describeDifference(_ actual: RunResult, _ expected: RunResult) -> String {
    var parts: [String] = []
    if actual.status != expected.status { parts.append("exit status \(actual.status), expected \(expected.status)") }
    for (stream, got, want) in [("stdout", actual.stdout, expected.stdout), ("stderr", actual.stderr, expected.stderr)]
    where got != want {
        let gotLines = String(decoding: got, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let wantLines = String(decoding: want, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let line = zip(gotLines, wantLines).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(gotLines.count, wantLines.count)
        let show = { (lines: [Substring]) in line < lines.count ? "'\(lines[line])'" : "(end)" }
        parts.append(
            "\(stream) differs at line \(line + 1) (\(got.count) bytes, expected \(want.count)):\n"
                + "  got:      \(show(gotLines))\n  expected: \(show(wantLines))")
    }
    return parts.joined(separator: "\n")
}
