/// `kvmdump export` of the arm64 thread fixture (Fixtures/vmcore.arm64.threads) opened by the real
/// debuggers with the printed command — gdb-multiarch (`set architecture aarch64`) and LLDB: memory,
/// the crashed thread's registers, every thread's LWP and name, and each backtrace up to its first
/// exception-vector frame, against the generator's ground truth. A missing debugger fails loudly
/// unless KVMDUMP_DEBUGGER_TESTS=off.
import Foundation
import Testing
import VMCoreBuilder

/// The golden arm64 thread fixture's truth, crashed thread first (the core's order).
private let arm64Truth: ThreadsTruth = try! makeARM64ThreadFixture(.golden()).truth
private var arm64Ordered: [ThreadTruth] { coreOrder(arm64Truth) }

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

@Suite("kvmdump export arm64", .serialized)
struct ARM64ExportTests {
    @Test("gdb-multiarch opens the arm64 core with the printed command: memory, registers, threads, backtraces")
    func gdbMultiarch() throws {
        guard let binary = debugger("gdb-multiarch") else {
            if !debuggerTestsOff {
                Issue.record("gdb-multiarch is not installed: install it (apt-get install gdb-multiarch) or set KVMDUMP_DEBUGGER_TESTS=off to skip")
            }
            return
        }
        let scratch = try TemporaryDirectory()
        let command = try exportThreadFixture("arm64", scratch, flavor: "gdb")
        let head = "gdb-multiarch -iex 'set architecture aarch64' -iex 'set osabi GNU/Linux' "
        #expect(command.hasPrefix(head), "\(command)")
        let run = binary + command.dropFirst("gdb-multiarch".count) + " -batch -nx"
            + " -ex 'echo @hz\\n' -ex 'x/wx &hz' -ex 'x/s &version'"
            + " -ex 'echo @regs\\n' -ex 'p/x $pc' -ex 'p/x $sp' -ex 'p/x $x29' -ex 'p/x $x30' -ex 'p/x $x19'"
            + " -ex 'echo @threads\\n' -ex 'info threads' -ex 'echo @bt\\n' -ex 'thread apply all bt 64'"
        let (output, status) = try shell(run)
        #expect(status == 0, "\(output)")
        #expect(!output.contains("Couldn't find general-purpose registers"), "\(output)")
        #expect(!output.contains("core file may not match"), "\(output)")
        let hz = arm64Truth.symbols["hz"]!
        #expect(output.contains("\(hex(hz)) <hz>:\t0x000003e8"), "\(output)")
        #expect(output.contains("<version>:\t\"FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC arm64\\n\""), "\(output)")
        let crashed = arm64Ordered[0]
        let r = crashed.registers
        #expect(output.contains("$1 = \(hex(r["pc"]!))\n$2 = \(hex(r["sp"]!))\n$3 = \(hex(r["fp"]!))\n$4 = \(hex(r["lr"]!))\n$5 = \(hex(r["x19"]!))"),
                "\(output)")
        let threadSection = output.components(separatedBy: "@threads\n")[1].components(separatedBy: "@bt\n")[0]
        let rows = threadSection.split(separator: "\n").dropFirst()
        #expect(rows.count == arm64Ordered.count)
        for (row, t) in zip(rows, arm64Ordered) {
            #expect(row.contains("LWP \(t.tid) \"\(t.name.isEmpty ? t.comm : t.name)\""), "\(row)")
        }
        #expect(rows.first?.hasPrefix("*") == true)
        let traces = gdbBacktraces(output.components(separatedBy: "@bt\n")[1])
        for t in arm64Ordered {
            let expected = framesToFirstTrap(t)
            #expect(Array((traces[t.tid] ?? []).prefix(expected.count)) == expected, "tid \(t.tid): \(traces[t.tid] ?? [])")
        }
        // The crashed thread: doadump ... handle_el1h_sync, 7 frames, as kvmdump shows them.
        #expect(framesToFirstTrap(crashed).count == 7 && crashed.frames[6].function == "handle_el1h_sync")
    }

    @Test("LLDB opens the arm64 core with the printed command: registers, thread list, backtraces")
    func lldb() throws {
        guard let binary = debugger("lldb") else {
            if !debuggerTestsOff {
                Issue.record("lldb is not installed in /usr/bin: install it (apt-get install lldb) or set KVMDUMP_DEBUGGER_TESTS=off to skip")
            }
            return
        }
        let scratch = try TemporaryDirectory()
        let command = try exportThreadFixture("arm64", scratch, flavor: "lldb")
        #expect(command.hasPrefix("lldb \(scratch.url.path)/kernel -c "), "\(command)")
        let hz = arm64Truth.symbols["hz"]!
        let run = binary + command.dropFirst(4) + " --batch --no-lldbinit"
            + " -o 'memory read --format x --size 4 --count 1 \(hex(hz))'"
            + " -o 'register read pc sp fp lr x19' -o 'thread list' -o 'thread backtrace all'"
        let (output, _) = try shell(run)
        #expect(output.contains("Core file") && output.contains("(aarch64) was loaded"), "\(output)")
        #expect(output.contains("\(hex(hz)): 0x000003e8"), "\(output)")
        let r = arm64Ordered[0].registers
        for name in ["pc", "sp", "fp", "lr", "x19"] {
            #expect(output.contains("\(name) = " + String(format: "0x%016lx", r[name]!)), "\(name): \(output)")
        }
        let listed = output.split(separator: "\n").filter { $0.contains("thread #") && $0.contains("tid = ") }
        #expect(listed.count == arm64Ordered.count, "\(output)")
        for (line, t) in zip(listed, arm64Ordered) {
            #expect(line.contains("tid = \(t.tid),") && line.contains("name = '\(t.name.isEmpty ? t.comm : t.name)'"), "\(line)")
        }
        #expect(listed.first?.hasPrefix("* thread #1:") == true)
        var traces: [[UInt64]] = []
        for line in output.components(separatedBy: "(lldb) thread backtrace all").last!.split(separator: "\n") {
            if line.contains("thread #") && !line.contains("frame #") {
                traces.append([])
            } else if let range = line.range(of: "frame #"), !traces.isEmpty {
                let rest = line[range.upperBound...].split(separator: " ")
                if rest.count >= 2, let pc = UInt64(rest[1].dropFirst(2), radix: 16) { traces[traces.count - 1].append(pc) }
            }
        }
        #expect(traces.count == arm64Ordered.count)
        for (trace, t) in zip(traces, arm64Ordered) {
            let expected = framesToFirstTrap(t)
            #expect(Array(trace.prefix(expected.count)) == expected, "tid \(t.tid): \(trace)")
        }
    }

    @Test("kvmdump bt --all --json on the arm64 fixture: every frame's pc, sp and fp and every trap line as the generator's truth")
    func backtracesMatchTruth() throws {
        let result = try Tool.run(["-N", "Fixtures/kernel.arm64.threads", "-M", "Fixtures/vmcore.arm64.threads", "bt", "--all", "--json"])
        #expect(result.status == 0, "\(result.stderrText)")
        guard let root = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any],
              let threads = root["threads"] as? [[String: Any]] else { throw HarnessError("bt --all --json: \(result.stderrText)") }
        #expect(threads.compactMap { $0["tid"] as? Int } == arm64Ordered.map { Int($0.tid) })
        for (thread, t) in zip(threads, arm64Ordered) {
            let frames = thread["frames"] as? [[String: Any]] ?? []
            #expect(frames.count == t.frames.count, "tid \(t.tid)")
            for (frame, expected) in zip(frames, t.frames) {
                #expect(frame["pc"] as? String == String(format: "0x%016lx", expected.pc), "tid \(t.tid)")
                #expect(frame["sp"] as? String == String(format: "0x%016lx", expected.sp), "tid \(t.tid)")
                #expect(frame["fp"] as? String == String(format: "0x%016lx", expected.fp), "tid \(t.tid)")
                #expect(frame["location"] as? String == expected.symbolized, "tid \(t.tid)")
                let trap = frame["trap"] as? [String: Any]
                #expect((trap?["kind"] as? String) == expected.trap?.kind, "tid \(t.tid)")
            }
            #expect(thread["stop"] as? String == t.stop, "tid \(t.tid)")
        }
    }
}
