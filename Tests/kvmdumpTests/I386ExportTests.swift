/// `kvmdump export` of the i386 thread fixture (Fixtures/vmcore.i386.threads) opened by the real
/// debuggers with the printed command — the host's gdb (`set architecture i386`) and LLDB: memory, the
/// crashed thread's registers, every thread's LWP and name, and each backtrace up to the first return
/// address into the exception trampoline (which neither debugger maps back to a stub), against the
/// generator's ground truth. A missing debugger fails loudly unless KVMDUMP_DEBUGGER_TESTS=off.
import Foundation
import Testing
import VMCoreBuilder

/// The golden i386 thread fixture's truth, crashed thread first (the core's order).
private let i386Truth: ThreadsTruth = try! makeI386ThreadFixture(.golden()).truth
private var i386Ordered: [ThreadTruth] { coreOrder(i386Truth) }

/// The pcs before the first one in the trampoline (PMAP_TRM_MIN_ADDRESS and up), and that one.
private func framesToTrampoline(_ t: ThreadTruth) -> (before: [UInt64], trampoline: UInt64?) {
    var pcs: [UInt64] = []
    for frame in t.frames {
        if frame.pc >= 0xffc0_0000 { return (pcs, frame.pc) }
        pcs.append(frame.pc)
    }
    return (pcs, nil)
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

@Suite("kvmdump export i386", .serialized)
struct I386ExportTests {
    @Test("gdb opens the i386 core with the printed command: memory, registers, threads, backtraces")
    func gdb() throws {
        guard let binary = debugger("gdb") else {
            if !debuggerTestsOff {
                Issue.record("gdb is not installed: install it (apt-get install gdb) or set KVMDUMP_DEBUGGER_TESTS=off to skip")
            }
            return
        }
        let scratch = try TemporaryDirectory()
        let command = try exportThreadFixture("i386", scratch, flavor: "gdb")
        let head = "gdb -iex 'set architecture i386' -iex 'set osabi GNU/Linux' "
        #expect(command.hasPrefix(head), "\(command)")
        let run = binary + command.dropFirst("gdb".count) + " -batch -nx"
            + " -ex 'echo @hz\\n' -ex 'x/wx &hz' -ex 'x/s &version'"
            + " -ex 'echo @regs\\n' -ex 'p/x $eip' -ex 'p/x $esp' -ex 'p/x $ebp' -ex 'p/x $ebx' -ex 'p/x $esi' -ex 'p/x $edi'"
            + " -ex 'echo @threads\\n' -ex 'info threads' -ex 'echo @bt\\n' -ex 'thread apply all bt 64'"
        let (output, status) = try shell(run)
        #expect(status == 0, "\(output)")
        #expect(!output.contains("Couldn't find general-purpose registers"), "\(output)")
        #expect(!output.contains("core file may not match"), "\(output)")
        let hz = i386Truth.symbols["hz"]!
        #expect(output.contains("\(hex(hz)) <hz>:\t0x00000064"), "\(output)")
        #expect(output.contains("<version>:\t\"FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC i386\\n\""), "\(output)")
        let crashed = i386Ordered[0]
        let r = crashed.registers
        let values = ["eip", "esp", "ebp", "ebx", "esi", "edi"].enumerated().map { "$\($0.offset + 1) = \(hex(r[$0.element]!))" }
        #expect(output.contains(values.joined(separator: "\n")), "\(output)")
        let threadSection = output.components(separatedBy: "@threads\n")[1].components(separatedBy: "@bt\n")[0]
        let rows = threadSection.split(separator: "\n").dropFirst()
        #expect(rows.count == i386Ordered.count)
        for (row, t) in zip(rows, i386Ordered) {
            #expect(row.contains("LWP \(t.tid) \"\(t.name.isEmpty ? t.comm : t.name)\""), "\(row)")
        }
        #expect(rows.first?.hasPrefix("*") == true)
        let traces = gdbBacktraces(output.components(separatedBy: "@bt\n")[1])
        for t in i386Ordered {
            let (before, trampoline) = framesToTrampoline(t)
            let expected = before + (trampoline.map { [$0] } ?? [])
            #expect(Array((traces[t.tid] ?? []).prefix(expected.count)) == expected, "tid \(t.tid): \(traces[t.tid] ?? [])")
        }
        // The crashed thread: doadump ... trap, then calltrap's return address in the trampoline.
        #expect(framesToTrampoline(crashed).before.count == 7 && crashed.frames[7].function == "calltrap")
    }

    @Test("LLDB opens the i386 core with the printed command: registers, thread list, backtraces")
    func lldb() throws {
        guard let binary = debugger("lldb") else {
            if !debuggerTestsOff {
                Issue.record("lldb is not installed in /usr/bin: install it (apt-get install lldb) or set KVMDUMP_DEBUGGER_TESTS=off to skip")
            }
            return
        }
        let scratch = try TemporaryDirectory()
        let command = try exportThreadFixture("i386", scratch, flavor: "lldb")
        #expect(command.hasPrefix("lldb \(scratch.url.path)/kernel -c "), "\(command)")
        let hz = i386Truth.symbols["hz"]!
        let run = binary + command.dropFirst(4) + " --batch --no-lldbinit"
            + " -o 'memory read --format x --size 4 --count 1 \(hex(hz))'"
            + " -o 'register read eip esp ebp ebx esi edi' -o 'thread list' -o 'thread backtrace all'"
        let (output, _) = try shell(run)
        #expect(output.contains("Core file") && output.contains("(i386) was loaded"), "\(output)")
        #expect(output.contains(String(format: "0x%08lx", hz) + ": 0x00000064"), "\(output)")
        let r = i386Ordered[0].registers
        for name in ["eip", "esp", "ebp", "ebx", "esi", "edi"] {
            #expect(output.contains("\(name) = " + String(format: "0x%08lx", r[name]!)), "\(name): \(output)")
        }
        let listed = output.split(separator: "\n").filter { $0.contains("thread #") && $0.contains("tid = ") }
        #expect(listed.count == i386Ordered.count, "\(output)")
        for (line, t) in zip(listed, i386Ordered) {
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
        #expect(traces.count == i386Ordered.count)
        for (trace, t) in zip(traces, i386Ordered) {
            let expected = framesToTrampoline(t).before
            #expect(Array(trace.prefix(expected.count)) == expected, "tid \(t.tid): \(trace)")
        }
    }

    @Test("kvmdump bt --all --json on the i386 fixture: every frame's pc, sp and fp and every trap line as the generator's truth")
    func backtracesMatchTruth() throws {
        let result = try Tool.run(["-N", "Fixtures/kernel.i386.threads", "-M", "Fixtures/vmcore.i386.threads", "bt", "--all", "--json"])
        #expect(result.status == 0, "\(result.stderrText)")
        guard let root = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any],
              let threads = root["threads"] as? [[String: Any]] else { throw HarnessError("bt --all --json: \(result.stderrText)") }
        #expect(threads.compactMap { $0["tid"] as? Int } == i386Ordered.map { Int($0.tid) })
        for (thread, t) in zip(threads, i386Ordered) {
            let frames = thread["frames"] as? [[String: Any]] ?? []
            #expect(frames.count == t.frames.count, "tid \(t.tid)")
            for (frame, expected) in zip(frames, t.frames) {
                #expect(frame["pc"] as? String == String(format: "0x%08lx", expected.pc), "tid \(t.tid)")
                #expect(frame["sp"] as? String == String(format: "0x%08lx", expected.sp), "tid \(t.tid)")
                #expect(frame["fp"] as? String == String(format: "0x%08lx", expected.fp), "tid \(t.tid)")
                #expect(frame["location"] as? String == expected.symbolized, "tid \(t.tid)")
                let trap = frame["trap"] as? [String: Any]
                #expect((trap?["kind"] as? String) == expected.trap?.kind, "tid \(t.tid)")
            }
            #expect(thread["stop"] as? String == t.stop, "tid \(t.tid)")
        }
    }
}
