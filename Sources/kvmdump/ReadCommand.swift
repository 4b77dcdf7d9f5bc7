/// `kvmdump read`: kernel memory at a virtual address, in one of several formats.
import MinidumpCore
import MappedBytes

/// Reads memory through the dump's address translation and prints it as a hexdump, raw bytes, a string or words.
struct ReadCommand: Subcommand {
    static let name = "read"
    static let abstract = "Read kernel memory at a virtual address."
    static let usage = "[--physical] ADDR --len N [--raw | --string | --u8 | --u16 | --u32 | --u64] | -"
    static let positionals = [
        Positional(name: "ADDR", help: "Kernel virtual address: 0x... hex or decimal; with -N also a symbol expression (hz, *panicstr, allproc+0x10)."),
        Positional(name: "-", help: "Read 'ADDR LEN' requests from standard input, one per line."),
    ]
    static let length = Option.value(
        "len", "N", help: "Bytes to read (decimal or 0x..., suffix k/m/g allowed); for --string the maximum (256).")
    static let raw = Option.flag("raw", help: "Write the bytes as they are.")
    static let string = Option.flag("string", help: "Print a NUL-terminated string (without the NUL).")
    static let physical = Option.flag(
        "physical", help: "ADDR is a physical address: read the dump's physical memory, no translation (any dump, no -N needed).")
    static let words: [(Option, Int)] = [
        (.flag("u8", help: "Print bytes in hex, gdb x/ style."), 1),
        (.flag("u16", help: "Print 16-bit little-endian words in hex."), 2),
        (.flag("u32", help: "Print 32-bit little-endian words in hex."), 4),
        (.flag("u64", help: "Print 64-bit little-endian words in hex."), 8),
    ]
    static let options = [length, raw, string, physical] + words.map(\.0)
    /// The largest `--len` for `--raw`.
    static let rawLimit: UInt64 = 1 << 30
    /// The largest `--len` for the formatted outputs and JSON.
    static let formattedLimit: UInt64 = 64 << 20
    /// The `--len` of `--string` when none is given.
    static let defaultStringLength: UInt64 = 256
    static let discussion = """
        The default format is hexdump -C with virtual addresses in the left column. --len is required
        except with --string. Limits: 1 GiB with --raw, 64 MiB otherwise; with --u16/--u32/--u64 it must be
        a multiple of the word size. If an address cannot be read, the bytes before it are printed, then
        the error on standard error, and the exit status is 1.
        With --physical, ADDR is a physical address (a number) read page by page through the dump's
        container (a minidump's bitmap, a full dump's PT_LOADs); the left column and JSON's "pa" are
        physical addresses.
        With '-', each input line is 'ADDR LEN' (LEN up to 1 MiB, suffix k/m allowed; ADDR may be an
        expression with -N) and gets exactly one answer line on standard output: the bytes as hex digits,
        or 'error: ...' (the walk goes on; the exit status is 1 if any failed). With --json each answer is
        an object as for one read (NDJSON). Output is flushed whenever no more input is waiting, like
        translate -, so a program can write a request and read its answer.
        With -N, a kernel image for another machine than the dump is an error, and one whose version
        does not match the dump's gets a warning on standard error (once).
        """

    /// The output format.
    enum Format: Equatable { case hexdump, raw, string, words(width: Int) }

