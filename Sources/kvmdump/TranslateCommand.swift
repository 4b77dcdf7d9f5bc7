/// `kvmdump translate`: virtual address to physical address and file offset, from arguments or a stream.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CrashInfo
import KernelImage
import MinidumpCore
import MappedBytes

/// Translates addresses given as arguments, or streamed on standard input (`-`), one answer line per address.
struct TranslateCommand: Subcommand {
    static let name = "translate"
    static let abstract = "Translate virtual addresses to physical addresses and file offsets."
    static let usage = "[--explain] ADDR... | -"
    static let positionals = [
        Positional(name: "ADDR", help: "Kernel virtual address: 0x... hex or decimal; with -N also a symbol expression (hz, *panicstr, allproc+0x10)."),
        Positional(name: "-", help: "Read addresses from standard input, one per line."),
    ]
    static let explain = Option.flag(
        "explain", help: "Show the walk: map index, page-table entries (amd64 PDE, PTE; arm64 L3 and canonical address), bitmap bit, popcount bin and its count (a full dump: PML4E to PTE, the PT_LOAD, and the rule that found the PML4).")
    static let options = [explain]
    static let discussion = """
        Each answer is one line: va, pa, offset, map (kernel or dmap), page (4K or 2M); --explain appends
        map-index, pde, pte, pt-page ('-' when not used), bit, bin, bin-count (set bits below the bin
        edge the count started from) and pages-before (the page's position in the data section).
        With '-', every input line gets exactly one answer line on standard output, flushed whenever no
        more input is waiting, so a program can write an address and read its answer. Failed or malformed
        lines are answered with 'error: ...' (in JSON, an object with "error") and the walk goes on; the
        exit status is 1 if any failed. With address arguments, failures go to standard error.
        --json prints one array for arguments, one object per line (NDJSON) for '-'.
        With -N, a kernel image for another machine than the dump is an error, and one whose version
        does not match the dump's gets a warning on standard error (once).
        """

