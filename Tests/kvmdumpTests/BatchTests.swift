/// `read -` and `sym -`: one answer line per request, flushed while standard input stays open, a million
/// requests in bounded memory; friendlier errors; warnings about a kernel image that does not fit the dump.
import Foundation
import Testing
import VMCoreBuilder

@Suite("read - and sym - (batch)")
struct BatchTests {
    /// Requests and the answer each must get (vmcore.0; see Fixtures/README.md).
    static let reads: [(String, String)] = [
        ("0xfffffe00002083c8 16", "6b766d64756d705f6669787475726500"),  // "kvmdump_fixture"
        ("0x1234 4", "error: 0x0000000000001234: not in the kernel map"),
        ("0xfffffe0000209040 0xa", "70616765206661756c74"),  // "page fault"
        ("bogus 8", "error: 'bogus 8': malformed address"),
        ("0xfffffe000020dff0 0x20", "error: 0xfffffe000020e000: PTE is not valid (0x0; PDE 0x3b5063) (16 of 32 bytes readable)"),
        ("fffffe00002083c8 4", "error: 'fffffe00002083c8 4': malformed address (with -N also a symbol expression); did you mean 0xfffffe00002083c8?"),
        ("0xfffffe00002083c8", "error: '0xfffffe00002083c8': expected 'ADDR LEN'"),
        ("0xfffffe00002083c8 2m", "error: '0xfffffe00002083c8 2m': malformed length '2m' (1 to 1048576 bytes)"),
        ("0xfffffe00002083c8 1k", String(repeating: "x", count: 0)),
    ]

    @Test("each read answer arrives before the next request is written")
    func interactiveRead() throws {
        let tool = try InteractiveTool(["-M", "Fixtures/vmcore.0", "read", "-"])
        for round in 0..<27 {
            let (question, answer) = Self.reads[round % Self.reads.count]
            tool.send(question + "\n")
            let line = try #require(tool.readLine(), "no answer to '\(question)' (round \(round)) while stdin is open")
            if answer.isEmpty {
                #expect(line.count == 2048 && line.hasPrefix("6b766d64756d705f"), "round \(round): \(line.prefix(80))")
            } else {
                #expect(line.hasPrefix(answer), "round \(round): \(line)")
            }
        }
        #expect(tool.finish() == 1)
    }

    @Test("read --json - gives one object per line")
    func readJSON() throws {
        let tool = try InteractiveTool(["-M", "Fixtures/vmcore.0", "read", "--json", "-"])
        for (question, _) in Self.reads {
            tool.send(question + "\n")
            let line = try #require(tool.readLine(), "no answer to '\(question)'")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["error"] != nil, "\(line)")
            #expect(object["va"] != nil || object["input"] as? String == question, "\(line)")
        }
        #expect(tool.finish() == 1)
    }

