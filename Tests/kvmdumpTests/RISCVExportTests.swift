/// `kvmdump export` of the riscv thread fixture (Fixtures/vmcore.riscv.threads) opened by gdb-multiarch
/// (`set architecture riscv:rv64`) with the printed command: memory, the crashed thread's registers, every
/// thread's LWP and name, and each backtrace up to its first exception-handler frame, against the
/// generator's ground truth. A missing debugger fails loudly unless KVMDUMP_DEBUGGER_TESTS=off.
/// LLDB is not tested: the installed LLDB 14 has no riscv64 ELF core support (it crashes on the FreeBSD
/// notes and finds no NT_PRSTATUS in the Linux ones).
import Foundation
import Testing
import VMCoreBuilder

/// The golden riscv thread fixture's truth, crashed thread first (the core's order).
private let riscvTruth: ThreadsTruth = try! makeRISCVThreadFixture(.golden()).truth
private var riscvOrdered: [ThreadTruth] { coreOrder(riscvTruth) }

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

@Suite("kvmdump export riscv", .serialized)
struct RISCVExportTests {
    @Test("gdb-multiarch opens the riscv core with the printed command: memory, registers, threads, backtraces")
    func gdbMultiarch() throws {
        guard let binary = debugger("gdb-multiarch") else {
            if !debuggerTestsOff {
                Issue.record("gdb-multiarch is not installed: install it (apt-get install gdb-multiarch) or set KVMDUMP_DEBUGGER_TESTS=off to skip")
            }
            return
        }
        let scratch = try TemporaryDirectory()
        let command = try exportThreadFixture("riscv", scratch, flavor: "gdb")
        let head = "gdb-multiarch -iex 'set architecture riscv:rv64' -iex 'set osabi GNU/Linux' "
        #expect(command.hasPrefix(head), "\(command)")
        // One bt per thread, not `thread apply all bt`: gdb's riscv prologue unwinder cannot go past a
        // frame that saves no ra (the handlers, fork_trampoline) and ends with the error "PC not saved",
        // which makes `thread apply` drop that thread's output.
        var perThread = ""
        for i in 1...riscvOrdered.count { perThread += " -ex 'thread \(i)' -ex 'echo @@\(i)\\n' -ex 'bt 64'" }
        let run: String = binary + String(command.dropFirst("gdb-multiarch".count)) + " -batch -nx"
            + " -ex 'echo @hz\\n' -ex 'x/wx &hz' -ex 'x/s &version'"
            + " -ex 'echo @regs\\n' -ex 'p/x $pc' -ex 'p/x $sp' -ex 'p/x $s0' -ex 'p/x $ra' -ex 'p/x $gp' -ex 'p/x $s1'"
            + " -ex 'echo @threads\\n' -ex 'info threads' -ex 'echo @bt\\n'" + perThread
        let (output, status) = try shell(run)
        #expect(status == 0, "\(output)")
        #expect(!output.contains("Couldn't find general-purpose registers"), "\(output)")
        #expect(!output.contains("core file may not match"), "\(output)")
        let hz = riscvTruth.symbols["hz"]!
        #expect(output.contains("\(hex(hz)) <hz>:\t0x000003e8"), "\(output)")
        #expect(output.contains("<version>:\t\"FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC riscv\\n\""), "\(output)")
        let crashed = riscvOrdered[0]
        let r = crashed.registers
        #expect(output.contains("$1 = \(hex(r["pc"]!))\n$2 = \(hex(r["sp"]!))\n$3 = \(hex(r["s0"]!))\n$4 = \(hex(r["ra"]!))\n"
                                + "$5 = \(hex(r["gp"]!))\n$6 = \(hex(r["s1"]!))"), "\(output)")
        let threadSection = output.components(separatedBy: "@threads\n")[1].components(separatedBy: "@bt\n")[0]
        let rows = threadSection.split(separator: "\n").dropFirst()
        #expect(rows.count == riscvOrdered.count)
        for (row, t) in zip(rows, riscvOrdered) {
            #expect(row.contains("LWP \(t.tid) \"\(t.name.isEmpty ? t.comm : t.name)\""), "\(row)")
        }
        #expect(rows.first?.hasPrefix("*") == true)
        let sections = output.components(separatedBy: "@bt\n")[1].components(separatedBy: "@@")
        #expect(sections.count == riscvOrdered.count + 1)
        for (section, t) in zip(sections.dropFirst(), riscvOrdered) {
            var pcs: [UInt64] = []
            for line in section.split(separator: "\n") {
                if line.hasPrefix("[Switching") { break }
                let words = line.split(separator: " ")
                if line.hasPrefix("#"), words.count >= 3, words[2] == "in", let pc = UInt64(words[1].dropFirst(2), radix: 16) {
                    pcs.append(pc)
                }
            }
            let expected = framesToFirstTrap(t)
            #expect(Array(pcs.prefix(expected.count)) == expected, "tid \(t.tid): \(pcs) in \(String(section))")
        }
        // The crashed thread: doadump ... cpu_exception_handler_supervisor, 7 frames, as kvmdump shows them.
        #expect(framesToFirstTrap(crashed).count == 7 && crashed.frames[6].function == "cpu_exception_handler_supervisor")
    }

    @Test("kvmdump bt --all --json on the riscv fixture: every frame's pc, sp and fp and every trap as the generator's truth")
    func backtracesMatchTruth() throws {
        let result = try Tool.run(["-N", "Fixtures/kernel.riscv.threads", "-M", "Fixtures/vmcore.riscv.threads", "bt", "--all", "--json"])
        #expect(result.status == 0, "\(result.stderrText)")
        guard let root = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any],
              let threads = root["threads"] as? [[String: Any]] else { throw HarnessError("bt --all --json: \(result.stderrText)") }
        #expect(threads.compactMap { $0["tid"] as? Int } == riscvOrdered.map { Int($0.tid) })
        for (thread, t) in zip(threads, riscvOrdered) {
            let frames = thread["frames"] as? [[String: Any]] ?? []
            #expect(frames.count == t.frames.count, "tid \(t.tid)")
            for (frame, expected) in zip(frames, t.frames) {
                #expect(frame["pc"] as? String == String(format: "0x%016lx", expected.pc), "tid \(t.tid)")
                #expect(frame["sp"] as? String == String(format: "0x%016lx", expected.sp), "tid \(t.tid)")
                #expect(frame["fp"] as? String == String(format: "0x%016lx", expected.fp), "tid \(t.tid)")
                #expect(frame["location"] as? String == expected.symbolized, "tid \(t.tid)")
                let trap = frame["trap"] as? [String: Any]
                #expect((trap?["kind"] as? String) == expected.trap?.kind, "tid \(t.tid)")
                #expect((trap?["number"] as? Int).map(UInt64.init) == expected.trap?.number, "tid \(t.tid)")
            }
            #expect(thread["stop"] as? String == t.stop, "tid \(t.tid)")
        }
    }
}
