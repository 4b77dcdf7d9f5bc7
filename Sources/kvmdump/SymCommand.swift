/// `kvmdump sym`: kernel symbols to addresses and addresses to `symbol+offset`.
import CrashInfo
import KernelImage
import MinidumpCore

/// Looks symbols up by name, and describes addresses (numbers or expressions) as `symbol+offset`.
struct SymCommand: Subcommand {
    static let name = "sym"
    static let abstract = "Look up kernel symbols by name, or describe an address as symbol+offset."
    static let usage = "NAME|ADDR|EXPR... | -"
    static let positionals = [
        Positional(name: "NAME", help: "A symbol: prints its address, size, type, binding and section."),
        Positional(name: "ADDR", help: "0x... or decimal: prints symbol+offset."),
        Positional(name: "EXPR", help: "A symbol expression (&hz, *panicstr, allproc+0x10): evaluated, then as ADDR."),
        Positional(name: "-", help: "Read NAME, ADDR or EXPR from standard input, one per line."),
    ]
    static let discussion = """
        Needs the kernel image (-N). The dump is opened only for expressions with '*', which read a
        pointer from it. A bare NAME is looked up; anything else is evaluated to an address and described
        by the symbol containing it (a sized object or function), else the nearest symbol below it in a
        loaded section. Each answer is one line; failures go to standard error and the exit status is 1.
        --json prints one array with an object per argument.
        With '-', every input line gets exactly one answer line on standard output (failures as
        'error: ...'; NDJSON with --json), flushed whenever no more input is waiting, like translate -.
        A kernel image for another machine than the dump is an error; one whose version does not
        match the dump gets a warning on standard error.
        """

    let shared: SharedOptions
    let arguments: [AddressArgument]
    /// True for `sym -`.
    let streaming: Bool

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        self.shared = shared
        guard !arguments.positionals.isEmpty else { throw UsageError("missing symbol or address (NAME|ADDR|EXPR)") }
        guard shared.kernelPath != nil else { throw UsageError("sym needs a kernel image (-N)") }
        streaming = arguments.positionals == ["-"]
        if streaming {
            self.arguments = []
            return
        }
        if arguments.positionals.contains("-") {
            throw UsageError("'-' (standard input) cannot be combined with other arguments")
        }
        var parsed: [AddressArgument] = []
        for text in arguments.positionals { parsed.append(try AddressArgument(text, shared: shared)) }
        self.arguments = parsed
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        guard let kernel = try shared.openKernel() else { throw CommandFailure(message: "no kernel image") }
        if streaming { return try batch(kernel, console) }
        let dump = arguments.contains { $0.expression.dereferences } ? try shared.openDump(console) : nil
        if let dump { try checkSymbols(kernel: kernel, dump: dump, console: console) }
        var failed = false
        var answers: [JSON] = []
        for argument in arguments {
            do throws(CommandFailure) {
                let answer = try lookUp(argument, kernel: kernel, dump: dump)
                if shared.json { answers.append(answer.json) } else { console.out.line(answer.text) }
            } catch {
                failed = true
                if shared.json {
                    answers.append(.object([("input", .string(argument.text)), ("error", .string(error.message))]))
                }
                console.diagnose(error.message)
            }
        }
        if shared.json { JSON.array(answers).writeLine(to: console.out) }
        return failed ? .failure : .success
    }

    /// One answer: the input, the address, and the symbol found (with the offset into it).
    struct Answer {
        let input: String
        let address: UInt64
        let symbol: Symbol
        let offset: UInt64
        let byName: Bool
        let section: String
        /// How wide addresses are shown (the dump's, else the kernel image's pointers).
        let width: AddressWidth

        var attributes: String {
            "size \(symbol.size), \(SymCommand.typeName(symbol.kind)), \(SymCommand.bindingName(symbol.binding)), \(section)"
        }

        var text: String {
            if byName { return "\(symbol.name) = \(Hex.address(address, width)) (\(attributes))" }
            let place = offset == 0 ? symbol.name : "\(symbol.name)+\(Hex.short(offset))"
            return "\(Hex.address(address, width)) = \(place) (\(attributes))"
        }

        var json: JSON {
            .object([
                ("input", .string(input)), ("address", .virtualAddress(address, width)), ("symbol", .string(symbol.name)),
                ("offset", .uint(offset)), ("symbol_address", .virtualAddress(symbol.value, width)), ("size", .uint(symbol.size)),
                ("type", .string(SymCommand.typeName(symbol.kind))), ("binding", .string(SymCommand.bindingName(symbol.binding))),
                ("section", .string(section)), ("error", .null),
            ])
        }
    }

    func lookUp(_ argument: AddressArgument, kernel: KernelImage, dump: Dump?) throws(CommandFailure) -> Answer {
        let width = dump?.addressWidth ?? AddressWidth(pointerSize: Int(kernel.elfClass.wordSize))
        if case .symbol(let name) = argument.expression, !argument.text.contains("&") {
            guard let symbol = kernel.symbol(named: name) else {
                throw CommandFailure(message: withHexHint("\(kernel.path): no symbol '\(name)'", for: name))
            }
            return Answer(input: argument.text, address: symbol.value, symbol: symbol, offset: 0, byName: true,
                          section: sectionName(symbol, kernel), width: width)
        }
        let address = try argument.resolve(kernel: kernel, dump: dump)
        guard let (symbol, offset) = kernel.symbolize(address) else {
            throw CommandFailure(message: "\(kernel.path): no symbol at \(Hex.address(address, width))")
        }
        return Answer(input: argument.text, address: address, symbol: symbol, offset: offset, byName: false,
                      section: sectionName(symbol, kernel), width: width)
    }

    private func sectionName(_ symbol: Symbol, _ kernel: KernelImage) -> String {
        switch symbol.sectionIndex {
        case Symbol.undefinedSection: return "UNDEF"
        case Symbol.absoluteSection: return "ABS"
        case let index where Int(index) < kernel.sections.count:
            let name = kernel.sections[Int(index)].name
            return name.isEmpty ? "section \(index)" : name
        case let index: return "section \(index)"
        }
    }

    /// The lowercase name of an ELF symbol type.
    static func typeName(_ kind: Symbol.Kind) -> String {
        switch kind {
        case .noType: return "notype"
        case .object: return "object"
        case .function: return "func"
        case .section: return "section"
        case .file: return "file"
        case .common: return "common"
        case .tls: return "tls"
        case .other(let value): return "type \(value)"
        }
    }

    /// The lowercase name of an ELF symbol binding.
    static func bindingName(_ binding: Symbol.Binding) -> String {
        switch binding {
        case .local: return "local"
        case .global: return "global"
        case .weak: return "weak"
        case .other(let value): return "binding \(value)"
        }
    }
}
