/// `kvmdump stats`: statistics about the dump, including integrity findings.
import CompressedDump
import MinidumpCore

/// Prints the library's statistics for the dump, one named value per line, then the integrity findings.
struct StatsCommand: Subcommand {
    static let name = "stats"
    static let abstract = "Show statistics about the dump, including integrity findings."
    static let usage = "[--decode] [CORE]"
    static let positionals = [Positional(name: "CORE", help: "The dump, instead of -M.")]
    static let takesDumpPositionally = true
    static let decode = Option.flag(
        "decode", help: "On a compressed dump, decode the whole stream (and keep it in the cache) so that every figure is known.")
    static let options = [decode]
    static let discussion = """
        Integrity findings are problems that do not stop the dump from being read (truncation, trailing
        bytes, bitmap bits past the physical ranges, ...); the exit status is 0 even when there are some.
        A compressed minidump (.zst, .gz) that is not yet in the cache is read from its metadata only (the
        header, bitmap and page-table map at the start of the stream), so the cost does not grow with the
        dump. Then the figures that need more say so instead of a value (JSON: null, with the reason in
        "not_decoded"): the file size and the pages in the file when the stream does not state its size
        (the kernel's zstd frames never do; gzip's ISIZE is used when it agrees with the expected size), and on amd64
        the 4 KiB page count and the direct-map-only pages, which come from page-table pages among the
        data pages. --decode, or any command that reads pages, decodes the stream once into the cache;
        stats then reads it and gives every figure.
        """

    let shared: SharedOptions
    let decodeWhole: Bool

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        self.shared = shared
        decodeWhole = arguments.has(Self.decode)
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let opened = try SharedOptions.openDumpFile(at: shared.corePath, console, access: decodeWhole ? .pages : .metadata)
        let dump = try shared.withKernelTables(opened.dump)
        let stats = dump.statistics()
        // Counts made over zeros where the file lost its bytes are not printed.
        do { try dump.checkFileUnchanged() } catch { throw CommandFailure(message: error.description) }
        let unknown = opened.metadataOnly.map { notDecoded(stats, $0) } ?? [:]
        let counts = stats.counts
        let findings = stats.findings.map(\.description)
        let tables = dump.kernelTables
        if shared.json {
            var members: [(String, JSON)] = [("path", .string(dump.path))]
                + counts.map { ($0.0, unknown[$0.0] == nil ? JSON.uint($0.1) : JSON.null) }
            if let tables { members.append(("kernel_tables", kernelTablesJSON(tables))) }
            members.append(("findings", .array(findings.map(JSON.string))))
            if !unknown.isEmpty {
                members.append(("not_decoded", .object(counts.compactMap { c in unknown[c.key].map { (c.key, JSON.string($0)) } })))
            }
            JSON.object(members).writeLine(to: console.out)
            return .success
        }
        var table = Table()
        table.rows = counts.map { [label($0.0), unknown[$0.0].map { "- (" + $0 + ")" } ?? String($0.1)] }
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
        if let why = opened.metadataOnly?.sizeUnknown {
            console.out.line("  not checked: truncation and trailing bytes (\(why); stats --decode reads the whole stream)")
        }
        return .success
    }

    /// The counts a metadata-only read of a compressed dump cannot give, each with why.
    private func notDecoded(_ stats: DumpStatistics, _ read: MetadataOnlyRead) -> [String: String] {
        var unknown: [String: String] = [:]
        if let why = read.sizeUnknown {
            let sizeNote = "size not known: \(why); stats --decode"
            unknown["file_size"] = sizeNote
            unknown["pages_in_file"] = sizeNote
            if stats.kernelMap.pageTablePagesPresent + stats.kernelMap.pageTablePagesMissing > 0 {
                unknown["page_table_pages_present"] = sizeNote
                unknown["page_table_pages_missing"] = sizeNote
            }
        }
        if read.readPastPrefix {
            let dataNote = "needs the page-table pages among the data pages, not decoded; stats --decode"
            unknown[stats.smallPageKey] = dataNote
            if stats.directMapOnlyPages != nil { unknown["direct_map_only_pages"] = dataNote }
        }
        return unknown
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
