/// Batch modes (`read -`, `sym -`, like `translate -`): one request per input line, one answer line each,
/// flushed whenever no more input is waiting, so a script can ask for many values with one process.
import CrashInfo
import KernelImage
import MappedBytes
import MinidumpCore

enum Batch {
    /// Answers every line of standard input with `answer` (which writes exactly one line and returns
    /// false for a failed request). Overlong and empty lines get an error line without calling `answer`.
    /// The exit status is 1 if any request failed.
    static func run(_ console: Console, json: Bool, _ answer: (ByteLine) -> Bool) throws(CommandFailure) -> ExitStatus {
        let out = console.out
        var failed = false
        let reader = LineReader(fd: 0)
        let readError = reader.forEachLine(idle: { out.flush() }) { line, overlong in
            let trimmed = line.trimmed()
            if overlong || trimmed.isEmpty {
                failed = true
                fail(input: overlong ? trimmed.cut(0..<64).text : "", reason: overlong ? "line too long" : "empty line",
                     json: json, to: out)
            } else if !answer(trimmed) {
                failed = true
            }
            return !out.isClosed
        }
        if let readError { throw CommandFailure(message: "standard input: \(errorText(readError))") }
        return failed ? .failure : .success
    }

    /// The answer line for a failed request: `error: 'INPUT': REASON`, or `{"input":…,"error":…}`.
    static func fail(input: String, reason: String, json: Bool, to out: OutputBuffer) {
        if json {
            JSON.object([("input", .string(input)), ("error", .string(reason))]).writeLine(to: out)
        } else {
            out.line("error: '\(input)': \(reason)")
        }
    }

    /// The index of the last blank (space or tab) in `line`, or nil.
    static func lastBlank(_ line: ByteLine) -> Int? {
        var index = line.count - 1
        while index >= 0 {
            if line[index] == 0x20 || line[index] == 0x09 { return index }
            index -= 1
        }
        return nil
    }
}

/// "did you mean 0x…?" for text that is a plain hexadecimal number without its `0x` (at most 16
/// digits, at least one of them a letter), else nil.
func hexHint(_ text: String) -> String? {
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty, bytes.count <= 16 else { return nil }
    var letters = false
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): continue
        case UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): letters = true
        default: return nil
        }
    }
    return letters ? "did you mean 0x\(text)?" : nil
}

/// `message`, with the hint for `text` appended when it looks like hex without `0x`.
func withHexHint(_ message: String, for text: String) -> String {
    guard let hint = hexHint(text) else { return message }
    return message + "; " + hint
}

extension ReadCommand {
    /// The longest request of `read -` (its answer is twice as many hex digits).
    static let batchLimit: UInt64 = 1 << 20

    /// `read -`: `ADDR LEN` per line; the answer is the bytes in hex, or `error: …`.
    func batch(_ dump: Dump, _ console: Console) throws(CommandFailure) -> ExitStatus {
        let out = console.out
        let json = shared.json
        var kernel: KernelImage?
        var kernelFailure: String?
        if shared.kernelPath != nil {
            do throws(CommandFailure) {
                kernel = try shared.openSymbols(dump: dump, console: console)
            } catch {
                kernelFailure = error.message
                console.diagnose("warning: \(error.message); symbol expressions in the input will fail")
            }
        }
        return try Batch.run(console, json: json) { line in
            guard let blank = Batch.lastBlank(line) else {
                Batch.fail(input: line.text, reason: "expected 'ADDR LEN'", json: json, to: out)
                return false
            }
            let addressText = line.cut(0..<blank).trimmed()
            let lengthText = line.cut((blank + 1)..<line.count)
            guard let length = ValueParser.byteCount(utf8: lengthText), length > 0, length <= Self.batchLimit else {
                Batch.fail(input: line.text, reason: "malformed length '\(lengthText.text)' (1 to \(Self.batchLimit) bytes)",
                           json: json, to: out)
                return false
            }
            var address: UInt64
            if let number = ValueParser.address(utf8: addressText) {
                address = number
            } else {
                let text = addressText.text
                guard let kernel else {
                    let reason = kernelFailure.map { "needs the kernel image: \($0)" }
                        ?? withHexHint("malformed address (with -N also a symbol expression)", for: text)
                    Batch.fail(input: line.text, reason: reason, json: json, to: out)
                    return false
                }
                do throws(SymbolExpressionError) {
                    address = try SymbolExpression.parse(text).evaluate(kernel: kernel, dump: dump)
                } catch {
                    Batch.fail(input: line.text, reason: withHexHint(error.description(width: dump.addressWidth), for: text), json: json, to: out)
                    return false
                }
            }
            guard address.addingReportingOverflow(length - 1).overflow == false else {
                Batch.fail(input: line.text, reason: "\(Hex.address(address, dump.addressWidth)) + \(length) bytes runs past the top of the address space",
                           json: json, to: out)
                return false
            }
            let result = dump.read(VirtualAddress(address), count: Int(length))
            if json {
                JSON.object([
                    ("va", .virtualAddress(address, dump.addressWidth)), ("requested", .uint(length)), ("length", .uint(UInt64(result.bytes.count))),
                    ("bytes_hex", .hexBytes(result.bytes)), ("error", .optional(result.error) { .string($0.description(width: dump.addressWidth)) }),
                ]).writeLine(to: out)
            } else if let error = result.error {
                let partial = result.bytes.isEmpty ? "" : " (\(result.bytes.count) of \(length) bytes readable)"
                out.line("error: \(error.description(width: dump.addressWidth))\(partial)")
            } else {
                let bytes = result.bytes
                out.withSpace(2 * bytes.count + 1) { span in
                    for byte in bytes { span.put(hex: UInt64(byte), width: 2) }
                    span.put(0x0a)
                }
            }
            return result.error == nil
        }
    }
}

extension SymCommand {
    /// `sym -`: one NAME, ADDR or EXPR per line; the answer is the line `sym` prints for it, or `error: …`.
    func batch(_ kernel: KernelImage, _ console: Console) throws(CommandFailure) -> ExitStatus {
        let out = console.out
        let json = shared.json
        var dump: Dump?
        var dumpFailure: String?
        return try Batch.run(console, json: json) { line in
            let text = line.text
            let argument: AddressArgument
            do throws(UsageError) {
                argument = try AddressArgument(text, shared: shared)
            } catch {
                Batch.fail(input: text, reason: error.message, json: json, to: out)
                return false
            }
            if argument.expression.dereferences && dump == nil && dumpFailure == nil {
                do throws(CommandFailure) {
                    let opened = try shared.openDump(console)
                    try checkSymbols(kernel: kernel, dump: opened, console: console)
                    dump = opened
                } catch {
                    dumpFailure = error.message
                }
            }
            do throws(CommandFailure) {
                if argument.expression.dereferences, let dumpFailure { throw CommandFailure(message: dumpFailure) }
                let answer = try lookUp(argument, kernel: kernel, dump: dump)
                if json { answer.json.writeLine(to: out) } else { out.line(answer.text) }
                return true
            } catch {
                Batch.fail(input: text, reason: error.message, json: json, to: out)
                return false
            }
        }
    }
}
