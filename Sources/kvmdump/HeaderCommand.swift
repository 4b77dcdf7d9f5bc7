/// `kvmdump header`: the minidump header, the section layout computed from it, and the physical ranges.
import CompressedDump
import MinidumpCore

/// Prints every header field, each section's offset and size, and whether the file is truncated.
struct HeaderCommand: Subcommand {
    static let name = "header"
    static let abstract = "Show the header fields, section offsets and sizes, and truncation."
    static let usage = "[CORE]"
    static let positionals = [Positional(name: "CORE", help: "The dump, instead of -M.")]
    static let takesDumpPositionally = true

    let shared: SharedOptions

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        self.shared = shared
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        // An outline: the bitmap is counted only when it is small, never indexed (a hostile header
        // may claim 4 GiB of bitmap).
        let dump: DumpOutline
        do {
            dump = try DumpFiles.outline(shared.corePath).outline
        } catch {
            throw CommandFailure(message: error.description)
        }
        let header = dump.header
        let layout = dump.layout
        let counted = dump.dumpedPageCount != nil
        let notCounted = "not counted: the bitmap is larger than \(DumpOutline.countLimit >> 20) MiB ('stats' counts it)"
        // The sections and fields the format and the architecture list, in their order.
        let sections = layout.listing
        if shared.json {
            var members: [(String, JSON)] = [
                ("path", .string(dump.path)), ("file_size", .uint(dump.fileSize)),
                ("architecture", .string(header.architecture)), ("version", .uint(UInt64(header.version))),
            ]
            members += header.fields.map { ($0.name, JSON.headerField($0, dump.addressWidth)) }
            members.append(("sections", .array(sections.map { name, range in
                .object([("name", .string(name)), ("offset", .address(range.offset.rawValue)),
                         ("size", name == "data" && !counted ? .null : .uint(range.length))])
            })))
            members.append(("physical_ranges", .array(dump.physicalRanges.map { range in
                .object([
                    ("start", .address(range.start.rawValue)), ("end", .address(range.end.rawValue)),
                    ("first_bit", .uint(range.firstBit)), ("pages", .uint(range.pageCount)),
                ])
            })))
            members += [
                ("expected_file_size", .optional(dump.expectedFileSize, JSON.uint)),
                ("truncated", .optional(dump.isTruncated, JSON.bool)),
            ]
            JSON.object(members).writeLine(to: console.out)
            return .success
        }
        var fields = Table()
        fields.rows = [
            ["path", dump.path],
            ["architecture", header.architecture],
            ["version", String(header.version)],
        ]
        fields.rows += header.fields.map { field in
            switch field.kind {
            case .size: [field.name, sizeText(field.value)]
            case .address: [field.name, Hex.address(field.value, dump.addressWidth)]
            case .physicalAddress: [field.name, Hex.short(field.value)]
            }
        }
        fields.rows += [
            ["file size", sizeText(dump.fileSize)],
            ["expected size", dump.expectedFileSize.map(sizeText) ?? notCounted],
            ["truncated", dump.isTruncated.map { $0 ? "yes" : "no" } ?? "unknown (the pages were not counted)"],
        ]
        fields.write(to: console.out)
        console.out.line()
        var table = Table(headers: ["SECTION", "OFFSET", "END", "SIZE"])
        table.rows = sections.map { name, range in
            name == "data" && !counted
                ? [name, Hex.short(range.offset.rawValue), "?", "not counted"]
                : [name, Hex.short(range.offset.rawValue), Hex.short(range.offset.rawValue &+ range.length), sizeText(range.length)]
        }
        table.write(to: console.out)
        console.out.line()
        var ranges = Table(headers: ["PHYSICAL START", "END", "FIRST BIT", "PAGES"])
        ranges.rows = dump.physicalRanges.map { range in
            [Hex.short(range.start.rawValue), Hex.short(range.end.rawValue), String(range.firstBit), String(range.pageCount)]
        }
        ranges.write(to: console.out)
        return .success
    }
}

/// `0x…` followed by the decimal value in parentheses.
func sizeText(_ value: UInt64) -> String {
    "\(Hex.short(value)) (\(value))"
}
