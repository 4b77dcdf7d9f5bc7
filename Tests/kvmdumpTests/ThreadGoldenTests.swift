/// Golden tests of `ps`, `threads`, `bt` (and `info`'s thread lines) on `vmcore.2` + `kernel.2`, and the
/// CLI's JSON against the generator's ground truth, thread for thread and frame for frame, including
/// corrupt dumps made in a scratch directory. Same files and harness as `GoldenTests`.
import Foundation
import Testing
import VMCoreBuilder

/// Damaged thread dumps and kernels made in the scratch directory (`$TMP/<name>`).
enum ScratchThreadFile: String, Sendable, CaseIterable {
    /// Every list and frame corruption at once.
    case corrupt = "vmcore.corrupt"
    /// `thread_off_td_name` = 0x7fff0000 in the dump and the image.
    case absurd = "vmcore.absurd"
    case absurdKernel = "kernel.absurd"
    /// kernel.2 without the offset symbols (like a FreeBSD 10 kernel).
    case noOffsetsKernel = "kernel.nooffsets"
    /// The array form of stoppcbs (osreldate 1302000).
    case arrayForm = "vmcore.array"
    case arrayFormKernel = "kernel.array"

    static let corruptions: [ThreadCorruption] = [
        .processListCycle, .threadListCycle(tid: 100_091), .frameLoop(tid: 100_090, frame: 2),
        .zeroReturnAddress(tid: 100_002, frame: 4), .framePointerUnmapped(tid: 100_020, frame: 1),
        .pcbUnmapped(tid: 100_004), .pcbZeroPC(tid: 100_005), .pcbNull(tid: 100_006),
    ]

    static func description(_ file: ScratchThreadFile) -> ThreadsDescription {
        var d = ThreadsDescription.golden()
        switch file {
        case .corrupt: d.corruptions = corruptions
        case .absurd, .absurdKernel: d.corruptions = [.absurdOffset(symbol: "thread_off_td_name", value: 0x7fff_0000)]
        case .arrayForm, .arrayFormKernel: d.osreldate = 1_302_000
        case .noOffsetsKernel: break
        }
        return d
    }

    func bytes() throws -> [UInt8] {
        let fixture = try threadFixture(ScratchThreadFile.description(self))
        switch self {
        case .corrupt, .absurd, .arrayForm: return try generateDump(fixture.dump).bytes
        case .absurdKernel, .arrayFormKernel: return makeKernelELF(fixture.kernel)
        case .noOffsetsKernel:
            var kernel = fixture.kernel
            kernel.symbols.removeAll { $0.name.contains("_off_") || $0.name == "pcb_size" }
            return makeKernelELF(kernel)
        }
    }
}

struct ThreadGoldenCase: Sendable, CustomStringConvertible {
    let name: String
    let arguments: [String]
    var description: String { name }
}

private func t(_ name: String, _ arguments: String) -> ThreadGoldenCase {
    ThreadGoldenCase(name: name, arguments: arguments.split(separator: " ").map(String.init))
}

