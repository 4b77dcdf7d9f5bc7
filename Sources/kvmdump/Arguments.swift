/// Command-line parsing: option declarations, the parser, and parsers for option values.
///
/// Accepted shapes: `--opt VALUE`, `--opt=VALUE`, `-o VALUE`, `-oVALUE`, clustered short flags (`-hM PATH`),
/// `--` to end options, and a lone `-` as a positional. Options may come before or after positionals.
import MappedBytes

/// One option a command accepts. Parsing, usage lines and help text are all generated from these declarations.
struct Option: Hashable, Sendable {
    /// The long name, without the leading `--`.
    let long: String
    /// The single-letter name, if any.
    let short: Character?
    /// The placeholder shown for the value (`PATH`, `N`), or nil for a flag.
    let valueName: String?
    /// One line of help.
    let help: String

    /// An option that takes no value.
    static func flag(_ long: String, short: Character? = nil, help: String) -> Option {
        Option(long: long, short: short, valueName: nil, help: help)
    }

    /// An option that takes one value.
    static func value(_ long: String, short: Character? = nil, _ valueName: String, help: String) -> Option {
        Option(long: long, short: short, valueName: valueName, help: help)
    }

    /// `-M, --core PATH` or `    --json`, as shown in help.
    var synopsis: String {
        let names = (short.map { "-\($0), " } ?? "    ") + "--" + long
        return valueName.map { names + " " + $0 } ?? names
    }
}

/// A positional argument, for help text only; each command checks its own positionals.
struct Positional: Sendable {
    /// The placeholder, e.g. `ADDR`.
    let name: String
    /// One line of help.
    let help: String
}

/// A usage error: a bad command line. Exit status 2.
struct UsageError: Error, Sendable {
    /// What is wrong, without the `kvmdump:` prefix.
    let message: String
    /// The subcommand whose help the user should read, if one was recognised.
    var command: String?

    init(_ message: String, command: String? = nil) {
        self.message = message
        self.command = command
    }
}

/// The result of parsing: option values by long name, flags, and positionals in order.
struct ParsedArguments: Sendable {
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positionals: [String] = []

    /// Whether the flag was given.
    func has(_ option: Option) -> Bool { flags.contains(option.long) }
    /// The option's value (the last one, if given more than once).
    func value(_ option: Option) -> String? { values[option.long] }

    /// Adds the options and positionals of `other`; values in `other` win.
    mutating func merge(_ other: ParsedArguments) {
        values.merge(other.values) { _, new in new }
        flags.formUnion(other.flags)
        positionals += other.positionals
    }

    fileprivate mutating func set(_ option: Option, _ value: String?) {
        if let value { values[option.long] = value } else { flags.insert(option.long) }
    }

    fileprivate mutating func append(_ positional: String) { positionals.append(positional) }
}

/// Parses arguments against a list of declared options.
enum ArgumentParser {
    /// Parses `arguments` against `options`.
    ///
    /// With `stopAtPositional`, parsing stops at the first positional (which is not consumed) and the
    /// index of that positional is returned; otherwise everything is consumed and the end index is returned.
    static func parse(
        _ arguments: ArraySlice<String>, options: [Option], stopAtPositional: Bool = false
    ) throws(UsageError) -> (ParsedArguments, rest: Int) {
        var parsed = ParsedArguments()
        var index = arguments.startIndex
        var optionsEnded = false
        while index < arguments.endIndex {
            let argument = arguments[index]
            let isOption = !optionsEnded && argument.hasPrefix("-") && argument != "-"
            if !isOption {
                if stopAtPositional { return (parsed, index) }
                parsed.append(argument)
                index += 1
                continue
            }
            if argument == "--" {
                optionsEnded = true
                index += 1
                if stopAtPositional { return (parsed, index) }
                continue
            }
            index += 1
            if argument.hasPrefix("--") {
                try parseLong(argument.dropFirst(2), options: options, arguments: arguments, index: &index, into: &parsed)
            } else {
                try parseShort(argument.dropFirst(), options: options, arguments: arguments, index: &index, into: &parsed)
            }
        }
        return (parsed, index)
    }