    let shared: SharedOptions
    /// The address argument; a symbol expression is resolved in `run`, where it sets `address`.
    let target: AddressArgument
    private(set) var address: UInt64
    let count: Int
    let format: Format
    /// True for `read -`.
    let streaming: Bool
    /// True for `--physical`: `address` is a physical address.
    let physical: Bool

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        self.shared = shared
        guard let text = arguments.positionals.first else { throw UsageError("missing address (ADDR or -)") }
        guard arguments.positionals.count == 1 else {
            throw UsageError("unexpected argument '\(arguments.positionals[1])'")
        }
        streaming = text == "-"
        physical = arguments.has(Self.physical)
        if streaming {
            for option in [Self.length, Self.raw, Self.string, Self.physical] + Self.words.map(\.0) where arguments.has(option) {
                throw UsageError("option '--\(option.long)' cannot be combined with '-' (each line gives ADDR LEN)")
            }
            target = AddressArgument(constant: 0)
            address = 0
            count = 0
            format = .hexdump
            return
        }
        target = try AddressArgument(text, shared: shared)
        if physical && target.constant == nil {
            throw UsageError("with --physical, ADDR is a physical address: a number, not '\(text)'")
        }
        address = target.constant ?? 0
        try requireAtMostOne(of: [Self.raw, Self.string] + Self.words.map(\.0), in: arguments)
        if arguments.has(Self.raw) {
            format = .raw
        } else if arguments.has(Self.string) {
            format = .string
        } else if let width = Self.words.first(where: { arguments.has($0.0) })?.1 {
            format = .words(width: width)
        } else {
            format = .hexdump
        }
        if format == .raw && shared.json { throw UsageError("options '--raw' and '--json' cannot be combined") }
        let length: UInt64
        if let text = arguments.value(Self.length) {
            guard let value = ValueParser.byteCount(text) else { throw UsageError("malformed length '\(text)'") }
            length = value
        } else if format == .string {
            length = Self.defaultStringLength
        } else {
            throw UsageError("missing --len N")
        }
        let limit = format == .raw ? Self.rawLimit : Self.formattedLimit
        guard length > 0 else { throw UsageError("--len must be at least 1") }
        guard length <= limit else {
            throw UsageError("--len \(length) is over the limit for this format (64 MiB; 1 GiB with --raw)")
        }
        if case .words(let width) = format, length % UInt64(width) != 0 {
            throw UsageError("--len \(length) is not a multiple of the word size (\(width))")
        }
        guard address.addingReportingOverflow(length - 1).overflow == false else {
            throw UsageError("\(Hex.padded(address, width: 16)) + \(length) bytes runs past the top of the address space")
        }
        count = Int(length)
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let dump = try shared.openDump(console)
        if streaming {
            dump.buildIndex()  // many reads: the whole index once, not built on the way
            return try batch(dump, console)
        }
        if target.constant == nil {
            var resolved = self
            resolved.address = try target.resolve(kernel: try shared.openSymbols(dump: dump, console: console), dump: dump)
            guard resolved.address.addingReportingOverflow(UInt64(count - 1)).overflow == false else {
                throw CommandFailure(message: "\(target.text) = \(Hex.address(resolved.address, dump.addressWidth)): + \(count) bytes runs past the top of the address space")
            }
            return try resolved.run(dump, console)
        }
        return try run(dump, console)
    }

    private func run(_ dump: Dump, _ console: Console) throws(CommandFailure) -> ExitStatus {
        let failure: TranslationError?
        if shared.json {
            failure = writeJSON(dump, console.out)
        } else if format == .string {
            failure = writeString(dump, console.out)
        } else {
            failure = writeChunks(dump, console.out)
        }
        guard let failure else { return .success }
        console.diagnose("\(dump.path): \(failure.description(width: width(dump)))")
        return .failure
    }

    /// The width of the addresses shown: the dump's for virtual ones, 16 digits for physical ones.
    private func width(_ dump: Dump) -> AddressWidth { physical ? .bits64 : dump.addressWidth }

    /// `count` bytes at `at`: kernel virtual memory, or physical memory with --physical.
    private func fetch(_ dump: Dump, _ at: UInt64, _ count: Int) -> ReadResult {
        physical ? dump.readPhysical(PhysicalAddress(at), count: count) : dump.read(VirtualAddress(at), count: count)
    }

    /// Hexdump, raw and words: reads and prints a megabyte at a time.
    private func writeChunks(_ dump: Dump, _ out: OutputBuffer) -> TranslationError? {
        let chunk = 1 << 20
        var hexdump = Hexdump(address: address, width: width(dump))
        var done = 0
        var failure: TranslationError?
        while done < count && !out.isClosed {
            let start = address + UInt64(done)
            let result = fetch(dump, start, min(chunk, count - done))
            switch format {
            case .hexdump: hexdump.write(result.bytes, to: out)
            case .raw: out.write(result.bytes)
            case .words(let width): WordDump.write(result.bytes, address: start, addressWidth: self.width(dump), width: width, to: out)
            case .string: break
            }
            done += result.bytes.count
            if let error = result.error {
                failure = error
                break
            }
        }
        if format == .hexdump { hexdump.finish(to: out) }
        return failure
    }

    /// Reads up to `count` bytes, one page at a time, stopping after the first NUL.
    private func readString(_ dump: Dump) -> (bytes: [UInt8], terminated: Bool, error: TranslationError?) {
        var bytes: [UInt8] = []
        var next = address
        while bytes.count < count {
            let pageRest = Int(0x1000 - (next & 0xfff))
            let result = fetch(dump, next, min(pageRest, count - bytes.count))
            if let nul = result.bytes.firstIndex(of: 0) {
                bytes += result.bytes[..<nul]
                return (bytes, true, nil)
            }
            bytes += result.bytes
            if let error = result.error { return (bytes, false, error) }
            next &+= UInt64(result.bytes.count)
        }
        return (bytes, false, nil)
    }

    private func writeString(_ dump: Dump, _ out: OutputBuffer) -> TranslationError? {
        let string = readString(dump)
        // Nothing read and an error: print nothing, not an empty line.
        if string.bytes.isEmpty, string.error != nil { return string.error }
        out.write(string.bytes)
        out.byte(0x0a)
        return string.error
    }

    private func writeJSON(_ dump: Dump, _ out: OutputBuffer) -> TranslationError? {
        var members: [(String, JSON)] = [physical ? ("pa", .address(address)) : ("va", .virtualAddress(address, dump.addressWidth))]
        let failure: TranslationError?
        if format == .string {
            let string = readString(dump)
            failure = string.error
            members += [
                ("length", .uint(UInt64(string.bytes.count))), ("terminated", .bool(string.terminated)),
                ("string", .text(string.bytes)),
            ]
        } else {
            let result = fetch(dump, address, count)
            failure = result.error
            members += [("requested", .uint(UInt64(count))), ("length", .uint(UInt64(result.bytes.count)))]
            if case .words(let width) = format {
                let words = (0..<(result.bytes.count / width)).map { index in
                    JSON.string(Hex.padded(WordDump.value(result.bytes, at: index * width, width: width), width: width * 2))
                }
                members += [("word_size", .uint(UInt64(width))), ("words", .array(words))]
            } else {
                members.append(("bytes_hex", .hexBytes(result.bytes)))
            }
        }
        members.append(("error", .optional(failure) { .string($0.description(width: width(dump))) }))
        JSON.object(members).writeLine(to: out)
        return failure
    }
}
