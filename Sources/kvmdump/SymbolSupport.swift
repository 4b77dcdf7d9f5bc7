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

/// An address given on the command line: a number, or a symbol expression (see `SymbolExpression`).
struct AddressArgument: Sendable {
    /// The text as given.
    let text: String
    /// The parsed expression.
    let expression: SymbolExpression

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
                throw UsageError("malformed address '\(text)' (use 0x... for hexadecimal)")
            }
            throw UsageError(error.description)
        }
        if shared.kernelPath == nil, let name = expression.symbolNames.first {
            throw UsageError(SymbolExpressionError.needsKernel(symbol: name).description)
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
            if case .dereferenceFailed = error, let dump { throw CommandFailure(message: "\(dump.path): \(error)") }
            throw CommandFailure(message: error.description)
        }
    }
}
