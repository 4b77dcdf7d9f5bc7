/// `kvmdump export`: the CLI's rules (no overwrite without --force, standard output, the dump
/// untouched) and the real debuggers — gdb, gdb-multiarch, LLDB — opening the core with the printed
/// command: memory at kernel-map and direct-map addresses, registers, thread names and backtraces,
/// all against the generator's ground truth. A missing debugger fails loudly unless
/// KVMDUMP_DEBUGGER_TESTS=off.
import Foundation
import Testing
import VMCoreBuilder

/// The golden thread dump (Fixtures/vmcore.2 + kernel.2) and its truth.
private struct ExportTruth {
    let threads: ThreadsTruth
    let dump: GroundTruth
    let bytes: [UInt8]

    static let shared: ExportTruth = {
        let fixture = try! threadFixture(.golden())
        let generated = try! generateDump(fixture.dump)
        return ExportTruth(threads: fixture.truth, dump: generated.truth, bytes: generated.bytes)
    }()

    /// Threads in the core's order: the crashed one first, then walk order.
    var ordered: [ThreadTruth] { threads.threads.filter(\.crashed) + threads.threads.filter { !$0.crashed } }

    /// The name the core gives a thread: td_name, else p_comm.
    func coreName(_ t: ThreadTruth) -> String { t.name.isEmpty ? t.comm : t.name }

    /// A direct-map-only page with non-zero bytes at +0x100, its DMAP address and the word there.
    var directMapWord: (address: UInt64, value: UInt64) {
        for pa in dump.directMapOnlyPages {
            guard let index = dump.dumpedPages.firstIndex(of: pa) else { continue }
            let at = Int(dump.dataOffset) + index * 4096 + 0x100
            let value = (0..<8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[at + $1]) }
            if value != 0 { return (dump.dmapBase + pa + 0x100, value) }
        }
        fatalError("no direct-map-only page with data")
    }

    /// The direct-map address of the kernel-map address `va` (the same physical bytes).
    func directMapAlias(_ va: UInt64) -> UInt64 {
        let page = dump.kernelPages.first { $0.va <= va && va < $0.va + $0.size }!
        return dump.dmapBase + page.pa + (va - page.va)
    }

    /// The frames a debugger must show: kvmdump's frame-pointer frames up to the first trap frame.
    func expectedFrames(_ t: ThreadTruth) -> [UInt64] {
        var pcs: [UInt64] = []
        for frame in t.frames {
            pcs.append(frame.pc)
            if frame.trap != nil { break }
        }
        return pcs
    }
}

let debuggerTestsOff = ProcessInfo.processInfo.environment["KVMDUMP_DEBUGGER_TESTS"] == "off"

