/// Kernel image and symbol-expression support shared by the subcommands that take addresses.
import CrashInfo
import KernelImage
import MinidumpCore

extension SharedOptions {
    /// Opens the kernel image (-N, $KVMDUMP_KERNEL or /boot/kernel/kernel), or nil if none is configured.
    /// A failure carries the reader's message, which starts with the path.
    func openKernel() throws(CommandFailure) -> KernelImage? {
        guard let kernelPath else { return nil }
        do {
            return try KernelImage(path: kernelPath)
        } catch {
            throw CommandFailure(message: error.description)
        }
    }
}

extension SharedOptions {
    /// Opens the kernel image for a command that uses its symbols on `dump` (nil if none is configured):
    /// a kernel for another machine type is an error; one whose version does not match the dump gets a
    /// warning on standard error, once per run.
    func openSymbols(dump: Dump?, console: Console) throws(CommandFailure) -> KernelImage? {
        guard let kernel = try openKernel() else { return nil }
        if let dump { try checkSymbols(kernel: kernel, dump: dump, console: console) }
        return kernel
    }

    /// Opens the kernel image for a command that can do without it (`msgbuf`): a failure or a kernel for
    /// another machine is a warning, and the command goes on without symbols.
    func openKernelIfUsable(dump: Dump, console: Console) -> KernelImage? {
        do throws(CommandFailure) {
            return try openSymbols(dump: dump, console: console)
        } catch {
            console.warnOnce("warning: \(error.message); going on without the kernel image")
            return nil
        }
    }
}

extension SharedOptions {
    /// `dump` with its kernel page tables if it is an ELF full dump and a kernel image is
    /// configured: found from the image's `kernbase` value and `KPML4phys` address. Without a
    /// kernel image the dump is returned as it is (physical reads work; translations say they need -N).
    func withKernelTables(_ dump: Dump) throws(CommandFailure) -> Dump {
        guard dump.needsKernelTables, let kernel = try openKernel() else { return dump }
        if let machine = machineMismatch(kernel: kernel, dump: dump) { throw CommandFailure(message: machine) }
        guard let kernbase = kernel.symbol(named: "kernbase")?.value, let kpml4phys = kernel.symbol(named: "KPML4phys")?.value else {
            let missing = kernel.symbol(named: "kernbase") == nil ? "kernbase" : "KPML4phys"
            throw CommandFailure(message: "\(kernel.path): kernel image has no \(missing) symbol, which an ELF full dump needs to find its page tables")
        }
        do {
            return try dump.withKernelTables(kernbase: kernbase, kpml4physAddress: kpml4phys)
        } catch {
            throw CommandFailure(message: error.description)
        }
    }
}

/// Refuses a kernel image built for another machine than `dump`, and warns (once) when its version
/// does not match the dump's.
func checkSymbols(kernel: KernelImage, dump: Dump, console: Console) throws(CommandFailure) {
    if let machine = machineMismatch(kernel: kernel, dump: dump) { throw CommandFailure(message: machine) }
    for warning in kernelWarnings(kernel: kernel, dump: dump) { console.warnOnce(warning) }
}

/// An address given on the command line: a number, or a symbol expression (see `SymbolExpression`).
struct AddressArgument: Sendable {
    /// The text as given.
    let text: String
    /// The parsed expression.
    let expression: SymbolExpression

    /// A number known without parsing.
    init(constant: UInt64) {
        text = Hex.padded(constant, width: 16)
        expression = .number(constant)
    }

    /// Parses `text`. Usage errors: malformed text, and symbols when no kernel image is configured.
    init(_ text: String, shared: SharedOptions) throws(UsageError) {
        self.text = text
        if let value = ValueParser.address(text) {
            expression = .number(value)
            return
        }
        do {
            expression = try SymbolExpression.parse(text)
        } catch {
            if text.first.map({ $0.isASCII && $0.isNumber }) ?? true {
                throw UsageError("malformed address '\(text)' " + (hexHint(text).map { "(\($0))" } ?? "(use 0x... for hexadecimal)"))
            }
            throw UsageError(error.description)
        }
        if shared.kernelPath == nil, let name = expression.symbolNames.first {
            throw UsageError(withHexHint(SymbolExpressionError.needsKernel(symbol: name).description, for: text))
        }
    }

    /// The address when no kernel or dump is needed to compute it.
    var constant: UInt64? { expression.constantValue }

    /// Evaluates the expression; a failure (unknown symbol, unreadable pointer) ends the command.
    func resolve(kernel: KernelImage?, dump: Dump?) throws(CommandFailure) -> UInt64 {
        if let constant { return constant }
        do {
            return try expression.evaluate(kernel: kernel, dump: dump)
        } catch {
            let width = dump?.addressWidth ?? kernel.map { AddressWidth(pointerSize: Int($0.elfClass.wordSize)) } ?? .bits64
            if case .dereferenceFailed = error, let dump { throw CommandFailure(message: "\(dump.path): \(error.description(width: width))") }
            throw CommandFailure(message: withHexHint(error.description(width: width), for: text))
        }
    }
}