let threadGoldenCases: [ThreadGoldenCase] = {
    let k = "-N Fixtures/kernel.2 -M Fixtures/vmcore.2"
    return [
        t("help-ps", "ps --help"), t("help-threads", "threads --help"), t("help-bt", "bt --help"),
        t("ps", "\(k) ps"), t("ps-json", "\(k) ps --json"), t("ps-offsets-file", "\(k) ps --offsets Fixtures/offsets.2"),
        t("threads", "\(k) threads"), t("threads-json", "\(k) threads --json"),
        t("bt", "\(k) bt"), t("bt-json", "\(k) bt --json"), t("bt-all", "\(k) bt --all"),
        t("bt-all-json", "\(k) bt --all --json"), t("bt-tids", "\(k) bt 100002 100007 100090"),
        t("bt-cpu-verbose", "\(k) bt --cpu 0 --verbose"), t("bt-cpu-missing-from-stopped", "\(k) bt --cpu 3"),
        t("bt-array-form", "-N $TMP/kernel.array -M $TMP/vmcore.array bt --cpu 2"),
        t("bt-corrupt-all", "-N Fixtures/kernel.2 -M $TMP/vmcore.corrupt bt --all"),
        t("bt-corrupt-all-json", "-N Fixtures/kernel.2 -M $TMP/vmcore.corrupt bt --all --json"),
        t("threads-offsets-file-state", "\(k) threads --offsets Fixtures/offsets.2"),
        t("threads-no-offset-symbols-offsets-file", "-N $TMP/kernel.nooffsets -M Fixtures/vmcore.2 threads --offsets Fixtures/offsets.2"),
        t("info-threads", "-N Fixtures/kernel.2 info Fixtures/vmcore.2 --lines 0"),
        t("info-threads-json", "-N Fixtures/kernel.2 info --json Fixtures/vmcore.2 --lines 0"),
        t("info-several-dumps-json", "-N Fixtures/kernel.2 info --json --lines 1 Fixtures/vmcore.2 $TMP/vmcore.corrupt Fixtures/vmcore.1"),
        t("error-info-several-dumps-one-missing", "-N Fixtures/kernel.2 info --lines 0 Fixtures/vmcore.2 Fixtures/vmcore.missing"),
        t("usage-info-several-dumps-and-core", "-N Fixtures/kernel.2 -M Fixtures/vmcore.2 info Fixtures/vmcore.1 Fixtures/vmcore.0"),
        t("error-bt-unknown-tid", "\(k) bt 100002 42"),
        t("error-bt-no-cpu", "\(k) bt --cpu 9"),
        t("error-threads-no-offset-symbols", "-N $TMP/kernel.nooffsets -M Fixtures/vmcore.2 threads"),
        t("error-threads-absurd-offset", "-N $TMP/kernel.absurd -M $TMP/vmcore.absurd threads"),
        t("error-ps-no-allproc", "-N Fixtures/kernel.1 -M Fixtures/vmcore.1 ps"),
        t("error-ps-offsets-file-missing", "\(k) ps --offsets Fixtures/offsets.missing"),
        t("usage-bt-no-kernel", "-M Fixtures/vmcore.2 bt"), t("usage-ps-no-kernel", "-M Fixtures/vmcore.2 ps"),
        t("usage-bt-all-and-cpu", "\(k) bt --all --cpu 1"), t("usage-bt-malformed-tid", "\(k) bt 0x10"),
        t("usage-threads-argument", "\(k) threads 12"),
    ]
}()

let threadGoldenCaseNames: [String] = threadGoldenCases.map(\.name)

func run(_ golden: ThreadGoldenCase) throws -> RunResult {
    let scratch = try TemporaryDirectory()
    for file in ScratchThreadFile.allCases where golden.arguments.contains(where: { $0.contains(file.rawValue) }) {
        try Data(try file.bytes()).write(to: scratch.url.appendingPathComponent(file.rawValue))
    }
    return try Tool.run(golden.arguments, scratch: scratch.url.path, environment: [:], stdin: nil)
}

private func json(_ result: RunResult) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
}

private func hex16(_ v: UInt64) -> String {
    let d = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - d.count) + d
}

/// Compares the CLI's JSON threads with the truth (crashed first, then walk order).
private func expectThreads(_ threads: [[String: Any]], _ truth: ThreadsTruth, frames: Bool,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    var expected = truth.threads
    if let i = expected.firstIndex(where: \.crashed) { expected.insert(expected.remove(at: i), at: 0) }
    #expect(threads.map { $0["tid"] as? Int } == expected.map { Int($0.tid) }, sourceLocation: sourceLocation)
    for (j, e) in zip(threads, expected) {
        #expect(j["pid"] as? Int == Int(e.pid) && j["comm"] as? String == e.comm && j["name"] as? String == e.name,
                sourceLocation: sourceLocation)
        #expect(j["cpu"] as? Int == e.cpu, "tid \(e.tid)", sourceLocation: sourceLocation)
        #expect(j["crashed"] as? Bool == e.crashed && j["display_name"] as? String == e.displayName, sourceLocation: sourceLocation)
        #expect(j["pcb_source"] as? String == e.pcbSource && j["pcb"] as? String == e.pcb.map(hex16),
                "tid \(e.tid)", sourceLocation: sourceLocation)
        let registers = (j["registers"] as? [String: String]) ?? [:]
        #expect(registers == e.registers.mapValues(hex16), "tid \(e.tid)", sourceLocation: sourceLocation)
        guard frames else { continue }
        #expect(j["stop"] as? String == e.stop, "tid \(e.tid)", sourceLocation: sourceLocation)
        let got = (j["frames"] as? [[String: Any]]) ?? []
        #expect(got.count == e.frames.count, "tid \(e.tid)", sourceLocation: sourceLocation)
        for (f, x) in zip(got, e.frames) {
            #expect(f["pc"] as? String == hex16(x.pc) && f["sp"] as? String == hex16(x.sp) && f["fp"] as? String == hex16(x.fp),
                    "tid \(e.tid) frame \(f["number"] ?? "?")", sourceLocation: sourceLocation)
            #expect(f["location"] as? String == x.symbolized, sourceLocation: sourceLocation)
            let trap = f["trap"] as? [String: Any]
            #expect(trap?["kind"] as? String == x.trap?.kind, sourceLocation: sourceLocation)
            if let trap, let xt = x.trap {
                #expect(trap["number"] as? Int == Int(xt.number) && trap["pc"] as? String == hex16(xt.rip)
                        && trap["sp"] as? String == hex16(xt.rsp) && trap["fp"] as? String == hex16(xt.rbp)
                        && trap["from_user"] as? Bool == xt.user, sourceLocation: sourceLocation)
            }
        }
    }
}

