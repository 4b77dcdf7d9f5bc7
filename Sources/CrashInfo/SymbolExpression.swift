/// Symbol expressions: the small address language accepted wherever kvmdump takes an address.
///
/// Grammar (spaces between tokens are allowed):
///
///     expression := unary { ("+" | "-") number }
///     unary      := "*" primary | primary
///     primary    := number | ["&"] symbol | "(" expression ")"
///     number     := "0x" hex-digits | decimal-digits
///     symbol     := (letter | "_" | "." | "$") { letter | digit | "_" | "." | "$" }
///
/// Semantics: an expression denotes an address. A symbol stands for its address (`st_value`),
/// so `hz` and `&hz` are the same thing (gdb's `&hz`). `*E` reads the little-endian pointer
/// stored at address `E` in the dump (gdb's `*(void **)E`): 8 bytes, or 4 on an i386 dump (the
/// dump's pointer size); at most one `*` is allowed.
/// Offsets bind looser than `*`, as in C: `*msgbufp+8` is `(*msgbufp) + 8`, while
/// `*(allproc+0x10)` reads the pointer at `allproc + 0x10`. Arithmetic that leaves the 64-bit
/// range is an error, not a wrap.
import KernelImage
import MinidumpCore

/// A parsed symbol expression; see the grammar above.
public indirect enum SymbolExpression: Sendable, Equatable, CustomStringConvertible {
    /// A literal address.
    case number(UInt64)
    /// The address of a kernel symbol (written `NAME` or `&NAME`).
    case symbol(String)
    /// The pointer (the dump's pointer size: 8 bytes, 4 on i386) stored at the inner expression's address.
    case dereference(SymbolExpression)
    /// The inner expression plus (or minus, when `subtract`) `delta` bytes.
    case offset(SymbolExpression, delta: UInt64, subtract: Bool)

    /// The longest expression accepted, in bytes.
    public static let maximumLength = 512
    /// The deepest parenthesis nesting accepted.
    public static let maximumNesting = 8

    /// Parses `text`; throws `.malformed` with the byte position of the problem.
    public static func parse(_ text: String) throws(SymbolExpressionError) -> SymbolExpression {
        var parser = ExpressionParser(text: text)
        return try parser.parseAll()
    }

    /// The symbol names the expression uses, in order of appearance.
    public var symbolNames: [String] {
        switch self {
        case .number: return []
        case .symbol(let name): return [name]
        case .dereference(let inner): return inner.symbolNames
        case .offset(let inner, _, _): return inner.symbolNames
        }
    }

    /// True if evaluating reads a pointer from the dump.
    public var dereferences: Bool {
        switch self {
        case .number, .symbol: return false
        case .dereference: return true
        case .offset(let inner, _, _): return inner.dereferences
        }
    }

    /// The value when the expression needs neither a kernel nor a dump (a number with offsets).
    public var constantValue: UInt64? {
        switch self {
        case .number(let value): return value
        case .symbol, .dereference: return nil
        case .offset(let inner, let delta, let subtract):
            guard let base = inner.constantValue else { return nil }
            return SymbolExpression.apply(base, delta, subtract)
        }
    }

    /// A canonical spelling: hex numbers, no spaces, parentheses only where needed.
    public var description: String {
        switch self {
        case .number(let value): return "0x" + String(value, radix: 16)
        case .symbol(let name): return name
        case .dereference(let inner):
            if case .offset = inner { return "*(\(inner))" }
            return "*\(inner)"
        case .offset(let inner, let delta, let subtract):
            return "\(inner)\(subtract ? "-" : "+")0x\(String(delta, radix: 16))"
        }
    }

    /// Evaluates the expression to an address.
    ///
    /// Symbols are looked up in `kernel` (defined symbols only); `*` reads from `dump`.
    /// Throws `.needsKernel` / `.needsDump` when the expression uses what was not given,
    /// `.unknownSymbol`, `.undefinedSymbol`, `.dereferenceFailed` (with the dump's
    /// `TranslationError`) or `.outOfRange`.
    public func evaluate(kernel: KernelImage?, dump: Dump?) throws(SymbolExpressionError) -> UInt64 {
        switch self {
        case .number(let value):
            return value
        case .symbol(let name):
            guard let kernel else { throw .needsKernel(symbol: name) }
            guard let symbol = kernel.symbol(named: name) else { throw .unknownSymbol(name: name, kernel: kernel.path) }
            guard symbol.isDefined else { throw .undefinedSymbol(name: name, kernel: kernel.path) }
            return symbol.value
        case .dereference(let inner):
            let address = try inner.evaluate(kernel: kernel, dump: dump)
            guard let dump else { throw .needsDump(expression: description) }
            do {
                return try dump.readPointer(VirtualAddress(address))
            } catch {
                throw .dereferenceFailed(expression: description, address: address, error: error)
            }
        case .offset(let inner, let delta, let subtract):
            let base = try inner.evaluate(kernel: kernel, dump: dump)
            guard let value = SymbolExpression.apply(base, delta, subtract) else {
                throw .outOfRange(expression: description, base: base)
            }
            return value
        }
    }

    private static func apply(_ base: UInt64, _ delta: UInt64, _ subtract: Bool) -> UInt64? {
        let (value, overflow) = subtract ? base.subtractingReportingOverflow(delta) : base.addingReportingOverflow(delta)
        return overflow ? nil : value
    }
}

