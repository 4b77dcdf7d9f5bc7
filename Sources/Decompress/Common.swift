/// Decompress: our own DEFLATE (RFC 1951) with the gzip wrapper (RFC 1952), and Zstandard (RFC 8878)
/// decoders, for kernel-compressed dumps (`dumpon -z` / `-Z`). Safe Swift only (no unsafe pointers,
/// no Foundation, no dependencies). Every length, table and distance read from the stream is checked:
/// hostile input gives a `DecompressError` naming what is wrong and the compressed byte offset, never a
/// trap, an unbounded allocation or an endless loop. Memory is bounded by the window (32 KiB for
/// DEFLATE, the frame's window for zstd, refused above `ZstdStream.defaultMaxWindowSize` unless the
/// caller raises the limit), whatever the size of the stream.

/// Where compressed bytes come from: a pull source read front to back, once.
public protocol ByteSource {
    /// Append up to `maxCount` (> 0) next bytes to `buffer`; return how many were appended, 0 only at
    /// the end of the input.
    mutating func read(into buffer: inout [UInt8], maxCount: Int) throws -> Int
}

/// Compressed bytes held in memory (all of them, or from `start` on: resuming a checkpoint).
public struct ArraySource: ByteSource {
    public let bytes: [UInt8]
    public private(set) var position: Int
    public init(_ bytes: [UInt8], from start: Int = 0) {
        self.bytes = bytes
        position = max(0, min(start, bytes.count))
    }
    public mutating func read(into buffer: inout [UInt8], maxCount: Int) throws -> Int {
        let n = min(maxCount, bytes.count - position)
        guard n > 0 else { return 0 }
        buffer.append(contentsOf: bytes[position..<(position + n)])
        position += n
        return n
    }
}

/// The compressed formats this module reads.
public enum CompressionFormat: Sendable, Equatable, CustomStringConvertible {
    case gzip, zstd, deflate
    public var description: String {
        switch self {
        case .gzip: "gzip"
        case .zstd: "zstd"
        case .deflate: "deflate"
        }
    }
    /// The format a file's first bytes announce by magic (gzip `1f 8b 08`, zstd `28 b5 2f fd` or a
    /// skippable frame `5? 2a 4d 18`), or nil. Never judged by name.
    public static func detect(prefix: ArraySlice<UInt8>) -> CompressionFormat? {
        let p = Array(prefix.prefix(4))
        if p.count >= 3, p[0] == 0x1f, p[1] == 0x8b, p[2] == 8 { return .gzip }
        if p.count >= 4 {
            let m = UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
            if m == 0xFD2F_B528 || m & 0xFFFF_FFF0 == 0x184D_2A50 { return .zstd }
        }
        return nil
    }
}

/// A corrupt, truncated or unsupported stream: which format, what is wrong, and the compressed byte
/// offset (from the start of the source) where it was found.
public struct DecompressError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The input ended inside the stream.
        case truncated
        /// The first bytes are not this format's magic.
        case badMagic
        /// A header field (gzip header, zstd frame header) is invalid or unsupported.
        case badHeader
        /// A block header (type, size) is invalid.
        case badBlock
        /// A Huffman or FSE table description is invalid (oversubscribed, bad lengths, bad weights).
        case badTable
        /// A code not in the table, or a literal/length/offset value out of range.
        case badCode
        /// A back reference before the start of the output or beyond the window.
        case badDistance
        /// Decoded lengths disagree with the stream's own sizes.
        case badLength
        /// CRC-32, ISIZE or XXH64 check failed.
        case badChecksum
        /// The zstd frame's window exceeds the decoder's limit.
        case windowTooLarge
        /// Bytes after the end of the last member / frame that are not another one.
        case trailingData
        /// A feature this decoder does not implement (zstd dictionaries).
        case unsupported
    }
    public let format: CompressionFormat
    public let kind: Kind
    /// Compressed byte offset (from the start of the source) of the field found wrong.
    public let offset: UInt64
    /// What was wrong, with the values read.
    public let detail: String

    public init(_ format: CompressionFormat, _ kind: Kind, at offset: UInt64, _ detail: String) {
        self.format = format
        self.kind = kind
        self.offset = offset
        self.detail = detail
    }
    public var description: String { "\(format): \(detail) (compressed offset \(offset))" }
}

/// Input bytes pulled from a `ByteSource` in chunks, consumed front to back. `bytes[pos...]` are not
/// consumed yet; `base` is the source offset of `bytes[0]`.
struct InputBuffer {
    var source: any ByteSource
    var bytes: [UInt8] = []
    var pos = 0
    var base: UInt64
    var atEnd = false
    static let chunk = 1 << 16
    static let keepBehind = 8

    init(source: any ByteSource, base: UInt64) {
        self.source = source
        self.base = base
        bytes.reserveCapacity(2 * InputBuffer.chunk)
    }

    /// Source offset of the next unconsumed byte.
    var offset: UInt64 { base &+ UInt64(pos) }
    var available: Int { bytes.count - pos }

    /// Pull more input: returns false at the end of the source. Drops consumed bytes first.
    mutating func refill() throws -> Bool {
        if atEnd { return false }
        // Keep the last `keepBehind` consumed bytes: a bit reader may give back the whole bytes it
        // holds in its bit buffer (stored blocks, the gzip trailer).
        let drop = pos - InputBuffer.keepBehind
        if drop > 0 {
            bytes.removeSubrange(0..<drop)
            base &+= UInt64(drop)
            pos -= drop
        }
        let n = try source.read(into: &bytes, maxCount: InputBuffer.chunk)
        if n <= 0 { atEnd = true; return false }
        return true
    }

    /// Make at least `n` unconsumed bytes available; false if the source ends first.
    mutating func ensure(_ n: Int) throws -> Bool {
        while bytes.count - pos < n {
            if try !refill() { return false }
        }
        return true
    }
}