    /// `--name`, `--name=value` or `--name value`.
    private static func parseLong(
        _ body: Substring, options: [Option], arguments: ArraySlice<String>, index: inout Int,
        into parsed: inout ParsedArguments
    ) throws(UsageError) {
        let name: Substring
        let inline: Substring?
        if let equals = body.firstIndex(of: "=") {
            name = body[..<equals]
            inline = body[body.index(after: equals)...]
        } else {
            name = body
            inline = nil
        }
        guard let option = options.first(where: { $0.long == name }) else {
            throw UsageError("unknown option '--\(name)'")
        }
        if option.valueName == nil {
            if inline != nil { throw UsageError("option '--\(name)' takes no value") }
            parsed.set(option, nil)
        } else if let inline {
            parsed.set(option, String(inline))
        } else {
            parsed.set(option, try nextValue(for: "--\(name)", option, arguments, &index))
        }
    }

    /// `-h`, `-hM PATH`, `-MPATH` or `-M PATH`.
    private static func parseShort(
        _ body: Substring, options: [Option], arguments: ArraySlice<String>, index: inout Int,
        into parsed: inout ParsedArguments
    ) throws(UsageError) {
        var rest = body
        while let letter = rest.first {
            rest = rest.dropFirst()
            guard let option = options.first(where: { $0.short == letter }) else {
                throw UsageError("unknown option '-\(letter)'")
            }
            guard option.valueName != nil else {
                parsed.set(option, nil)
                continue
            }
            parsed.set(option, rest.isEmpty ? try nextValue(for: "-\(letter)", option, arguments, &index) : String(rest))
            return
        }
    }

    private static func nextValue(
        for spelling: String, _ option: Option, _ arguments: ArraySlice<String>, _ index: inout Int
    ) throws(UsageError) -> String {
        guard index < arguments.endIndex else {
            throw UsageError("option '\(spelling)' needs a value (\(option.valueName ?? "VALUE"))")
        }
        defer { index += 1 }
        return arguments[index]
    }
}

/// Parsers for the values found on command lines and in `translate -` input.
enum ValueParser {
    /// Parses `0x…` hexadecimal or decimal into a 64-bit address; nil if malformed or out of range.
    static func address<S: StringProtocol>(_ text: S) -> UInt64? {
        address(utf8: Array(text.utf8))
    }

    /// Parses `0x…` hexadecimal or decimal from UTF-8 bytes (a line of `translate -` without copying);
    /// nil if malformed or out of range.
    @inline(__always)
    static func address<C: RandomAccessCollection<UInt8>>(utf8 bytes: C) -> UInt64? where C.Index == Int {
        var index = 0
        var hex = false
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), bytes[1] | 0x20 == UInt8(ascii: "x") {
            index = 2
            hex = true
        }
        guard index < bytes.count else { return nil }
        var value: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if hex {
                let digit: UInt64
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte &- UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(byte &- UInt8(ascii: "a") &+ 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(byte &- UInt8(ascii: "A") &+ 10)
                default: return nil
                }
                guard value >> 60 == 0 else { return nil }
                value = value << 4 | digit
            } else {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(byte &- UInt8(ascii: "0")))
                if overflow1 || overflow2 { return nil }
                value = sum
            }
        }
        return value
    }

    /// `byteCount` of UTF-8 bytes (a field of a `read -` line).
    static func byteCount<C: RandomAccessCollection<UInt8>>(utf8 bytes: C) -> UInt64? where C.Index == Int {
        guard let last = bytes.last else { return nil }
        let shift: UInt64
        switch last | 0x20 {
        case UInt8(ascii: "k"): shift = 10
        case UInt8(ascii: "m"): shift = 20
        case UInt8(ascii: "g"): shift = 30
        default: return address(utf8: bytes)
        }
        // The number without its suffix: a copy of at most a few bytes.
        guard bytes.count <= 24, let value = address(utf8: Array(bytes.dropLast())), value >> (64 - shift) == 0 else { return nil }
        return value << shift
    }

    /// Parses a byte count: decimal or `0x…`, optionally followed by `k`, `m` or `g` (powers of 1024).
    static func byteCount(_ text: String) -> UInt64? {
        let multipliers: [Character: UInt64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        var number = Substring(text)
        var multiplier: UInt64 = 1
        if let last = number.last, let factor = multipliers[Character(last.lowercased())] {
            multiplier = factor
            number = number.dropLast()
        }
        guard let value = address(number) else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
}
