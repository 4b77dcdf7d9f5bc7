/// Text formats: hexadecimal numbers, `hexdump -C`, gdb-style words and aligned tables.
import MappedBytes
import MinidumpCore

/// Hexadecimal numbers. Conventions: virtual addresses are `0x` + the dump's pointer width in digits (16, or
/// 8 on i386: `Dump.addressWidth`, a minimum), raw table entries `0x` + 16 digits, physical addresses, file
/// offsets and sizes `0x` + digits without padding; always lowercase.
enum Hex {
    /// The sixteen lowercase hex digits.
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `0x` and lowercase digits, no padding.
    static func short(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// `0x` and lowercase digits, zero-padded to `width` digits.
    static func padded(_ value: UInt64, width: Int) -> String {
        let text = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// A virtual address: `0x` and lowercase digits, zero-padded to the dump's address width.
    static func address(_ value: UInt64, _ width: AddressWidth) -> String { padded(value, width: width.digits) }

    /// A raw 64-bit table entry (PDE, PTE): `0x` and 16 digits.
    static func entry(_ value: UInt64) -> String { padded(value, width: 16) }

    /// The two lowercase hex digits of every byte value: entries 2n and 2n+1 are the digits of n.
    static let pairs: [UInt8] = (0..<256).flatMap { [digits[$0 >> 4], digits[$0 & 0xf]] }
}

extension OutputSpan {
    /// Appends the digits of virtual address `value` (no `0x`), zero-padded to `width`; a value wider
    /// than `width` keeps all its digits (`put(hex:width:)` would cut them).
    @inline(__always)
    mutating func put(address value: UInt64, width: AddressWidth) {
        put(hex: value, width: max(width.digits, (64 &- value.leadingZeroBitCount &+ 3) / 4))
    }
}

/// `hexdump -C` layout with the dump's virtual addresses (16 digits, 8 on i386) in the left column.
///
/// Sixteen bytes per line, a gap after the eighth, printable ASCII between bars; a run of lines identical
/// to the line before is shown as one `*` line, and the last line holds the address just past the data.
/// Data may come in chunks (each a multiple of 16 bytes, except the last); `finish` writes the last line.
struct Hexdump {
    /// The longest line: address, 16 byte columns, gaps, bars, ASCII, newline.
    static let maximumLine = 16 + 2 + 16 * 3 + 1 + 2 + 16 + 2

    /// The address of the next byte.
    private(set) var address: UInt64
    /// The digits of the address column.
    let width: AddressWidth
    private var previous: (UInt64, UInt64)?
    private var squeezing = false
    private var started = false

    /// A formatter whose first byte is at `address`, addresses shown `width` wide.
    init(address: UInt64, width: AddressWidth) {
        self.address = address
        self.width = width
    }

    /// Formats the next chunk of memory into `out`. Stops early if `out` closes.
    mutating func write(_ bytes: [UInt8], to out: OutputBuffer) {
        var offset = 0
        while offset < bytes.count && !out.isClosed {
            let length = min(16, bytes.count - offset)
            var current: (UInt64, UInt64)?
            if length == 16 {
                current = (WordDump.value(bytes, at: offset, width: 8), WordDump.value(bytes, at: offset + 8, width: 8))
            }
            if let current, let previous, current == previous {
                if !squeezing { out.line("*") }
                squeezing = true
            } else {
                squeezing = false
                let lineAddress = address
                let start = offset
                let width = width
                out.withSpace(Self.maximumLine) { span in
                    Self.formatLine(bytes, start, length, address: lineAddress, width: width, into: &span)
                }
            }
            previous = current
            address &+= UInt64(length)
            offset += length
        }
        started = started || !bytes.isEmpty
    }

    /// Writes the line with the address just past the data, if there was any data.
    func finish(to out: OutputBuffer) {
        guard started else { return }
        out.withSpace(17) { span in
            span.put(address: address, width: width)
            span.put(0x0a)
        }
    }

    @inline(__always)
    private static func formatLine(
        _ bytes: [UInt8], _ start: Int, _ length: Int, address: UInt64, width: AddressWidth, into span: inout OutputSpan
    ) {
        let space = UInt8(ascii: " ")
        span.put(address: address, width: width)
        span.put(space)
        span.put(space)
        for column in 0..<16 {
            if column < length {
                span.put(hex: UInt64(bytes[start + column]), width: 2)
            } else {
                span.put(space)
                span.put(space)
            }
            span.put(space)
            if column == 7 { span.put(space) }
        }
        span.put(space)
        span.put(UInt8(ascii: "|"))
        for column in 0..<length {
            let byte = bytes[start + column]
            span.put((0x20..<0x7f).contains(byte) ? byte : UInt8(ascii: "."))
        }
        span.put(UInt8(ascii: "|"))
        span.put(0x0a)
    }
}

/// gdb `x/`-style words: `0xADDR:` then little-endian words in hex, sixteen bytes per line.
enum WordDump {
    /// The longest line: `0x`, 16 digits, `:`, then 16 one-byte words (` 0x` and 2 digits) and a newline (100
    /// bytes); 16-bit words need 2 + 16 + 1 + 8 × 7 + 1 = 76, wider words fewer.
    static let maximumLine = 2 + 16 + 1 + 16 * 5 + 1
    /// Formats the whole words of `bytes` (the memory at `address`, shown `addressWidth` wide), each `width`
    /// bytes, into `out`. Trailing bytes that do not fill a word are not shown.
    static func write(_ bytes: [UInt8], address: UInt64, addressWidth: AddressWidth, width: Int, to out: OutputBuffer) {
        let perLine = 16 / width
        let wordCount = bytes.count / width
        var word = 0
        while word < wordCount && !out.isClosed {
            let lineWords = min(perLine, wordCount - word)
            out.withSpace(Self.maximumLine) { span in
                span.put(UInt8(ascii: "0"))
                span.put(UInt8(ascii: "x"))
                span.put(address: address &+ UInt64(word * width), width: addressWidth)
                span.put(UInt8(ascii: ":"))
                for index in word..<(word + lineWords) {
                    span.put(" 0x")
                    span.put(hex: value(bytes, at: index * width, width: width), width: width * 2)
                }
                span.put(0x0a)
            }
            word += lineWords
        }
    }

    /// The little-endian word of `width` bytes at `offset`.
    static func value(_ bytes: [UInt8], at offset: Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in (0..<width).reversed() {
            value = value << 8 | UInt64(bytes[offset + index])
        }
        return value
    }
}

/// A table of left-aligned columns separated by two spaces, with an optional header row.
struct Table {
    /// Column titles; empty for a header-less list.
    var headers: [String] = []
    /// The cells, one array per row.
    var rows: [[String]] = []

    /// Writes the table to `out`; the last column is not padded.
    func write(to out: OutputBuffer) {
        let all = headers.isEmpty ? rows : [headers] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in all {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        for row in all {
            var line = ""
            for (index, cell) in row.enumerated() {
                line += cell
                if index < row.count - 1 {
                    line += String(repeating: " ", count: widths[index] - cell.count + 2)
                }
            }
            out.line(line)
            if out.isClosed { return }
        }
    }
}
