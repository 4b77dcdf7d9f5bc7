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
        let tables = dump.kernelTables
        if shared.json {
            var members: [(String, JSON)] = [("path", .string(dump.path))] + counts.map { ($0.0, JSON.uint($0.1)) }
            if let tables { members.append(("kernel_tables", kernelTablesJSON(tables))) }
            members.append(("findings", .array(findings.map(JSON.string))))
            JSON.object(members).writeLine(to: console.out)
            return .success
        }
        var table = Table()
        table.rows = counts.map { [label($0.0), String($0.1)] }
        if let tables {
            if let found = tables.tables {
                table.rows += [
                    ["kernel page tables", "PML4 \(Hex.short(found.pml4)), kernel at PA \(Hex.short(found.kernelPhysicalBase))"],
                    ["found by", found.rule.rawValue + (found.rule == .searched ? " (\(found.candidatesTried) bases tried)" : "")],
                ]
            } else {
                table.rows.append(["kernel page tables", "not found: \(tables.reason ?? "")"])
            }
        }
        table.write(to: console.out)
        console.out.line()
        console.out.line(findings.isEmpty ? "integrity: no findings" : "integrity findings:")
        for finding in findings { console.out.line("  " + finding) }
        return .success
    }

    /// An ELF full dump's kernel page tables: where, and the rule that found them; or why not.
    private func kernelTablesJSON(_ tables: (tables: KernelTables?, reason: String?)) -> JSON {
        guard let found = tables.tables else {
            return .object([("found", .bool(false)), ("reason", .string(tables.reason ?? ""))])
        }
        return .object([
            ("found", .bool(true)), ("pml4", .address(found.pml4)), ("kernel_physical_base", .address(found.kernelPhysicalBase)),
            ("rule", .string(found.rule.key)), ("candidates_tried", .uint(UInt64(found.candidatesTried))),
        ])
    }

    /// The JSON key as a text label: underscores become spaces.
    private func label(_ key: String) -> String { String(key.map { $0 == "_" ? " " : $0 }) }
}
