/// Golden tests of the symbol features: `sym`, `info` (with and without -N, a mismatched kernel, info.N),
/// symbol expressions in `read`/`translate`, msgbuf through `msgbufp`, and malformed kernel images.
/// Same harness and files as `GoldenTests` (`Fixtures/expected/<name>.{stdout,stderr,status}`,
/// `KVMDUMP_UPDATE_GOLDENS=1` to rewrite).
import Foundation
import Testing

/// Damaged kernel images made from `Fixtures/kernel.1` in a scratch directory (`$TMP/<name>`).
enum ScratchKernel: String, Sendable, CaseIterable {
    /// The first 1000 bytes: the section header table is cut off.
    case truncated = "kernel.truncated"
    /// `e_shoff` = 0xffffffff00000000.
    case badOffset = "kernel.badoffset"
    /// `.symtab`'s `sh_offset` points 4 KiB past the end of the file.
    case symtabOutside = "kernel.symtab-outside"
    /// An empty file.
    case empty = "kernel.empty"

    func bytes(from good: Data) -> Data {
        var bytes = [UInt8](good)
        func set(_ at: Int, _ value: UInt64) {
            for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        let shoff = (0..<8).reduce(0) { $0 | Int(bytes[40 + $1]) << (8 * $1) }
        switch self {
        case .truncated: return Data(bytes.prefix(1000))
        case .badOffset: set(40, 0xffff_ffff_0000_0000)
        case .symtabOutside: set(shoff + 4 * 64 + 24, UInt64(bytes.count) + 0x1000)
        case .empty: return Data()
        }
        return Data(bytes)
    }
}

/// One run of the tool for the symbol features.
struct SymbolGoldenCase: Sendable, CustomStringConvertible {
    let name: String
    let arguments: [String]
    var environment: [String: String] = [:]
    var stdin: String?
    var description: String { name }
}

private func s(_ name: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) -> SymbolGoldenCase {
    SymbolGoldenCase(name: name, arguments: arguments, environment: environment, stdin: stdin)
}

private func words(_ text: String) -> [String] { text.split(separator: " ").map(String.init) }

/// Every symbol golden case, in a stable order.
let symbolGoldenCases: [SymbolGoldenCase] = {
    let k = ["-N", "Fixtures/kernel.1"]
    let km = k + ["-M", "Fixtures/vmcore.1"]
    var cases: [SymbolGoldenCase] = [
        // sym
        s("sym-by-name", k + words("sym version osreldate hz panic panic_cpu end")),
        s("sym-by-address", k + words("sym 0xfffffe0010002124 0xfffffe00100001a3 panic+0x10 &hostname hostname+255")),
        s("sym-json", km + words("sym hz hostname+8 nosuch *msgbufp-0x108 --json")),
        s("sym-kernel-from-env", words("sym hz"), environment: ["KVMDUMP_KERNEL": "Fixtures/kernel.1"]),
        s("error-sym-unknown", k + words("sym nosuch")),
        s("error-sym-no-symbol-at-address", km + words("sym *panicstr 0x10")),
        s("usage-sym-no-kernel", words("sym hz")),
        s("usage-sym-missing-argument", k + ["sym"]),
        s("usage-sym-malformed", k + ["sym", "hz+"]),
        // i386: 4-byte pointers through the ELF32 kernel
        s("sym-i386", words("-N Fixtures/kernel.i386 -M Fixtures/vmcore.i386.pae sym *msgbufp *panicstr panic+4 hz --json")),
        s("info-i386-pae", words("-N Fixtures/kernel.i386 info Fixtures/vmcore.i386.pae")),
        s("info-i386-pae-json", words("-N Fixtures/kernel.i386 info --json Fixtures/vmcore.i386.pae")),
        s("info-i386-nopae", words("-N Fixtures/kernel.i386 info Fixtures/vmcore.i386.nopae")),
        s("read-i386-string-through-pointer", words("-N Fixtures/kernel.i386 -M Fixtures/vmcore.i386.nopae read *panicstr --string")),
        // info
        s("info-kernel", k + words("info Fixtures/vmcore.1")),
        s("info-kernel-json", k + words("info --json Fixtures/vmcore.1")),
        s("info-no-kernel", words("info Fixtures/vmcore.1")),
        s("info-no-kernel-json", words("info --json Fixtures/vmcore.1")),
        s("info-no-kernel-no-info-file", words("info Fixtures/vmcore.0 --lines 5")),
        s("info-mismatched-kernel", ["-N", "Fixtures/kernel.mismatch"] + words("info Fixtures/vmcore.1 --lines 3")),
        s("info-mismatched-kernel-json", ["-N", "Fixtures/kernel.mismatch"] + words("info --json Fixtures/vmcore.1 --lines 3")),
        s("info-kernel-not-matching-dump-layout", k + words("info Fixtures/vmcore.0 --lines 2")),
        s("info-explicit-info-file", words("info --info-file Fixtures/info.1 --lines 0 Fixtures/vmcore.wrapped")),
        s("error-info-missing-info-file", words("info --info-file Fixtures/info.missing Fixtures/vmcore.1")),
        s("usage-info-bad-lines", words("info --lines many Fixtures/vmcore.1")),
        // read and translate with expressions
        s("read-expr-hostname-string", km + words("read hostname --string")),
        s("read-expr-deref-string", km + ["read", "*panicstr", "--string"]),
        s("read-expr-u32", km + words("read osreldate --len 8 --u32")),
        s("read-expr-struct-msgbuf", km + ["read", "*msgbufp", "--len", "72"]),
        s("read-expr-offset-paren", km + ["read", "*(msgbufp)+8", "--len", "8", "--u32"]),
        s("read-expr-json", km + ["read", "&version", "--string", "--json"]),
        s("usage-read-symbol-without-kernel", words("-M Fixtures/vmcore.1 read hz --len 4")),
        s("usage-read-malformed-expression", km + ["read", "hz+", "--len", "4"]),
        s("usage-read-two-dereferences", km + ["read", "**msgbufp", "--len", "4"]),
        s("error-read-unknown-symbol", km + words("read nosuch --len 4")),
        s("error-read-dereference-unmapped", k + ["-M", "Fixtures/vmcore.0", "read", "*panicstr", "--string"]),
        s("translate-expr", km + ["translate", "hz", "*panicstr", "0xfffffe00002083c8", "version+1"]),
        s("translate-expr-json", km + ["translate", "hz", "nosuch", "*msgbufp", "--json"]),
        s("translate-expr-stdin", km + ["translate", "-"], stdin: "hz\n*msgbufp\nnosuch\n0xfffffe00002083c8\nhz+\n"),
        s("usage-translate-symbol-without-kernel", words("-M Fixtures/vmcore.1 translate hz")),
        // msgbuf through msgbufp
        s("msgbuf-via-msgbufp-json", k + words("msgbuf --unread --json Fixtures/vmcore.1")),
        s("msgbuf-via-msgbufp-fallback", k + words("msgbuf --unread Fixtures/vmcore.0")),
        // malformed and missing kernel images
        s("error-kernel-missing", words("-N Fixtures/kernel.missing info Fixtures/vmcore.1")),
        s("error-kernel-not-elf", words("-N Fixtures/README.md sym hz")),
        s("error-kernel-directory", words("-N Fixtures sym hz")),
    ]
    for kernel in ScratchKernel.allCases {
        cases.append(s("error-kernel-\(kernel.rawValue.dropFirst(7))", ["-N", "$TMP/\(kernel.rawValue)", "info", "Fixtures/vmcore.1"]))
    }
    return cases
}()

/// The names of the symbol cases, for `GoldenTests`' check that every file in `Fixtures/expected` has a case.
let symbolGoldenCaseNames: [String] = symbolGoldenCases.map(\.name)

/// Runs a symbol case: makes the damaged kernels, substitutes `$TMP`, writes `$TMP` back into the output.
func run(_ golden: SymbolGoldenCase) throws -> RunResult {
    let scratch = try TemporaryDirectory()
    let good = try Data(contentsOf: Paths.root.appendingPathComponent("Fixtures/kernel.1"))
    for kernel in ScratchKernel.allCases {
        try kernel.bytes(from: good).write(to: scratch.url.appendingPathComponent(kernel.rawValue))
    }
    return try Tool.run(golden.arguments, scratch: scratch.url.path, environment: golden.environment, stdin: golden.stdin)
}

@Suite("Golden outputs: symbols, info, expressions")
struct SymbolGoldenTests {
    @Test("case names are unique and distinct from the other golden cases")
    func uniqueNames() {
        #expect(Set(symbolGoldenCaseNames).count == symbolGoldenCaseNames.count)
        #expect(Set(symbolGoldenCaseNames).isDisjoint(with: goldenCases.map(\.name)))
    }