@Suite("Golden outputs: processes, threads, backtraces")
struct ThreadGoldenTests {
    @Test("case names are unique and distinct from the other golden cases")
    func uniqueNames() {
        #expect(Set(threadGoldenCaseNames).count == threadGoldenCaseNames.count)
        #expect(Set(threadGoldenCaseNames).isDisjoint(with: goldenCases.map(\.name) + symbolGoldenCaseNames))
    }

    @Test("output matches Fixtures/expected", arguments: threadGoldenCases)
    func golden(_ golden: ThreadGoldenCase) throws {
        let actual = try run(golden)
        try GoldenFiles(name: golden.name).verify(actual, arguments: golden.arguments)
        if updatingGoldens { return }
        if golden.name.hasPrefix("usage-") { #expect(actual.status == 2 && actual.stdout.isEmpty) }
        if golden.name.hasPrefix("error-") { #expect(actual.status == 1) } else if !golden.name.hasPrefix("usage-") {
            #expect(actual.status == 0)
        }
        for line in actual.stderrText.split(separator: "\n") where !line.hasPrefix("Try 'kvmdump ") {
            #expect(line.hasPrefix("kvmdump: "), "\(golden.name): \(line)")
        }
        if golden.arguments.contains("--json") && actual.status == 0 {
            for line in actual.stdoutText.split(separator: "\n") {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(golden.name): not JSON: \(line.prefix(80))")
            }
        }
    }

    @Test("ps, threads and bt --all --json match the generator's ground truth")
    func groundTruth() throws {
        let truth = try threadFixture().truth
        let k = ["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2"]
        let ps = try json(try Tool.run(k + ["ps", "--json"]))
        let processes = try #require(ps["processes"] as? [[String: Any]])
        #expect(processes.map { $0["pid"] as? Int } == truth.processes.map { Int($0.pid) })
        #expect(processes.map { $0["comm"] as? String } == truth.processes.map(\.comm))
        #expect(processes.map { $0["threads"] as? Int } == truth.processes.map(\.threadCount))
        #expect(processes.map { $0["address"] as? String } == truth.processes.map { hex16($0.address) })
        let threads = try json(try Tool.run(k + ["threads", "--json"]))
        expectThreads(try #require(threads["threads"] as? [[String: Any]]), truth, frames: false)
        let bt = try json(try Tool.run(k + ["bt", "--all", "--json"]))
        expectThreads(try #require(bt["threads"] as? [[String: Any]]), truth, frames: true)
    }

    @Test("bt --all --json on a corrupt dump gives every corruption's reason and the truth")
    func corruptGroundTruth() throws {
        let truth = try threadFixture(ScratchThreadFile.description(.corrupt)).truth
        let result = try run(threadGoldenCases.first { $0.name == "bt-corrupt-all-json" }!)
        #expect(result.status == 0)
        let bt = try json(result)
        expectThreads(try #require(bt["threads"] as? [[String: Any]]), truth, frames: true)
        let problems = (bt["problems"] as? [String]) ?? []
        #expect(problems.count == truth.listProblems.count)
        for prefix in truth.listProblems { #expect(problems.contains { $0.hasPrefix(prefix) }, "\(prefix): \(problems)") }
        let stops = Set(((bt["threads"] as? [[String: Any]]) ?? []).compactMap { $0["stop"] as? String })
        #expect(stops.isSuperset(of: ["loop", "zero-return-address", "unreadable", "no-pc", "no-pcb", "user-trapframe", "thread-start"]))
    }

    @Test("bt --all, text and JSON, on 500 threads: megabytes of output through the buffer, every frame from the truth")
    func manyThreads() throws {
        // Long outputs cross the 64 KiB output buffer's end thousands of times: a line formatter that writes
        // more than it reserved shows up here under AddressSanitizer (make test-asan).
        let fixture = try benchThreadFixture(threads: 500)
        let scratch = try TemporaryDirectory()
        let dump = scratch.url.appendingPathComponent("vmcore.500").path
        let kernel = scratch.url.appendingPathComponent("kernel.500").path
        _ = try writeDump(fixture.dump, to: dump)
        try writeFile(makeKernelELF(fixture.kernel), toPath: kernel)
        let json = try Tool.run(["-N", kernel, "-M", dump, "bt", "--all", "--json"])
        #expect(json.status == 0 && json.stdout.count > 500_000)
        let document = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        expectThreads(try #require(document["threads"] as? [[String: Any]]), fixture.truth, frames: true)
        let text = try Tool.run(["-N", kernel, "-M", dump, "bt", "--all", "--verbose"])
        #expect(text.status == 0)
        let frameLines = text.stdoutText.split(separator: "\n").filter { $0.hasPrefix("#") }
        #expect(frameLines.count == fixture.truth.threads.reduce(0) { $0 + $1.frames.count })
    }

    @Test("info --json over several dumps: one line each, the signature groups equal causes")
    func severalDumps() throws {
        let result = try run(threadGoldenCases.first { $0.name == "info-several-dumps-json" }!)
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.count == 3)
        let documents = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let signatures = documents.map { ($0["signature"] as? [String: Any])?["hash"] as? String }
        // vmcore.2 and its corrupt copy crash alike (the corruption spares the crashed thread); vmcore.1 has no threads.
        #expect(signatures[0] != nil && signatures[0] == signatures[1] && signatures[2] == nil)
        #expect((documents[0]["crashed_thread"] as? [String: Any])?["display_name"] as? String == "(pid 806) sysctl (crashed)")
    }

    @Test("bt --all text: every thread's Tracing line, frames, trap lines and stop reason from the ground truth")
    func textShape() throws {
        var truth = try threadFixture().truth.threads
        if let i = truth.firstIndex(where: \.crashed) { truth.insert(truth.remove(at: i), at: 0) }
        let result = try Tool.run(["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "bt", "--all"])
        #expect(result.status == 0)
        var expected: [String] = []
        for t in truth {
            if !expected.isEmpty { expected.append("") }
            let state = t.crashed ? " (crashed)" : t.cpu.map { " (CPU \($0))" } ?? ""
            expected.append("Tracing command \(t.comm) pid \(t.pid) tid \(t.tid) td \(hex16(t.address))\(state)")
            for (i, f) in t.frames.enumerated() {
                expected.append("#\(i) \(hex16(f.pc)) at \(f.symbolized)")
                if let trap = f.trap {
                    let head = trap.kind == "trap" ? "--- trap 0x\(String(trap.number, radix: 16))"
                        : trap.kind == "syscall" ? "--- syscall (\(trap.number))" : "--- interrupt"
                    expected.append("\(head), rip = 0x\(String(trap.rip, radix: 16)), rsp = 0x\(String(trap.rsp, radix: 16)), rbp = 0x\(String(trap.rbp, radix: 16)) ---")
                }
            }
            expected.append("stop: \(t.stop)")
        }
        // Stop lines are compared by reason ("stop: loop: <detail>" -> "stop: loop").
        let lines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            guard line.hasPrefix("stop: ") else { return String(line) }
            return "stop: " + line.dropFirst(6).prefix { $0 != ":" }
        }
        #expect(lines == expected)
        // The crashed thread's stop line names the user trapframe's address.
        let crashed = truth[0]
        #expect(result.stdoutText.contains("stop: user-trapframe: syscall from user mode (trapframe at \(hex16(crashed.frames.last!.trap!.address)))\n"))
    }
}
