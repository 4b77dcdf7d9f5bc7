/// Text formats: hexadecimal numbers, `hexdump -C`, gdb-style words and aligned tables.

/// Hexadecimal numbers. Conventions: virtual addresses and raw table entries are `0x` + 16 digits,
/// physical addresses, file offsets and sizes are `0x` + digits without padding; always lowercase.
enum Hex {
    /// The sixteen lowercase hex digits.
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `0x` and lowercase digits, no padding.
    static func short(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// `0x` and lowercase digits, zero-padded to `width` digits.
    static func padded(_ value: UInt64, width: Int = 16) -> String {
        let text = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// The two lowercase hex digits of every byte value: entries 2n and 2n+1 are the digits of n.
    static let pairs: [UInt8] = (0..<256).flatMap { [digits[$0 >> 4], digits[$0 & 0xf]] }

    /// Writes `0x` and the lowercase digits of `value` (no padding) at `target`; returns the bytes written (3 to 18).
    @inline(__always)
    static func putShort(_ value: UInt64, at target: UnsafeMutablePointer<UInt8>) -> Int {
        target[0] = UInt8(ascii: "0")
        target[1] = UInt8(ascii: "x")
        let width = max(1, (64 - value.leadingZeroBitCount + 3) / 4)
        return 2 + put(value, width: width, at: target + 2)
    }

    /// Copies `text` to `target`; returns its length in bytes.
    @inline(__always)
    static func put(_ text: StaticString, at target: UnsafeMutablePointer<UInt8>) -> Int {
        target.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        return text.utf8CodeUnitCount
    }

    /// Writes the low `width` hex digits of `value` at `target`; returns `width`.
    @inline(__always)
    static func put(_ value: UInt64, width: Int, at target: UnsafeMutablePointer<UInt8>) -> Int {
        var rest = value
        var index = width - 1
        while index >= 0 {
            let digit = UInt8(truncatingIfNeeded: rest & 0xf)
            target[index] = digit &+ (digit < 10 ? UInt8(ascii: "0") : UInt8(ascii: "a") &- 10)
            rest >>= 4
            index -= 1
        }
        return width
    }
}

/// `hexdump -C` layout with 16-digit virtual addresses in the left column.
///
/// Sixteen bytes per line, a gap after the eighth, printable ASCII between bars; a run of lines identical
/// to the line before is shown as one `*` line, and the last line holds the address just past the data.
/// Data may come in chunks (each a multiple of 16 bytes, except the last); `finish` writes the last line.
struct Hexdump {
    /// The longest line: address, 16 byte columns, gaps, bars, ASCII, newline.
    private static let maximumLine = 16 + 2 + 16 * 3 + 1 + 2 + 16 + 2

    /// The address of the next byte.
    private(set) var address: UInt64
    private var previous: (UInt64, UInt64)?
    private var squeezing = false
    private var started = false

    /// A formatter whose first byte is at `address`.
    init(address: UInt64) { self.address = address }

    /// Formats the next chunk of memory into `out`. Stops early if `out` closes.
    mutating func write(_ bytes: [UInt8], to out: OutputBuffer) {
        Hex.pairs.withUnsafeBufferPointer { pairs in
        bytes.withUnsafeBytes { data in
            var offset = 0
            while offset < data.count && !out.isClosed {
                let length = min(16, data.count - offset)
                let line = data.baseAddress! + offset
                var current: (UInt64, UInt64)?
                if length == 16 {
                    current = (line.loadUnaligned(as: UInt64.self), (line + 8).loadUnaligned(as: UInt64.self))
                }
                if let current, let previous, current == previous {
                    if !squeezing { out.line("*") }
                    squeezing = true
                } else {
                    squeezing = false
                    let lineAddress = address
                    out.withSpace(Self.maximumLine) { target in
                        Self.formatLine(
                            line.assumingMemoryBound(to: UInt8.self), length, address: lineAddress, pairs: pairs.baseAddress!,
                            into: target)
                    }
                }
                previous = current
                address &+= UInt64(length)
                offset += length
            }
        }
        }
        started = started || !bytes.isEmpty
    }

    /// Writes the line with the address just past the data, if there was any data.
    func finish(to out: OutputBuffer) {
        guard started else { return }
        out.withSpace(17) { target in
            let width = Hex.put(address, width: 16, at: target)
            target[width] = 0x0a
            return width + 1
        }
    }

    @inline(__always)
    private static func formatLine(
        _ line: UnsafePointer<UInt8>, _ length: Int, address: UInt64, pairs: UnsafePointer<UInt8>,
        into target: UnsafeMutablePointer<UInt8>
    ) -> Int {
        let space = UInt8(ascii: " ")
        for index in 0..<8 {
            let byte = Int(truncatingIfNeeded: address >> (56 - 8 * index)) & 0xff
            target[2 * index] = pairs[2 * byte]
            target[2 * index + 1] = pairs[2 * byte + 1]
        }
        var at = 16
        target[at] = space
        target[at + 1] = space
        at += 2
        for column in 0..<16 {
            if column < length {
                let byte = line[column]
                target[at] = pairs[2 * Int(byte)]
                target[at + 1] = pairs[2 * Int(byte) + 1]
            } else {
                target[at] = space
                target[at + 1] = space
            }
            target[at + 2] = space
            at += 3
            if column == 7 {
                target[at] = space
                at += 1
            }
        }
        target[at] = space
        target[at + 1] = UInt8(ascii: "|")
        at += 2
        for column in 0..<length {
            let byte = line[column]
            target[at] = (0x20..<0x7f).contains(byte) ? byte : UInt8(ascii: ".")
            at += 1
        }
        target[at] = UInt8(ascii: "|")
        target[at + 1] = 0x0a
        return at + 2
    }
}

/// gdb `x/`-style words: `0xADDR:` then little-endian words in hex, sixteen bytes per line.
enum WordDump {
    /// Formats the whole words of `bytes` (the memory at `address`), each `width` bytes, into `out`.
    /// Trailing bytes that do not fill a word are not shown.
    static func write(_ bytes: [UInt8], address: UInt64, width: Int, to out: OutputBuffer) {
        let perLine = 16 / width
        let wordCount = bytes.count / width
        var word = 0
        while word < wordCount && !out.isClosed {
            let lineWords = min(perLine, wordCount - word)
            out.withSpace(2 + 16 + 1 + 16 * 4) { target in
                target[0] = UInt8(ascii: "0")
                target[1] = UInt8(ascii: "x")
                var at = 2 + Hex.put(address &+ UInt64(word * width), width: 16, at: target + 2)
                target[at] = UInt8(ascii: ":")
                at += 1
                for index in word..<(word + lineWords) {
                    target[at] = UInt8(ascii: " ")
                    target[at + 1] = UInt8(ascii: "0")
                    target[at + 2] = UInt8(ascii: "x")
                    at += 3
                    at += Hex.put(value(bytes, at: index * width, width: width), width: width * 2, at: target + at)
                }
                target[at] = 0x0a
                return at + 1
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