    @Test("read - with symbol expressions and sym -")
    func symbols() throws {
        let read = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", "Fixtures/kernel.1", "read", "-"],
                                stdin: Data("hz 4\n*panicstr 10\nnosuch 4\n".utf8))
        #expect(read.stdoutText == "e8030000\n70616765206661756c74\nerror: 'nosuch 4': Fixtures/kernel.1: no symbol 'nosuch'\n")
        #expect(read.status == 1)
        #expect(read.stderrText == "")
        let sym = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", "Fixtures/kernel.1", "sym", "-"],
                               stdin: Data("hz\n&hz\nnosuch\nfffffe\n".utf8))
        #expect(sym.stdoutText == """
            hz = 0xfffffe0010002120 (size 4, object, global, .bss)
            0xfffffe0010002120 = hz (size 4, object, global, .bss)
            error: 'nosuch': Fixtures/kernel.1: no symbol 'nosuch'
            error: 'fffffe': Fixtures/kernel.1: no symbol 'fffffe'; did you mean 0xfffffe?

            """)
        #expect(sym.status == 1)
        let json = try Tool.run(["-N", "Fixtures/kernel.1", "sym", "--json", "-"], stdin: Data("hz\nnosuch\n".utf8))
        let lines = json.stdoutText.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("{\"input\":\"hz\",\"address\":\"0xfffffe0010002120\"") == true)
        #expect(lines.last == "{\"input\":\"nosuch\",\"error\":\"Fixtures/kernel.1: no symbol 'nosuch'\"}")
    }

    /// One million `ADDR LEN` requests (`KVMDUMP_STREAM_LINES` overrides; 100,000 under AddressSanitizer)
    /// give as many answers while the tool's peak RSS stays under 64 MiB.
    @Test("a million reads in bounded memory")
    func million() throws {
        let total = ProcessInfo.processInfo.environment["KVMDUMP_STREAM_LINES"].flatMap { Int($0) }
            ?? (StreamTests.underAddressSanitizer ? 100_000 : 1_000_000)
        let tool = try InteractiveTool(
            ["-M", "Fixtures/vmcore.0", "read", "-"],
            environment: ["ASAN_OPTIONS": "detect_leaks=0:quarantine_size_mb=0"])
        let requests = Self.reads.prefix(6).map { $0.0 + "\n" }
        let block = requests.joined()
        let blocks = total / requests.count
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
        let expected = blocks * requests.count
        #expect(tool.skipLines(expected) == expected)
        let peak = try #require(tool.peakResidentKiB())
        #expect(peak < 64 * 1024, "peak RSS \(peak) KiB")
        #expect(tool.finish() == 1)
        #expect(tool.countLines() == 0)
    }
}

@Suite("friendlier errors and kernel warnings")
struct KernelWarningTests {
    /// kernel.1 with its ELF header's e_machine (offset 18) set to EM_AARCH64 (183).
    static func foreignKernel() throws -> URL {
        var bytes = try Data(contentsOf: Paths.root.appendingPathComponent("Fixtures/kernel.1"))
        bytes[18] = 183
        bytes[19] = 0
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdump-kernel-aarch64-\(getpid())")
        try bytes.write(to: url)
        return url
    }

    @Test("a bare hex address gets 'did you mean 0x...?'")
    func hexHint() throws {
        let run = try Tool.run(["-M", "Fixtures/vmcore.0", "read", "ffffffff81c01004", "--len", "4"])
        #expect(run.status == 2)
        #expect(run.stderrText.hasPrefix("kvmdump: symbol 'ffffffff81c01004' needs a kernel image (-N); did you mean 0xffffffff81c01004?\n"))
        let withKernel = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", "Fixtures/kernel.1", "read", "fffffe0010002120", "--len", "4"])
        #expect(withKernel.status == 1)
        #expect(withKernel.stderrText == "kvmdump: Fixtures/kernel.1: no symbol 'fffffe0010002120'; did you mean 0xfffffe0010002120?\n")
    }

    @Test("msgbuf, header, stats and pages go on after a bad -N or KVMDUMP_KERNEL")
    func badKernelDoesNotStopCommandsWithoutSymbols() throws {
        for command in [["msgbuf"], ["header"], ["stats"], ["pages"]] {
            for (arguments, environment) in [(["-N", "/nonexistent/kernel"], [String: String]()),
                                              ([], ["KVMDUMP_KERNEL": "Fixtures/vmcore.0"])] {
                let run = try Tool.run(arguments + ["-M", "Fixtures/vmcore.1"] + command, environment: environment)
                #expect(run.status == 0, "\(command) \(arguments) \(environment): \(run.stderrText)")
                #expect(!run.stdout.isEmpty)
            }
        }
        // The batch modes still answer numbers; only expressions fail, each on its own line.
        for command in ["translate", "read"] {
            let input = command == "read" ? "0xfffffe00002083c8 2\nhz 4\n" : "0xfffffe00002083c8\nhz\n"
            let run = try Tool.run(["-N", "/nonexistent/kernel", "-M", "Fixtures/vmcore.0", command, "-"], stdin: Data(input.utf8))
            let lines = run.stdoutText.split(separator: "\n")
            #expect(lines.count == 2 && lines.first?.hasPrefix("error") == false && lines.last?.hasPrefix("error: 'hz") == true,
                    "\(command): \(run.stdoutText)")
            #expect(run.stderrText == "kvmdump: warning: /nonexistent/kernel: cannot open: No such file or directory; symbol expressions in the input will fail\n")
        }
        let msgbuf = try Tool.run(["-N", "/nonexistent/kernel", "-M", "Fixtures/vmcore.1", "msgbuf"])
        #expect(msgbuf.stderrText == "kvmdump: warning: /nonexistent/kernel: cannot open: No such file or directory; going on without the kernel image\n")
    }

    @Test("commands using symbols warn once when the kernel's version does not match the dump")
    func versionMismatchWarnsOnce() throws {
        let warning = "kvmdump: warning: Fixtures/kernel.mismatch: kernel image version does not match the dump ('version' in the dump vs the image); symbols may point at the wrong place\n"
        let read = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", "Fixtures/kernel.mismatch", "read", "hz", "--len", "4"])
        #expect(read.status == 0)
        #expect(read.stderrText == warning)
        let translate = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", "Fixtures/kernel.mismatch", "translate", "hz", "&hz"])
        #expect(translate.stderrText == warning)
        let batch = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", "Fixtures/kernel.mismatch", "read", "-"],
                                 stdin: Data("hz 4\nhz 4\n".utf8))
        #expect(batch.stderrText == warning)
        #expect(batch.stdoutText == "e8030000\ne8030000\n")
        let sym = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", "Fixtures/kernel.mismatch", "sym", "*msgbufp", "hz"])
        #expect(sym.stderrText.hasPrefix(warning))
        let matching = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", "Fixtures/kernel.1", "read", "hz", "--len", "4"])
        #expect(matching.stderrText == "")
    }

    @Test("a kernel image for another machine: an error for symbols, a warning otherwise")
    func foreignMachine() throws {
        let kernel = try Self.foreignKernel()
        defer { try? FileManager.default.removeItem(at: kernel) }
        let message = "\(kernel.path): kernel image is for ELF machine 183, the dump is amd64 (machine 62)"
        let read = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", kernel.path, "read", "hz", "--len", "4"])
        #expect(read.status == 1)
        #expect(read.stderrText == "kvmdump: \(message)\n")
        let msgbuf = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", kernel.path, "msgbuf"])
        #expect(msgbuf.status == 0)
        #expect(msgbuf.stderrText == "kvmdump: warning: \(message); going on without the kernel image\n")
        let info = try Tool.run(["-M", "Fixtures/vmcore.1", "-N", kernel.path, "info"])
        #expect(info.stdoutText.contains("WARNING: \(message)"))
    }
}