/// Why a symbol expression could not be parsed or evaluated.
public enum SymbolExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text is not an expression; `position` is the byte offset of the problem (0-based).
    case malformed(expression: String, position: Int, reason: String)
    /// The expression names `symbol` but no kernel image was given.
    case needsKernel(symbol: String)
    /// The kernel image `kernel` has no symbol called `name`.
    case unknownSymbol(name: String, kernel: String)
    /// The symbol `name` exists in `kernel` but is undefined (SHN_UNDEF), so it has no address.
    case undefinedSymbol(name: String, kernel: String)
    /// The expression dereferences a pointer but no dump was given.
    case needsDump(expression: String)
    /// Reading the pointer at `address` for `expression` failed.
    case dereferenceFailed(expression: String, address: UInt64, error: TranslationError)
    /// Adding or subtracting an offset left the 64-bit address range.
    case outOfRange(expression: String, base: UInt64)

    /// One line a person can act on, addresses in 16 digits.
    public var description: String { description(width: .bits64) }

    /// One line a person can act on, addresses `width` wide (`Dump.addressWidth`).
    public func description(width: AddressWidth) -> String {
        switch self {
        case let .malformed(expression, position, reason):
            return "malformed address expression '\(expression)' at offset \(position): \(reason)"
        case let .needsKernel(symbol):
            return "symbol '\(symbol)' needs a kernel image (-N)"
        case let .unknownSymbol(name, kernel):
            return "\(kernel): no symbol '\(name)'"
        case let .undefinedSymbol(name, kernel):
            return "\(kernel): symbol '\(name)' is undefined (no address)"
        case let .needsDump(expression):
            return "'\(expression)' reads a pointer and needs a dump"
        case let .dereferenceFailed(expression, address, error):
            return "cannot read the pointer for '\(expression)' at \(width.format(address)): \(error.reason)"
        case let .outOfRange(expression, base):
            return "'\(expression)' leaves the 64-bit address range (base \(width.format(base)))"
        }
    }
}

/// Recursive-descent parser over the UTF-8 bytes of an expression.
private struct ExpressionParser {
    let text: String
    let bytes: [UInt8]
    var position = 0
    var stars = 0
    var depth = 0

    init(text: String) {
        self.text = text
        bytes = Array(text.utf8)
    }

    private func fail(_ reason: String, at: Int? = nil) -> SymbolExpressionError {
        .malformed(expression: text, position: at ?? position, reason: reason)
    }

    private mutating func skipSpaces() {
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
    }

    private mutating func peek() -> UInt8? {
        skipSpaces()
        return position < bytes.count ? bytes[position] : nil
    }

