/// `translate -`: answers arrive line by line while standard input stays open, a million addresses run in
/// bounded memory, and standard output is flushed before anything goes to standard error.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A running `kvmdump` with pipes on standard input and output.
final class InteractiveTool: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending: [UInt8] = []

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: Paths.binary)
        process.arguments = arguments
        process.currentDirectoryURL = Paths.root
        process.environment = Tool.environment(environment)
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// Writes `text` to the tool's standard input.
    func send(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Closes the tool's standard input and waits for it to exit; returns the exit status.
    func finish() -> Int32 {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The next line of standard output (without the newline), or nil if none arrives within `timeout` seconds
    /// (a hang guard, generous for loaded machines and sanitizers: not a time bound on the tool).
    func readLine(timeout: Double = 120) -> String? {
        let fd = output.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = pending.firstIndex(of: 0x0a) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(remaining * 1000) + 1) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { return nil }
            pending += buffer[..<count]
        }
    }

    /// Reads standard output to its end, counting newlines, without keeping it.
    func countLines() -> Int {
        let fd = output.fileHandleForReading.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var lines = pending.filter { $0 == 0x0a }.count
        pending = []
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return lines }
            lines += buffer[..<count].reduce(0) { $0 + ($1 == 0x0a ? 1 : 0) }
        }
    }

    /// Reads exactly `count` lines from standard output, counting them without keeping them.
    func skipLines(_ count: Int) -> Int {
        let fd = output.fileHandleForReading.fileDescriptor
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var seen = 0
        while seen < count {
            let got = read(fd, &buffer, buffer.count)
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            seen += buffer[..<got].reduce(0) { $0 + ($1 == 0x0a ? 1 : 0) }
        }
        return seen
    }

    /// The process's peak resident set size in KiB (`VmHWM`), read while it is still running.
    func peakResidentKiB() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}

@Suite("translate - (streaming)")
struct StreamTests {
    /// Addresses and the answer line each must get.
    static let questions: [(String, String)] = [
        ("0xfffffe00002083c8", "va 0xfffffe00002083c8 pa 0x7b93c8 offset 0x263c8 map kernel page 4K"),
        ("0x1234", "error: 0x0000000000001234: not in the kernel map"),
        ("0xfffff800007fe010", "va 0xfffff800007fe010 pa 0x7fe010 offset 0x28010 map dmap page 4K"),
        ("bogus", "error: 'bogus': malformed address"),
        ("0xfffffe0040001000", "va 0xfffffe0040001000 pa 0x100001000 offset 0x3b000 map kernel page 2M"),
        ("0xfffffe000020f000", "error: 0xfffffe000020f000: physical address 0xfee00000"),
    ]

    @Test("each answer arrives before the next question is written")
    func interactive() throws {
        let tool = try InteractiveTool(["-M", "Fixtures/vmcore.0", "translate", "-"])
        for round in 0..<36 {
            let (question, answer) = Self.questions[round % Self.questions.count]
            tool.send(question + "\n")
            let line = try #require(tool.readLine(), "no answer to '\(question)' (round \(round)) while stdin is open")
            #expect(line.hasPrefix(answer), "round \(round): \(line)")
        }
        #expect(tool.finish() == 1)
    }

