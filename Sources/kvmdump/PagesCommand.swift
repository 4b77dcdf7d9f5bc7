/// `kvmdump pages`: the kernel map (and optionally direct-map-only pages) as coalesced ranges.
import MinidumpCore

/// Lists mapped memory as ranges of pages that continue each other in VA and PA with the same attributes.
struct PagesCommand: Subcommand {
    static let name = "pages"
    static let abstract = "List the kernel map as coalesced ranges."
    static let usage = "[--dmap] [CORE]"
    static let positionals = [Positional(name: "CORE", help: "The dump, instead of -M.")]
    static let takesDumpPositionally = true
    static let dmap = Option.flag("dmap", help: "Also list dumped pages reachable only through the direct map.")
    static let options = [dmap]
    static let discussion = """
        Columns: map (kernel or dmap), VA range, PA range (end exclusive), size, page size, protection
        (r always; w if writable; x if not no-execute), and state: present (in the file), absent, or
        partial (a 2M page only some of whose 4K pieces are in the file). Direct-map-only pages are
        always rw-.
        """

    let shared: SharedOptions
    let includeDirectMap: Bool

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        self.shared = shared
        includeDirectMap = arguments.has(Self.dmap)
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let dump = try shared.openDump(console)
        if dump.needsKernelTables, let reason = dump.kernelTables?.reason {
            throw CommandFailure(message: "\(dump.path): \(reason)")
        }
        dump.buildIndex()  // every page of the kernel map: the whole index once
        // The library coalesces; this command formats.
        let ranges = dump.pageRanges(includeDirectMap: includeDirectMap)
        let width = dump.addressWidth
        if shared.json {
            JSON.object([("ranges", .array(ranges.map { range in
                .object([
                    ("map", .string(range.map.rawValue)),
                    ("va_start", .virtualAddress(range.virtualStart, width)), ("va_end", .virtualAddress(range.virtualStart &+ range.size, width)),
                    ("pa_start", .address(range.physicalStart)), ("pa_end", .address(range.physicalStart &+ range.size)),
                    ("size", .uint(range.size)), ("page_size", .uint(range.pageSize)),
                    ("prot", .string(protection(range))), ("state", .string(range.state.rawValue)),
                ])
            }))]).writeLine(to: console.out)
            return .success
        }
        var table = Table(headers: ["MAP", "VA START", "VA END", "PA START", "PA END", "SIZE", "PAGE", "PROT", "STATE"])
        table.rows = ranges.map { range in
            [
                range.map.rawValue, Hex.address(range.virtualStart, width), Hex.address(range.virtualStart &+ range.size, width),
                Hex.short(range.physicalStart), Hex.short(range.physicalStart &+ range.size), Hex.short(range.size),
                PageSize(rawValue: range.pageSize).description, protection(range), range.state.rawValue,
            ]
        }
        table.write(to: console.out)
        return .success
    }

    /// `r` always, `w` if writable, `x` if executable.
    private func protection(_ range: PageRange) -> String {
        "r" + (range.writable ? "w" : "-") + (range.executable ? "x" : "-")
    }
}