    mutating func parseAll() throws(SymbolExpressionError) -> SymbolExpression {
        guard bytes.count <= SymbolExpression.maximumLength else {
            throw fail("longer than \(SymbolExpression.maximumLength) bytes", at: SymbolExpression.maximumLength)
        }
        guard peek() != nil else { throw fail("empty") }
        let expression = try parseExpression()
        if let extra = peek() {
            throw fail(extra == UInt8(ascii: ")") ? "unbalanced ')'" : "unexpected '\(printable(extra))'")
        }
        return expression
    }

    private mutating func parseExpression() throws(SymbolExpressionError) -> SymbolExpression {
        var expression = try parseUnary()
        while let c = peek(), c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
            position += 1
            guard let next = peek(), isDigit(next) else { throw fail("expected a number after '\(printable(c))'") }
            let delta = try parseNumber()
            expression = .offset(expression, delta: delta, subtract: c == UInt8(ascii: "-"))
        }
        return expression
    }

    private mutating func parseUnary() throws(SymbolExpressionError) -> SymbolExpression {
        guard peek() == UInt8(ascii: "*") else { return try parsePrimary() }
        let at = position
        stars += 1
        guard stars == 1 else { throw fail("only one '*' (dereference) is allowed", at: at) }
        position += 1
        return .dereference(try parsePrimary())
    }

    private mutating func parsePrimary() throws(SymbolExpressionError) -> SymbolExpression {
        guard let c = peek() else { throw fail("expected a symbol, number or '('") }
        if c == UInt8(ascii: "(") {
            depth += 1
            guard depth <= SymbolExpression.maximumNesting else {
                throw fail("parentheses nested deeper than \(SymbolExpression.maximumNesting)")
            }
            position += 1
            let inner = try parseExpression()
            guard peek() == UInt8(ascii: ")") else { throw fail("expected ')'") }
            position += 1
            depth -= 1
            return inner
        }
        if c == UInt8(ascii: "&") {
            position += 1
            guard let next = peek(), isNameStart(next) else { throw fail("expected a symbol name after '&'") }
            return .symbol(parseName())
        }
        if c == UInt8(ascii: "*") { throw fail("only one '*' (dereference) is allowed") }
        if isDigit(c) { return .number(try parseNumber()) }
        if isNameStart(c) { return .symbol(parseName()) }
        throw fail("unexpected '\(printable(c))'")
    }

    private mutating func parseName() -> String {
        let start = position
        while position < bytes.count, isNameStart(bytes[position]) || isDigit(bytes[position]) { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func parseNumber() throws(SymbolExpressionError) -> UInt64 {
        let start = position
        var radix: UInt64 = 10
        if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "0"), bytes[position + 1] | 0x20 == UInt8(ascii: "x") {
            radix = 16
            position += 2
        }
        let digitsStart = position
        var value: UInt64 = 0
        while position < bytes.count, let digit = digitValue(bytes[position], radix: radix) {
            let (shifted, o1) = value.multipliedReportingOverflow(by: radix)
            let (sum, o2) = shifted.addingReportingOverflow(digit)
            guard !o1 && !o2 else { throw fail("number does not fit in 64 bits", at: start) }
            value = sum
            position += 1
        }
        guard position > digitsStart else { throw fail("expected hexadecimal digits after '0x'", at: start) }
        if position < bytes.count, isNameStart(bytes[position]) || isDigit(bytes[position]) {
            throw fail(radix == 10 ? "malformed number (use 0x... for hexadecimal)" : "malformed hexadecimal number", at: start)
        }
        return value
    }

    private func digitValue(_ c: UInt8, radix: UInt64) -> UInt64? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: return UInt64(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: return UInt64(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private func isNameStart(_ c: UInt8) -> Bool {
        (c | 0x20 >= UInt8(ascii: "a") && c | 0x20 <= UInt8(ascii: "z"))
            || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") || c == UInt8(ascii: "$")
    }

    private func printable(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7f ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16)
    }
}
