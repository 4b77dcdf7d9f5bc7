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

    /// Whether a page is in the file.
    enum State: String { case present, absent, partial }

    /// A run of pages with contiguous VAs and PAs and equal attributes.
    struct Range {
        var map: String
        var virtualStart: UInt64
        var physicalStart: UInt64
        var size: UInt64
        var pageSize: UInt64
        var protection: String
        var state: State

        /// Extends the range by `next` if it continues it; returns false otherwise.
        mutating func absorb(_ next: Range) -> Bool {
            guard next.map == map, next.virtualStart == virtualStart &+ size, next.physicalStart == physicalStart &+ size,
                  next.pageSize == pageSize, next.protection == protection, next.state == state
            else { return false }
            size += next.size
            return true
        }
    }

    let shared: SharedOptions
    let includeDirectMap: Bool

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        self.shared = shared
        includeDirectMap = arguments.has(Self.dmap)
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let dump = try shared.openDump()
        var ranges: [Range] = []
        func add(_ range: Range) {
            if ranges.isEmpty || !ranges[ranges.count - 1].absorb(range) { ranges.append(range) }
        }
        dump.forEachKernelPage { page in
            let pieces = Int(page.size.bytes >> 12)
            add(Range(
                map: "kernel", virtualStart: page.virtualAddress.rawValue, physicalStart: page.physicalAddress.rawValue,
                size: page.size.bytes, pageSize: page.size.bytes,
                protection: "r" + (page.writable ? "w" : "-") + (page.executable ? "x" : "-"),
                state: page.presentPages == pieces ? .present : page.presentPages == 0 ? .absent : .partial))
            return true
        }
        if includeDirectMap {
            dump.forEachDirectMapOnlyPage { page, offset in
                add(Range(
                    map: "dmap", virtualStart: dump.directMapAddress(ofPhysical: page)?.rawValue ?? 0, physicalStart: page.rawValue,
                    size: PageSize.bytes4K, pageSize: PageSize.bytes4K, protection: "rw-",
                    state: offset == nil ? .absent : .present))
                return true
            }
        }
        if shared.json {
            JSON.object([("ranges", .array(ranges.map { range in
                .object([
                    ("map", .string(range.map)),
                    ("va_start", .virtualAddress(range.virtualStart)), ("va_end", .virtualAddress(range.virtualStart &+ range.size)),
                    ("pa_start", .address(range.physicalStart)), ("pa_end", .address(range.physicalStart &+ range.size)),
                    ("size", .uint(range.size)), ("page_size", .uint(range.pageSize)),
                    ("prot", .string(range.protection)), ("state", .string(range.state.rawValue)),
                ])
            }))]).writeLine(to: console.out)
            return .success
        }
        var table = Table(headers: ["MAP", "VA START", "VA END", "PA START", "PA END", "SIZE", "PAGE", "PROT", "STATE"])
        table.rows = ranges.map { range in
            [
                range.map, Hex.padded(range.virtualStart), Hex.padded(range.virtualStart &+ range.size),
                Hex.short(range.physicalStart), Hex.short(range.physicalStart &+ range.size), Hex.short(range.size),
                range.pageSize == PageSize.bytes4K ? "4K" : "2M", range.protection, range.state.rawValue,
            ]
        }
        table.write(to: console.out)
        return .success
    }
}