/// The debugger's binary, or nil (the Swift toolchain's lldb is skipped: it cannot start without
/// libpython3.10 here; Debian's /usr/bin/lldb is used).
func debugger(_ name: String) -> String? {
    for directory in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Runs `command` with /bin/sh in the repository root; stdout and stderr together.
func shell(_ command: String, timeout: TimeInterval = 120) throws -> (output: String, status: Int32) {
    let scratch = try TemporaryDirectory()
    let outURL = scratch.url.appendingPathComponent("out")
    try Data().write(to: outURL)
    let out = try FileHandle(forWritingTo: outURL)
    defer { try? out.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.currentDirectoryURL = Paths.root
    process.environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": scratch.url.path, "TERM": "dumb"]
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning {
        if Date() > deadline {
            process.terminate()
            throw HarnessError("\(command) did not finish in \(timeout) s")
        }
        usleep(5_000)
    }
    process.waitUntilExit()
    return (String(decoding: try Data(contentsOf: outURL), as: UTF8.self), process.terminationStatus)
}

/// Exports the golden dump and returns the command kvmdump printed to open it.
/// With `xnum`, KVMDUMP_EXPORT_PHDR_LIMIT=2 makes the core use PN_XNUM although it has few segments.
private func exportGolden(_ scratch: TemporaryDirectory, flavor: String, xnum: Bool) throws -> (core: String, command: String) {
    let core = scratch.url.appendingPathComponent("core.\(flavor)").path
    let result = try Tool.run(["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "export", "-o", core, "--for", flavor],
                              environment: xnum ? ["KVMDUMP_EXPORT_PHDR_LIMIT": "2"] : [:])
    #expect(result.status == 0, "\(result.stderrText)")
    #expect(result.stderrText.contains("(PN_XNUM)") == xnum)
    let prefix = "kvmdump: open it with: "
    guard let line = result.stderrText.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
        throw HarnessError("no command printed: \(result.stderrText)")
    }
    return (core, String(line.dropFirst(prefix.count)))
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

/// Lines `#N  0x... in` per LWP from gdb's `thread apply all bt`.
func gdbBacktraces(_ text: String) -> [Int32: [UInt64]] {
    var result: [Int32: [UInt64]] = [:]
    var current: Int32?
    for line in text.split(separator: "\n") {
        if line.hasPrefix("Thread "), let range = line.range(of: "(LWP ") {
            current = Int32(line[range.upperBound...].prefix { $0.isNumber })
        } else if let current, line.hasPrefix("#") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if words.count >= 2, words[1].hasPrefix("0x"), let pc = UInt64(words[1].dropFirst(2), radix: 16) {
                result[current, default: []].append(pc)
            }
        }
    }
    return result
}

/// `kvmdump bt --all --json`'s frames per thread, up to and including the first frame with a trap.
private func kvmdumpFrames() throws -> [Int32: [UInt64]] {
    let result = try Tool.run(["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "bt", "--all", "--json"])
    guard result.status == 0, let root = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any],
          let threads = root["threads"] as? [[String: Any]] else { throw HarnessError("bt --all --json: \(result.stderrText)") }
    var frames: [Int32: [UInt64]] = [:]
    for thread in threads {
        guard let tid = thread["tid"] as? Int, let list = thread["frames"] as? [[String: Any]] else { continue }
        var pcs: [UInt64] = []
        for frame in list {
            guard let pc = (frame["pc"] as? String).flatMap({ UInt64($0.dropFirst(2), radix: 16) }) else { break }
            pcs.append(pc)
            if !(frame["trap"] is NSNull) && frame["trap"] != nil { break }
        }
        frames[Int32(tid)] = pcs
    }
    return frames
}

@Suite("kvmdump export", .serialized)
struct ExportTests {
    @Test("Refuses to overwrite without --force; --force overwrites; -o - streams the same core; the dump is untouched")
    func outputRules() throws {
        let scratch = try TemporaryDirectory()
        let core = scratch.url.appendingPathComponent("core").path
        let dumpBefore = try Data(contentsOf: Paths.root.appendingPathComponent("Fixtures/vmcore.2"))
        let args = ["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "export", "-o", core]
        let first = try Tool.run(args)
        #expect(first.status == 0, "\(first.stderrText)")
        #expect(first.stdout.isEmpty)
        let again = try Tool.run(args)
        #expect(again.status == 1)
        #expect(again.stderrText.contains("\(core): file exists (use --force to overwrite it)"))
        let forced = try Tool.run(args + ["--force"])
        #expect(forced.status == 0)
        let piped = try Tool.run(["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "export", "-o", "-"])
        #expect(piped.status == 0)
        #expect(piped.stdout == (try Data(contentsOf: URL(fileURLWithPath: core))))
        #expect(try Data(contentsOf: Paths.root.appendingPathComponent("Fixtures/vmcore.2")) == dumpBefore)
        let script = try String(contentsOfFile: core + ".gdb", encoding: .utf8)
        #expect(script.contains("thread apply 1 -q thread name \(ExportTruth.shared.ordered[0].name)"))
        let json = try Tool.run(args + ["--force", "--json"])
        #expect(json.status == 0 && json.stdoutText.contains("\"threads\":16"))
        let memoryOnly = try Tool.run(["-M", "Fixtures/vmcore.2", "export", "-o", core, "--force"])
        #expect(memoryOnly.status == 0 && memoryOnly.stderrText.contains(", 0 threads"), "\(memoryOnly.stderrText)")
        #expect(memoryOnly.stderrText.contains("open it with: gdb -iex 'set osabi GNU/Linux' KERNEL \(core)"))
        let usage = try Tool.run(["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "export"])
        #expect(usage.status == 2 && usage.stderrText.contains("missing -o OUT"))
        let linked = scratch.url.appendingPathComponent("link").path
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: Paths.root.appendingPathComponent("Fixtures/vmcore.2").path)
        let onDump = try Tool.run(["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "export", "-o", linked, "--force"])
        #expect(onDump.status == 1 && onDump.stderrText.contains("\(linked): is the dump itself; choose another output"))
        #expect(try Data(contentsOf: Paths.root.appendingPathComponent("Fixtures/vmcore.2")) == dumpBefore)
        try FileManager.default.removeItem(atPath: core)
        let staleScript = try Tool.run(args)
        #expect(staleScript.status == 1 && staleScript.stderrText.contains("\(core).gdb: file exists"))
        #expect(!FileManager.default.fileExists(atPath: core), "nothing written when the script cannot be")
        let devnull = try Tool.run(["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "export", "-o", "/dev/null", "--force"])
        #expect(devnull.status == 0 && !devnull.stderrText.contains("-x /dev/null.gdb"), "\(devnull.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: "/dev/null.gdb"))
        let flavor = try Tool.run(args + ["--for", "dbx"])
        #expect(flavor.status == 2 && flavor.stderrText.contains("--for 'dbx': expected gdb or lldb"))
    }

    @Test("A dump with damaged thread lists and pcbs exports what is readable and says what was left out")
    func corrupt() throws {
        let scratch = try TemporaryDirectory()
        let dump = scratch.url.appendingPathComponent("vmcore.corrupt").path
        try Data(try ScratchThreadFile.corrupt.bytes()).write(to: URL(fileURLWithPath: dump))
        let core = scratch.url.appendingPathComponent("core").path
        let result = try Tool.run(["-N", "Fixtures/kernel.2", "-M", dump, "export", "-o", core])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stderrText.contains("\(dump): warning: "), "\(result.stderrText)")
        #expect(result.stderrText.contains("threads without a readable pcb have zero registers in the core: tids "), "\(result.stderrText)")
        #expect(result.stderrText.contains("kvmdump: open it with: gdb "))
        let truncated = scratch.url.appendingPathComponent("vmcore.truncated").path
        let bytes = try Data(contentsOf: Paths.root.appendingPathComponent("Fixtures/vmcore.2"))
        try bytes.prefix(bytes.count - 40 * 4096 - 100).write(to: URL(fileURLWithPath: truncated))
        let cut = try Tool.run(["-N", "Fixtures/kernel.2", "-M", truncated, "export", "-o", core, "--force"])
        #expect(cut.status == 0, "\(cut.stderrText)")
        #expect(cut.stderrText.contains("41 dumped pages past the end of the file"), "\(cut.stderrText)")
        #expect(cut.stderrText.contains("file is truncated"))
    }

    @Test("gdb and gdb-multiarch open the core with the printed command (with and without PN_XNUM)",
          arguments: ["gdb", "gdb-multiarch"], [false, true])
    func gdb(name: String, xnum: Bool) throws {
        guard let binary = debugger(name) else {
            if !debuggerTestsOff {
                Issue.record("\(name) is not installed: install it (apt-get install gdb gdb-multiarch lldb) or set KVMDUMP_DEBUGGER_TESTS=off to skip")
            }
            return
        }
        let truth = ExportTruth.shared
        let scratch = try TemporaryDirectory()
        let (_, command) = try exportGolden(scratch, flavor: "gdb", xnum: xnum)
        #expect(command.hasPrefix("gdb -iex 'set osabi GNU/Linux' Fixtures/kernel.2 "))
        let dmap = truth.directMapWord
        let hz = truth.threads.symbols["hz"]!
        let run = binary + command.dropFirst(3) + " -batch -nx"
            + " -ex 'echo @hz\\n' -ex 'x/wx &hz' -ex 'echo @version\\n' -ex 'x/s &version'"
            + " -ex 'echo @dmap\\n' -ex 'x/gx \(hex(dmap.address))' -ex 'x/wx \(hex(truth.directMapAlias(hz)))' -ex 'echo @regs\\n' -ex 'p/x $rip' -ex 'p/x $rsp'"
            + " -ex 'echo @threads\\n' -ex 'info threads' -ex 'echo @bt\\n' -ex 'thread apply all bt 64'"
        let (output, status) = try shell(run)
        #expect(status == 0, "\(output)")
        #expect(!output.contains("Couldn't find general-purpose registers"))
        #expect(!output.contains("core file may not match"))
        #expect(output.contains("\(hex(hz)) <hz>:\t0x000003e8"), "\(output)")
        #expect(output.contains("<version>:\t\"FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC amd64\\n\""))
        #expect(output.contains("\(hex(dmap.address)):\t0x" + String(format: "%016lx", dmap.value)), "\(output)")
        // hz through the direct map: the kernel-map and direct-map segments share these bytes.
        #expect(output.contains("\(hex(truth.directMapAlias(hz))):\t0x000003e8"), "\(output)")
        let crashed = truth.ordered[0]
        #expect(output.contains("$1 = \(hex(crashed.registers["rip"]!))\n$2 = \(hex(crashed.registers["rsp"]!))"))
        // info threads: every thread with its LWP and name, in the core's order, the crashed one current.
        let threadSection = output.components(separatedBy: "@threads\n")[1].components(separatedBy: "@bt\n")[0]
        let rows = threadSection.split(separator: "\n").dropFirst()
        #expect(rows.count == truth.ordered.count)
        for (row, t) in zip(rows, truth.ordered) {
            #expect(row.contains("LWP \(t.tid) \"\(truth.coreName(t))\""), "\(row)")
        }
        #expect(rows.first?.hasPrefix("*") == true)
        let traces = gdbBacktraces(output.components(separatedBy: "@bt\n")[1])
        let ours = try kvmdumpFrames()
        for t in truth.ordered {
            let expected = truth.expectedFrames(t)
            #expect(ours[t.tid] == expected, "kvmdump bt --all, tid \(t.tid)")
            #expect(Array((traces[t.tid] ?? []).prefix(expected.count)) == expected, "tid \(t.tid)")
        }
    }

    @Test("LLDB opens the core with the printed command (with and without PN_XNUM)", arguments: [false, true])
    func lldb(xnum: Bool) throws {
        guard let binary = debugger("lldb") else {
            if !debuggerTestsOff {
                Issue.record("lldb is not installed in /usr/bin: install it (apt-get install lldb) or set KVMDUMP_DEBUGGER_TESTS=off to skip")
            }
            return
        }
        let truth = ExportTruth.shared
        let scratch = try TemporaryDirectory()
        let (_, command) = try exportGolden(scratch, flavor: "lldb", xnum: xnum)
        #expect(command.hasPrefix("lldb Fixtures/kernel.2 -c "))
        let dmap = truth.directMapWord
        let hz = truth.threads.symbols["hz"]!
        let version = truth.threads.symbols["version"]!
        let run = binary + command.dropFirst(4) + " --batch --no-lldbinit"
            + " -o 'memory read --format x --size 4 --count 1 \(hex(hz))'"
            + " -o 'memory read --format c --count 20 \(hex(version))'"
            + " -o 'memory read --format x --size 8 --count 1 \(hex(dmap.address))'"
            + " -o 'memory read --format x --size 4 --count 1 \(hex(truth.directMapAlias(hz)))'"
            + " -o 'register read rip rsp' -o 'thread list' -o 'thread backtrace all'"
        let (output, _) = try shell(run)
        #expect(output.contains("Core file"), "\(output)")
        #expect(output.contains("\(hex(hz)): 0x000003e8"), "\(output)")
        #expect(output.contains("FreeBSD 14.1-RELEAS"))
        #expect(output.contains("\(hex(dmap.address)): 0x" + String(format: "%016lx", dmap.value)), "\(output)")
        #expect(output.contains("\(hex(truth.directMapAlias(hz))): 0x000003e8"), "\(output)")
        let crashed = truth.ordered[0]
        #expect(output.contains("rip = " + String(format: "0x%016lx", crashed.registers["rip"]!)), "\(output)")
        #expect(output.contains("rsp = " + String(format: "0x%016lx", crashed.registers["rsp"]!)))
        // thread list: `thread #N: tid = T, ..., name = 'NAME'` in the core's order.
        let listed = output.split(separator: "\n").filter { $0.contains("thread #") && $0.contains("tid = ") }
        #expect(listed.count == truth.ordered.count, "\(output)")
        for (line, t) in zip(listed, truth.ordered) {
            #expect(line.contains("tid = \(t.tid),") && line.contains("name = '\(truth.coreName(t))'"), "\(line)")
        }
        #expect(listed.first?.hasPrefix("* thread #1:") == true)
        // thread backtrace all: threads in order, `frame #N: 0x...`.
        var traces: [[UInt64]] = []
        for line in output.components(separatedBy: "(lldb) thread backtrace all").last!.split(separator: "\n") {
            if line.contains("thread #") && !line.contains("frame #") {
                traces.append([])
            } else if let range = line.range(of: "frame #"), !traces.isEmpty {
                let rest = line[range.upperBound...].split(separator: " ")
                if rest.count >= 2, let pc = UInt64(rest[1].dropFirst(2), radix: 16) { traces[traces.count - 1].append(pc) }
            }
        }
        #expect(traces.count == truth.ordered.count)
        let ours = try kvmdumpFrames()
        for (trace, t) in zip(traces, truth.ordered) {
            let expected = truth.expectedFrames(t)
            #expect(ours[t.tid] == expected, "kvmdump bt --all, tid \(t.tid)")
            #expect(Array(trace.prefix(expected.count)) == expected, "tid \(t.tid)")
        }
    }

    @Test("500 threads: gdb (with the script) and LLDB list every one with its name, the crashed one first")
    func manyThreads() throws {
        let gdbBinary = debugger("gdb"), lldbBinary = debugger("lldb")
        if (gdbBinary == nil || lldbBinary == nil) && !debuggerTestsOff {
            Issue.record("gdb or lldb is not installed: install them (apt-get install gdb lldb) or set KVMDUMP_DEBUGGER_TESTS=off to skip")
        }
        let fixture = try benchThreadFixture(threads: 500)
        let scratch = try TemporaryDirectory()
        let dump = scratch.url.appendingPathComponent("vmcore.500").path
        let kernel = scratch.url.appendingPathComponent("kernel.500").path
        _ = try writeDump(fixture.dump, to: dump)
        try writeFile(makeKernelELF(fixture.kernel), toPath: kernel)
        let truth = fixture.truth.threads.filter(\.crashed) + fixture.truth.threads.filter { !$0.crashed }
        #expect(truth.count >= 500)
        func name(_ t: ThreadTruth) -> String { t.name.isEmpty ? t.comm : t.name }
        for flavor in ["gdb", "lldb"] {
            guard let binary = flavor == "gdb" ? gdbBinary : lldbBinary else { continue }
            let core = scratch.url.appendingPathComponent("core.\(flavor)").path
            let result = try Tool.run(["-N", kernel, "-M", dump, "export", "-o", core, "--for", flavor])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stderrText.contains(", \(truth.count) threads"))
            guard let line = result.stderrText.split(separator: "\n").first(where: { $0.hasPrefix("kvmdump: open it with: ") }) else {
                Issue.record("no command: \(result.stderrText)")
                continue
            }
            let command = String(line.dropFirst("kvmdump: open it with: ".count).drop { $0 != " " })
            if flavor == "gdb" {
                let (output, status) = try shell(binary + command + " -batch -nx -ex 'info threads'")
                #expect(status == 0)
                let rows = output.split(separator: "\n").filter { $0.contains(" LWP ") && !$0.hasPrefix("[") }
                #expect(rows.count == truth.count)
                for (row, t) in zip(rows, truth) { #expect(row.contains("LWP \(t.tid) \"\(name(t))\""), "\(row)") }
            } else {
                let (output, _) = try shell(binary + command + " --batch --no-lldbinit -o 'thread list'")
                let rows = output.split(separator: "\n").filter { $0.contains("thread #") && $0.contains("tid = ") }
                #expect(rows.count == truth.count)
                for (row, t) in zip(rows, truth) {
                    #expect(row.contains("tid = \(t.tid),") && row.contains("name = '\(String(name(t).utf8.prefix(19))!)'"), "\(row)")
                }
            }
        }
    }
}
