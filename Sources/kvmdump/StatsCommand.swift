/// `kvmdump stats`: statistics about the dump, including integrity findings.
import MinidumpCore

/// Prints the library's statistics for the dump, one named value per line, then the integrity findings.
struct StatsCommand: Subcommand {
    static let name = "stats"
    static let abstract = "Show statistics about the dump, including integrity findings."
    static let usage = "[CORE]"
    static let positionals = [Positional(name: "CORE", help: "The dump, instead of -M.")]
    static let takesDumpPositionally = true
    static let discussion = """
        Integrity findings are problems that do not stop the dump from being read (truncation, trailing
        bytes, bitmap bits past the physical ranges, ...); the exit status is 0 even when there are some.
        """

    let shared: SharedOptions

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        self.shared = shared
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let dump = try shared.openDump(console)
        let stats = dump.statistics()
        // Counts made over zeros where the file lost its bytes are not printed.
        do { try dump.checkFileUnchanged() } catch { throw CommandFailure(message: error.description) }
        let counts = stats.counts
        let findings = stats.findings.map(\.description)
        if shared.json {
            JSON.object(
                [("path", .string(dump.path))] + counts.map { ($0.0, JSON.uint($0.1)) }
                    + [("findings", .array(findings.map(JSON.string)))]
            ).writeLine(to: console.out)
            return .success
        }
        var table = Table()
        table.rows = counts.map { [label($0.0), String($0.1)] }
        table.write(to: console.out)
        console.out.line()
        console.out.line(findings.isEmpty ? "integrity: no findings" : "integrity findings:")
        for finding in findings { console.out.line("  " + finding) }
        return .success
    }

    /// The JSON key as a text label: underscores become spaces.
    private func label(_ key: String) -> String { String(key.map { $0 == "_" ? " " : $0 }) }
}