    @Test("output matches Fixtures/expected", arguments: symbolGoldenCases)
    func golden(_ golden: SymbolGoldenCase) throws {
        let actual = try run(golden)
        try GoldenFiles(name: golden.name).verify(actual, arguments: golden.arguments)
        if updatingGoldens { return }
        if golden.name.hasPrefix("usage-") { #expect(actual.status == 2 && actual.stdout.isEmpty) }
        if golden.name.hasPrefix("error-") { #expect(actual.status == 1) }
        for line in actual.stderrText.split(separator: "\n") where !line.hasPrefix("Try 'kvmdump ") {
            #expect(line.hasPrefix("kvmdump: "), "\(golden.name): \(line)")
        }
        if golden.arguments.contains("--json") {
            for line in actual.stdoutText.split(separator: "\n") {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(golden.name): not JSON: \(line)")
            }
        }
    }

    @Test("a mismatched kernel is said loudly, on stderr and in the output")
    func mismatchIsLoud() throws {
        let text = try run(symbolGoldenCases.first { $0.name == "info-mismatched-kernel" }!)
        #expect(text.stderrText == "kvmdump: WARNING: kernel image version does not match the dump\n")
        #expect(text.stdoutText.hasPrefix("WARNING: kernel image version does not match the dump"))
        let json = try run(symbolGoldenCases.first { $0.name == "info-mismatched-kernel-json" }!)
        let object = try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any]
        #expect(object?["kernel_matches"] as? Bool == false)
    }
}