    let shared: SharedOptions
    let explainWalk: Bool
    /// The addresses to translate, or nil to stream from standard input.
    let addresses: [AddressArgument]?

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        self.shared = shared
        explainWalk = arguments.has(Self.explain)
        let texts = arguments.positionals
        if texts == ["-"] {
            addresses = nil
            return
        }
        guard !texts.isEmpty else { throw UsageError("missing address (ADDR... or -)") }
        var parsed: [AddressArgument] = []
        for text in texts {
            if text == "-" { throw UsageError("'-' (standard input) cannot be combined with address arguments") }
            parsed.append(try AddressArgument(text, shared: shared))
        }
        addresses = parsed
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let dump = try shared.openDump(console)
        guard let addresses else {
            dump.buildIndex()  // many addresses: the whole index once, not built on the way
            return try stream(dump, console)
        }
        let kernel = addresses.allSatisfy { $0.constant != nil } ? nil : try shared.openSymbols(dump: dump, console: console)
        var failed = false
        var answers: [JSON] = []
        for argument in addresses {
            let address: UInt64
            do throws(CommandFailure) {
                address = try argument.resolve(kernel: kernel, dump: dump)
            } catch {
                failed = true
                if shared.json { answers.append(.object([("input", .string(argument.text)), ("error", .string(error.message))])) }
                console.diagnose(error.message)
                continue
            }
            do {
                let translation = try dump.translate(VirtualAddress(address))
                if shared.json {
                    answers.append(json(translation, dump))
                } else {
                    console.out.line(text(translation, dump))
                }
            } catch {
                failed = true
                if shared.json { answers.append(json(error, dump)) }
                console.diagnose("\(dump.path): \(error.description(width: dump.addressWidth))")
            }
        }
        if shared.json { JSON.array(answers).writeLine(to: console.out) }
        return failed ? .failure : .success
    }

    /// Addresses of `translate -` translated together.
    static let streamBatch = 256

    /// `translate -`: one answer line per input line, output flushed whenever input runs dry.
    private func stream(_ dump: Dump, _ console: Console) throws(CommandFailure) -> ExitStatus {
        let out = console.out
        var failed = false
        // Without a usable kernel image only the expressions fail (numbers are still answered).
        var kernel: KernelImage?
        do throws(CommandFailure) {
            kernel = try shared.openSymbols(dump: dump, console: console)
        } catch {
            console.diagnose("warning: \(error.message); symbol expressions in the input will fail")
        }
        // Numeric lines wait here, in input order, until a batch is full, another kind of line comes or the
        // input runs dry; then they are translated together (`Dump.translate(_:_:)` interleaves the walks).
        var pending: [VirtualAddress] = []
        pending.reserveCapacity(Self.streamBatch)
        func answer(_ result: Result<Translation, TranslationError>) {
            switch result {
            case .success(let translation):
                if shared.json { json(translation, dump).writeLine(to: out) } else { writeText(translation, dump, to: out) }
            case .failure(let error):
                failed = true
                if shared.json { json(error, dump).writeLine(to: out) } else { out.line("error: \(error.description(width: dump.addressWidth))") }
            }
        }
        func drain() {
            guard !pending.isEmpty else { return }
            dump.translate(pending) { _, result in answer(result) }
            pending.removeAll(keepingCapacity: true)
        }
        let reader = LineReader(fd: 0)
        let readError = reader.forEachLine(idle: { drain(); out.flush() }) { line, overlong in
            let trimmed = line.trimmed()
            let parsed = overlong ? nil : ValueParser.address(utf8: trimmed)
            if let parsed {
                pending.append(VirtualAddress(parsed))
                if pending.count == Self.streamBatch { drain() }
                return !out.isClosed
            }
            drain()
            if !overlong, let kernel, !trimmed.isEmpty {
                let input = trimmed.text
                let failure: String
                do throws(SymbolExpressionError) {
                    let address = try SymbolExpression.parse(input).evaluate(kernel: kernel, dump: dump)
                    do throws(TranslationError) {
                        let translation = try dump.translate(VirtualAddress(address))
                        if shared.json { json(translation, dump).writeLine(to: out) } else { writeText(translation, dump, to: out) }
                        return !out.isClosed
                    } catch {
                        failure = error.description(width: dump.addressWidth)
                    }
                } catch {
                    failure = error.description(width: dump.addressWidth)
                }
                failed = true
                if shared.json {
                    JSON.object([("input", .string(input)), ("error", .string(failure))]).writeLine(to: out)
                } else {
                    out.line("error: '\(input)': \(failure)")
                }
                return !out.isClosed
            }
            failed = true
            let input = (overlong ? trimmed.cut(0..<64) : trimmed).text
            let reason = overlong ? "line too long" : trimmed.isEmpty ? "empty line" : "malformed address"
            if shared.json {
                JSON.object([("input", .string(input)), ("error", .string(reason))]).writeLine(to: out)
            } else {
                out.line("error: '\(input)': \(reason)")
            }
            return !out.isClosed
        }
        drain()
        if let readError {
            throw CommandFailure(message: "standard input: \(errorText(readError))")
        }
        return failed ? .failure : .success
    }

    /// Writes the answer line for `t` (as `text(_:)` gives it) straight into the output buffer: a
    /// stream of a million addresses then builds no strings. The walk of --explain goes through `text`.
    private func writeText(_ t: Translation, _ dump: Dump, to out: OutputBuffer) {
        let size = t.pageSize
        guard !explainWalk, size == .size4K || size == .size16K || size == .size2M else { return out.line(text(t, dump)) }
        out.withSpace(96) { span in
            span.put("va 0x")
            span.put(address: t.virtualAddress.rawValue, width: dump.addressWidth)
            span.put(" pa ")
            span.put(shortHex: t.physicalAddress.rawValue)
            span.put(" offset ")
            span.put(shortHex: t.fileOffset.rawValue)
            if t.map == .kernelMap { span.put(" map kernel") } else { span.put(" map dmap") }
            switch t.pageSize {
            case .size4K: span.put(" page 4K\n")
            case .size16K: span.put(" page 16K\n")
            case .size2M: span.put(" page 2M\n")
            default: break  // not reached: other sizes take the line through text(_:_:)
            }
        }
    }

    /// `va 0x… pa 0x… offset 0x… map kernel page 4K`, and the walk with --explain.
    private func text(_ t: Translation, _ dump: Dump) -> String {
        var line = "va \(Hex.address(t.virtualAddress.rawValue, dump.addressWidth)) pa \(Hex.short(t.physicalAddress.rawValue))"
            + " offset \(Hex.short(t.fileOffset.rawValue)) map \(t.map.rawValue)"
            + " page \(t.pageSize)"
        if explainWalk {
            for step in dump.walkSteps(of: t) {
                let value: String? = switch step.name.kind {
                case .index, .count: step.value.map { String($0) }
                case .entry: step.value.map { Hex.entry($0) }
                case .virtualAddress: step.value.map { Hex.address($0, dump.addressWidth) }
                case .address: step.value.map { Hex.short($0) }
                }
                line += " \(step.name.text) \(value ?? "-")"
            }
            if let found = dump.kernelTables?.tables {
                line += " pml4 \(Hex.short(found.pml4)) found-by \(found.rule.key)"
            }
        }
        return line
    }

    private func json(_ t: Translation, _ dump: Dump) -> JSON {
        var members: [(String, JSON)] = [
            ("va", .virtualAddress(t.virtualAddress.rawValue, dump.addressWidth)), ("pa", .address(t.physicalAddress.rawValue)),
            ("offset", .address(t.fileOffset.rawValue)), ("map", .string(t.map.rawValue)),
            ("page_size", .uint(t.pageSize.rawValue)),
        ]
        if explainWalk {
            members.append(("walk", .object(dump.walkSteps(of: t).map { step in
                let wrap: (UInt64) -> JSON = switch step.name.kind {
                case .index, .count: JSON.uint
                case .entry: JSON.entry
                case .virtualAddress: { JSON.virtualAddress($0, dump.addressWidth) }
                case .address: JSON.address
                }
                return (step.name.key, .optional(step.value, wrap))
            } + (dump.kernelTables?.tables.map { found in
                [("pml4", JSON.address(found.pml4)), ("found_by", JSON.string(found.rule.key))]
            } ?? []))))
        }
        return .object(members)
    }

    private func json(_ error: TranslationError, _ dump: Dump) -> JSON {
        .object([("va", .virtualAddress(error.virtualAddress.rawValue, dump.addressWidth)), ("error", .string(error.reason.description))])
    }
}
