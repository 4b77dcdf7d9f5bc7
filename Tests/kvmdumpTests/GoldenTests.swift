/// Golden tests: the built `kvmdump` on the fixture dumps, full stdout, stderr and exit status compared with
/// `Fixtures/expected/`. Run with `KVMDUMP_UPDATE_GOLDENS=1` to rewrite the expected files, then review the diff.
import Foundation
import Testing

/// Runs a case: makes its scratch files, substitutes `$TMP`, and writes `$TMP` back into the output.
func run(_ golden: GoldenCase) throws -> RunResult {
    let scratch = try TemporaryDirectory()
    let sample = try Data(contentsOf: Paths.root.appendingPathComponent("Fixtures/vmcore.0"))
    for file in golden.scratch {
        switch file {
        case .badMagic:
            var bytes = sample
            bytes.replaceSubrange(0..<8, with: Data("NOTADUMP".utf8))
            try bytes.write(to: scratch.url.appendingPathComponent("vmcore.badmagic"))
        case .short:
            try sample.prefix(8192).write(to: scratch.url.appendingPathComponent("vmcore.short"))
        case .empty:
            try Data().write(to: scratch.url.appendingPathComponent("vmcore.empty"))
        }
    }
    return try Tool.run(golden.arguments, scratch: scratch.url.path, environment: golden.environment, stdin: golden.stdin)
}

extension GoldenFiles {
    /// With `KVMDUMP_UPDATE_GOLDENS=1`, records `actual`; otherwise compares it with the recorded files.
    func verify(_ actual: RunResult, arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        if updatingGoldens {
            try save(actual)
            return
        }
        guard let expected = load() else {
            Issue.record("no golden files for '\(name)'; run with KVMDUMP_UPDATE_GOLDENS=1 and review them",
                         sourceLocation: sourceLocation)
            return
        }
        #expect(actual == expected, "kvmdump \(arguments.joined(separator: " "))\n\(describeDifference(actual, expected))",
                sourceLocation: sourceLocation)
    }
}

extension Tool {
    /// Runs the tool with `$TMP` in `arguments` standing for the scratch directory, and writes `$TMP`
    /// back in place of that directory in the output (byte for byte: output may be binary), so the
    /// goldens do not depend on where it was.
    static func run(_ arguments: [String], scratch directory: String, environment: [String: String],
                    stdin: String?) throws -> RunResult {
        let arguments = arguments.map { $0.replacingOccurrences(of: "$TMP", with: directory) }
        let environment = environment.mapValues { $0.replacingOccurrences(of: "$TMP", with: directory) }
        var result = try run(arguments, environment: environment, stdin: stdin.map { Data($0.utf8) })
        let path = Data(directory.utf8)
        let placeholder = { (data: Data) in
            var output = Data()
            var rest = data[...]
            while let found = rest.range(of: path) {
                output += rest[..<found.lowerBound] + Data("$TMP".utf8)
                rest = rest[found.upperBound...]
            }
            return output + rest
        }
        result.stdout = placeholder(result.stdout)
        result.stderr = placeholder(result.stderr)
        return result
    }
}

@Suite("Golden outputs")
struct GoldenTests {
    @Test("kvmdump binary is built next to the tests")
    func binaryExists() {
        #expect(FileManager.default.isExecutableFile(atPath: Paths.binary), "no kvmdump at \(Paths.binary)")
    }

    @Test("case names are unique")
    func uniqueNames() {
        let names = goldenCases.map(\.name)
        #expect(Set(names).count == names.count)
    }

    @Test("output matches Fixtures/expected", arguments: goldenCases)
    func golden(_ golden: GoldenCase) throws {
        if golden.needsNoDefaultCore && FileManager.default.fileExists(atPath: "/var/crash/vmcore.last") {
            Issue.record("cannot run '\(golden.name)' here: /var/crash/vmcore.last exists, and the case checks the message for a missing default dump")
            return
        }
        try GoldenFiles(name: golden.name).verify(try run(golden), arguments: golden.arguments)
    }

    @Test("every file in Fixtures/expected belongs to a case")
    func noStaleGoldens() throws {
        let names = Set(goldenCases.map(\.name) + symbolGoldenCaseNames + threadGoldenCaseNames)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: Paths.expected.path)) ?? []
        let stale = files.filter { file in
            guard let dot = file.lastIndex(of: ".") else { return true }
            return !names.contains(String(file[..<dot]))
        }
        if updatingGoldens {
            for file in stale { try FileManager.default.removeItem(at: Paths.expected.appendingPathComponent(file)) }
            return
        }
        #expect(stale.isEmpty, "files without a case (remove them, or run with KVMDUMP_UPDATE_GOLDENS=1): \(stale)")
    }

    @Test("exit status follows the case's kind")
    func statusByKind() throws {
        for golden in goldenCases where updatingGoldens == false {
            guard let expected = GoldenFiles(name: golden.name).load() else { continue }
            if golden.name.hasPrefix("usage-") {
                #expect(expected.status == 2, "\(golden.name)")
            } else if golden.name.hasPrefix("error-") || golden.name.contains("-partial-")
                        || golden.name.contains("-unmapped") {
                #expect(expected.status == 1, "\(golden.name)")
            } else if golden.name.hasPrefix("help") || golden.name.hasPrefix("version") {
                #expect(expected.status == 0, "\(golden.name)")
            }
            if expected.status == 2 {
                #expect(expected.stdout.isEmpty, "\(golden.name): usage error with output on stdout")
                let text = String(decoding: expected.stderr, as: UTF8.self)
                #expect(text.hasPrefix("kvmdump: ") && text.contains("\nTry 'kvmdump "), "\(golden.name): \(text)")
            }
            if expected.status == 0 {
                let text = String(decoding: expected.stderr, as: UTF8.self)
                #expect(text.isEmpty || text.contains(": warning: "), "\(golden.name): stderr on success: \(text)")
            }
            for line in String(decoding: expected.stderr, as: UTF8.self).split(separator: "\n")
            where !line.hasPrefix("Try 'kvmdump ") {
                #expect(line.hasPrefix("kvmdump: "), "\(golden.name): stderr line without the prefix: \(line)")
            }
        }
    }
}