    /// Input that is all there at once goes through the batch translation (256 numeric lines at a
    /// time, cut by every other kind of line): every answer is the one-at-a-time answer, in input order.
    @Test("answers in input order when the input arrives all at once, in batches")
    func batched() throws {
        // Runs of numbers of every length (up to past a batch), cut by malformed lines, in a fixed order.
        let numeric = Self.questions.filter { $0.0.hasPrefix("0x") }, other = Self.questions.filter { !$0.0.hasPrefix("0x") }
        var picks: [(String, String)] = []
        for run in [1, 2, 15, 16, 17, 255, 256, 257, 600, 3, 512, 0, 40] {
            picks += (0..<run).map { numeric[(picks.count + $0 * 3) % numeric.count] }
            picks.append(other[picks.count % other.count])
        }
        let input = picks.map { $0.0 + "\n" }.joined()
        let result = try Tool.run(["-M", "Fixtures/vmcore.0", "translate", "-"], stdin: Data(input.utf8))
        let lines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == picks.count)
        for (index, (line, pick)) in zip(lines, picks).enumerated() {
            #expect(line.hasPrefix(pick.1), "line \(index) for '\(pick.0)': \(line)")
        }
        #expect(result.status == 1)
    }

    @Test("NDJSON answers also arrive one at a time")
    func interactiveJSON() throws {
        let tool = try InteractiveTool(["-M", "Fixtures/vmcore.0", "translate", "--json", "--explain", "-"])
        for (question, _) in Self.questions {
            tool.send(question + "\n")
            let line = try #require(tool.readLine(), "no answer to '\(question)'")
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["va"] != nil || object?["input"] as? String == question)
        }
        #expect(tool.finish() == 1)
    }

    /// Whether this test process (and so the `kvmdump` built with it) is instrumented by AddressSanitizer.
    static let underAddressSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil

    /// One million addresses (override with `KVMDUMP_STREAM_LINES`; 100,000 under AddressSanitizer, which
    /// is about ten times slower) give as many answers while the tool's peak RSS stays under 64 MiB.
    /// ASan's quarantine of freed memory is turned off: it would hold up to 256 MiB by design.
    /// Input is written from another thread while answers are read.
    @Test("a million addresses in bounded memory")
    func million() throws {
        let total = ProcessInfo.processInfo.environment["KVMDUMP_STREAM_LINES"].flatMap { Int($0) }
            ?? (Self.underAddressSanitizer ? 100_000 : 1_000_000)
        let tool = try InteractiveTool(
            ["-M", "Fixtures/vmcore.0", "translate", "-"],
            environment: ["ASAN_OPTIONS": "detect_leaks=0:quarantine_size_mb=0"])
        let block = Self.questions.map { $0.0 + "\n" }.joined()
        let blocks = total / Self.questions.count
        let chunk = String(repeating: block, count: 1000)
        let writer = Thread {
            var sent = 0
            while sent < blocks {
                let count = min(1000, blocks - sent)
                tool.send(count == 1000 ? chunk : String(repeating: block, count: count))
                sent += count
            }
        }
        writer.start()
        let expected = blocks * Self.questions.count
        #expect(tool.skipLines(expected) == expected)
        // Every answer is in and standard input is still open: the process is alive to be measured.
        let peak = try #require(tool.peakResidentKiB())
        #expect(peak < 64 * 1024, "peak RSS \(peak) KiB")
        #expect(tool.finish() == 1)
        #expect(tool.countLines() == 0)
    }

    @Test("stdout is flushed before each message on stderr, in order")
    func interleaving() throws {
        let scratch = try TemporaryDirectory()
        let combined = scratch.url.appendingPathComponent("combined")
        try Data().write(to: combined)
        let handle = try FileHandle(forWritingTo: combined)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.binary)
        process.arguments = [
            "-M", "Fixtures/vmcore.0", "translate", "--explain", "0xfffffe00002083c8", "0x1234", "0xfffff800007fe010",
            "0xfffffe000020f000",
        ]
        process.currentDirectoryURL = Paths.root
        process.environment = Tool.environment([:])
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let lines = try String(contentsOf: combined, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 5 && lines.last == "")
        let prefixes = ["va 0xfffffe00002083c8 ", "kvmdump: Fixtures/vmcore.0: 0x0000000000001234: ",
                        "va 0xfffff800007fe010 ", "kvmdump: Fixtures/vmcore.0: 0xfffffe000020f000: "]
        for (line, prefix) in zip(lines, prefixes) { #expect(line.hasPrefix(prefix), "\(line)") }
        #expect(process.terminationStatus == 1)
    }

    @Test("a reader that goes away early ends the tool quietly with status 0")
    func closedReader() throws {
        let scratch = try TemporaryDirectory()
        let errors = scratch.url.appendingPathComponent("stderr")
        try Data().write(to: errors)
        let errorHandle = try FileHandle(forWritingTo: errors)
        defer { try? errorHandle.close() }
        let output = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.binary)
        // 32 KiB as hexdump is about 160 KB of text: more than a pipe holds.
        process.arguments = ["-M", "Fixtures/vmcore.0", "read", "0xfffffe0040000000", "--len", "32k"]
        process.currentDirectoryURL = Paths.root
        process.environment = Tool.environment([:])
        process.standardOutput = output
        process.standardError = errorHandle
        try process.run()
        _ = output.fileHandleForReading.readData(ofLength: 100)
        try output.fileHandleForReading.close()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        #expect(try Data(contentsOf: errors).isEmpty)
    }
}
