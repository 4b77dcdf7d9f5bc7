/// Zstandard's entropy coders (RFC 8878 §4.1, §4.2): FSE tables and their description, Huffman literal
/// tables from weights, and the backward bit stream both are read from.

struct EntropyError: Error {
    let detail: String
    init(_ d: String) { detail = d }
}

/// A bit stream read backward from its last byte (whose highest set bit is the padding marker).
/// `acc` holds the next `count` bits left-aligned (the next bit to read is bit 63). Reading past the
/// first byte gives zero bits and makes `count` negative: `overflowed`.
struct BackwardBits {
    let bytes: [UInt8]
    let start: Int
    var pos: Int          // bytes[start..<pos] not loaded yet
    var acc: UInt64 = 0
    var count = 0

    init(_ bytes: [UInt8], _ range: Range<Int>) throws {
        guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= bytes.count else {
            throw EntropyError("an empty bit stream")
        }
        let last = bytes[range.upperBound - 1]
        guard last != 0 else { throw EntropyError("a bit stream whose last byte is 0 (no end marker)") }
        self.bytes = bytes
        start = range.lowerBound
        pos = range.upperBound - 1
        count = 7 - last.leadingZeroBitCount
        acc = UInt64(last) << UInt64(64 - count)   // the marker and above shift out (all of it when count is 0)
        refill()
    }

    /// Top up `acc` to at least 57 valid bits (fewer only near the stream's first byte): whole bytes
    /// with one 8-byte load while 8 or more bytes are left, else byte by byte.
    @inline(__always) mutating func refill() {
        guard count <= 56 else { return }
        if pos - start >= 8 && count >= 0 {
            let k = (64 - count) >> 3                 // whole bytes that fit: 1...8
            let w = loadLE64(bytes.span, pos - 8)     // bytes[pos-1] is the most significant
            let nb = UInt64(k << 3)
            acc |= (w &>> (64 &- nb)) &<< UInt64(64 - count - Int(nb))
            count &+= Int(nb)
            pos &-= k
        } else {
            while count <= 56 && pos > start {
                pos -= 1
                acc |= UInt64(bytes[pos]) << UInt64(56 - count)
                count += 8
            }
        }
    }

    /// The next `n` (0...56) bits without consuming them; zeros past the start.
    @inline(__always) func peek(_ n: Int) -> Int {
        Int(truncatingIfNeeded: (acc &>> 1) &>> UInt64(truncatingIfNeeded: 63 &- n))
    }

    /// Drop the next `n` (0...63) bits.
    @inline(__always) mutating func consume(_ n: Int) {
        acc &<<= UInt64(truncatingIfNeeded: n)
        count &-= n
    }

    @inline(__always) mutating func read(_ n: Int) -> Int {
        let v = peek(n)
        consume(n)
        return v
    }

    var overflowed: Bool { count < 0 }
    /// Every bit read, none beyond.
    var finishedExactly: Bool { count == 0 && pos == start }
}

/// Little-endian 8 bytes at `i`; traps (like a subscript) unless `i...i+7` is inside the span. With
/// the one range check in front, the compiler drops the eight per-byte checks and emits one 64-bit load.
@inline(__always) func loadLE64(_ s: Span<UInt8>, _ i: Int) -> UInt64 {
    guard i >= 0, i <= s.count &- 8 else { fatalError("8-byte load at \(i) outside a span of \(s.count)") }
    return UInt64(s[i]) | UInt64(s[i &+ 1]) << 8 | UInt64(s[i &+ 2]) << 16 | UInt64(s[i &+ 3]) << 24
        | UInt64(s[i &+ 4]) << 32 | UInt64(s[i &+ 5]) << 40 | UInt64(s[i &+ 6]) << 48 | UInt64(s[i &+ 7]) << 56
}

/// Store 8 bytes little-endian at `i` (one 64-bit store, bounds-checked).
@inline(__always) func storeLE64(_ o: inout MutableSpan<UInt8>, _ i: Int, _ v: UInt64) {
    var raw = o.mutableBytes
    raw.storeBytes(of: v.littleEndian, toByteOffset: i, as: UInt64.self)
}

enum FSE {
    /// Read an FSE table description (normalized counts) from `bytes[at..<end]`: the probabilities
    /// (-1 = "less than 1"), the accuracy log and the bytes used.
    static func readCounts(_ bytes: [UInt8], at: Int, end: Int, maxSymbol: Int, maxLog: Int) throws -> (probs: [Int], log: Int, used: Int) {
        var bitPos = 0
        let avail = end - at
        func peek(_ n: Int) -> Int {
            var v = 0
            for k in 0..<n {
                let b = bitPos + k
                let i = b >> 3
                if i < avail { v |= Int((bytes[at + i] >> UInt8(b & 7)) & 1) << k }
            }
            return v
        }
        guard avail > 0 else { throw EntropyError("an FSE table description past the end of the block") }
        let log = peek(4) + 5
        bitPos = 4
        guard log <= maxLog else { throw EntropyError("FSE accuracy log \(log) above the maximum \(maxLog)") }
        var remaining = (1 << log) + 1
        var threshold = 1 << log
        var nbBits = log + 1
        var probs: [Int] = []
        while remaining > 1 {
            guard probs.count <= maxSymbol else { throw EntropyError("FSE table description has more than \(maxSymbol + 1) symbols") }
            let maxSmall = 2 * threshold - 1 - remaining
            var v = peek(nbBits)
            if v & (threshold - 1) < maxSmall {
                v &= threshold - 1
                bitPos += nbBits - 1
            } else {
                v &= 2 * threshold - 1
                if v >= threshold { v -= maxSmall }
                bitPos += nbBits
            }
            let p = v - 1
            probs.append(p)
            remaining -= p < 0 ? 1 : p
            if p == 0 {
                while true {
                    let r = peek(2)
                    bitPos += 2
                    guard probs.count + r <= maxSymbol + 1 else { throw EntropyError("FSE zero-probability run past symbol \(maxSymbol)") }
                    for _ in 0..<r { probs.append(0) }
                    if r != 3 { break }
                    if bitPos > avail * 8 { throw EntropyError("an FSE table description past the end of the block") }
                }
            }
            guard remaining >= 1 else { throw EntropyError("FSE probabilities sum above \(1 << log)") }
            while remaining < threshold { nbBits -= 1; threshold >>= 1 }
            if bitPos > avail * 8 { throw EntropyError("an FSE table description past the end of the block") }
        }
        guard remaining == 1 else { throw EntropyError("FSE probabilities do not sum to \(1 << log)") }
        let used = (bitPos + 7) >> 3
        guard used <= avail else { throw EntropyError("an FSE table description past the end of the block") }
        return (probs, log, used)
    }

    /// The decoding table: per state, symbol, bits to read and the next state's base.
    struct Table {
        var symbol: [UInt8]
        var nbBits: [UInt8]
        var base: [UInt16]
        var log: Int
    }

    static func build(_ probs: [Int], log: Int) throws -> Table {
        let size = 1 << log
        var symbol = [UInt8](repeating: 0, count: size)
        var next = [Int](repeating: 0, count: probs.count)
        var high = size - 1
        for (s, p) in probs.enumerated() {
            if p == -1 {
                guard high >= 0 else { throw EntropyError("FSE table overfull") }
                symbol[high] = UInt8(truncatingIfNeeded: s)
                high -= 1
                next[s] = 1
            } else {
                next[s] = p
            }
        }
        let step = (size >> 1) + (size >> 3) + 3
        let mask = size - 1
        var pos = 0
        for (s, p) in probs.enumerated() where p > 0 {
            for _ in 0..<p {
                symbol[pos] = UInt8(truncatingIfNeeded: s)
                var guardCount = 0
                repeat {
                    pos = (pos + step) & mask
                    guardCount += 1
                    if guardCount > size { throw EntropyError("FSE table cannot be spread") }
                } while pos > high
            }
        }
        guard pos == 0 else { throw EntropyError("FSE probabilities do not fill the table") }
        var nbBits = [UInt8](repeating: 0, count: size)
        var base = [UInt16](repeating: 0, count: size)
        for u in 0..<size {
            let s = Int(symbol[u])
            let x = next[s]
            next[s] += 1
            guard x > 0 else { throw EntropyError("FSE state without probability") }
            let hb = 63 - UInt64(x).leadingZeroBitCount
            let nb = log - hb
            nbBits[u] = UInt8(nb)
            base[u] = UInt16(truncatingIfNeeded: (x << nb) - size)
        }
        return Table(symbol: symbol, nbBits: nbBits, base: base, log: log)
    }
}

/// A literal Huffman decoding table: index = next `maxBits` bits, entry = symbol | nbBits << 8.
struct HuffmanLiterals {
    var table: [UInt16]
    var maxBits: Int

    /// Read a Huffman tree description at `bytes[at..<end]`; returns the table and the bytes used.
    static func read(_ bytes: [UInt8], at: Int, end: Int) throws -> (HuffmanLiterals, Int) {
        guard at < end else { throw EntropyError("Huffman tree description past the end of the literals") }
        let hb = Int(bytes[at])
        var weights: [UInt8] = []
        var used: Int
        if hb >= 128 {
            let n = hb - 127
            used = 1 + (n + 1) / 2
            guard at + used <= end else { throw EntropyError("Huffman weights past the end of the literals") }
            for i in 0..<n {
                let b = bytes[at + 1 + i / 2]
                weights.append(i & 1 == 0 ? b >> 4 : b & 15)
            }
        } else {
            used = 1 + hb
            guard hb > 0, at + used <= end else { throw EntropyError("FSE-compressed Huffman weights of \(hb) bytes past the end of the literals") }
            let (probs, log, c) = try FSE.readCounts(bytes, at: at + 1, end: at + 1 + hb, maxSymbol: 255, maxLog: 6)
            let t = try FSE.build(probs, log: log)
            var r = try BackwardBits(bytes, (at + 1 + c)..<(at + 1 + hb))
            var s1 = r.read(log), s2 = r.read(log)
            while true {
                guard weights.count < 255 else { throw EntropyError("more than 255 Huffman weights") }
                weights.append(t.symbol[s1])
                r.refill()
                s1 = Int(t.base[s1]) + r.read(Int(t.nbBits[s1]))
                if r.overflowed { weights.append(t.symbol[s2]); break }
                weights.append(t.symbol[s2])
                r.refill()
                s2 = Int(t.base[s2]) + r.read(Int(t.nbBits[s2]))
                if r.overflowed { weights.append(t.symbol[s1]); break }
            }
            guard weights.count <= 255 else { throw EntropyError("more than 255 Huffman weights") }
        }
        var sum = 0
        for w in weights {
            guard w <= 11 else { throw EntropyError("Huffman weight \(w) above 11") }
            if w > 0 { sum += 1 << (Int(w) - 1) }
        }
        guard sum > 0 else { throw EntropyError("Huffman weights all zero") }
        let maxBits = (63 - UInt64(sum).leadingZeroBitCount) + 1
        guard maxBits <= 11 else { throw EntropyError("Huffman code longer than 11 bits") }
        let left = (1 << maxBits) - sum
        guard left > 0, left & (left - 1) == 0 else { throw EntropyError("Huffman weights do not complete a code (\(left) left)") }
        weights.append(UInt8((63 - UInt64(left).leadingZeroBitCount) + 1))
        var table = [UInt16](repeating: 0, count: 1 << maxBits)
        var pos = 0
        for w in 1...maxBits {
            for (s, sw) in weights.enumerated() where Int(sw) == w {
                let e = UInt16(s) | UInt16(maxBits + 1 - w) << 8
                let n = 1 << (w - 1)
                guard pos + n <= table.count else { throw EntropyError("Huffman table overfull") }
                for i in pos..<(pos + n) { table[i] = e }
                pos += n
            }
        }
        guard pos == table.count else { throw EntropyError("Huffman table not full") }
        return (HuffmanLiterals(table: table, maxBits: maxBits), used)
    }
}

/// Sequence decoding tables: per state `base | nbBits << 16 | addBits << 24 | value << 32`.
struct SequenceTable {
    var entries: [UInt64]
    var log: Int

    enum Kind { case literalLength, offset, matchLength }

    static let llBase: [UInt32] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64,
                                   128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]
    static let llBits: [UInt32] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11,
                                   12, 13, 14, 15, 16]
    static let mlBase: [UInt32] = Array(3...34) + [35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099,
                                                     8195, 16387, 32771, 65539]
    static let mlBits: [UInt32] = [UInt32](repeating: 0, count: 32) + [1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13,
                                                                       14, 15, 16]
    static let maxSymbol: [Kind: Int] = [.literalLength: 35, .offset: 31, .matchLength: 52]
    static let maxLog: [Kind: Int] = [.literalLength: 9, .offset: 8, .matchLength: 9]

    static let llDefault: [Int] = [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1,
                                   -1, -1, -1, -1]
    static let mlDefault: [Int] = [1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1]
    static let ofDefault: [Int] = [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1]

    static let predefinedLL = try! SequenceTable(FSE.build(llDefault, log: 6), .literalLength)
    static let predefinedML = try! SequenceTable(FSE.build(mlDefault, log: 6), .matchLength)
    static let predefinedOF = try! SequenceTable(FSE.build(ofDefault, log: 5), .offset)

    static func value(_ symbol: Int, _ kind: Kind) -> (UInt64, UInt64) {
        switch kind {
        case .literalLength: (UInt64(llBase[symbol]), UInt64(llBits[symbol]))
        case .matchLength: (UInt64(mlBase[symbol]), UInt64(mlBits[symbol]))
        case .offset: (UInt64(1) << UInt64(symbol), UInt64(symbol))
        }
    }

    init(_ t: FSE.Table, _ kind: Kind) throws {
        let maxSym = SequenceTable.maxSymbol[kind]!
        entries = try (0..<t.symbol.count).map { u in
            let s = Int(t.symbol[u])
            guard s <= maxSym else { throw EntropyError("symbol \(s) above \(maxSym)") }
            let (v, a) = SequenceTable.value(s, kind)
            return UInt64(t.base[u]) | UInt64(t.nbBits[u]) << 16 | a << 24 | v << 32
        }
        log = t.log
    }

    /// RLE mode: one symbol, no state bits.
    init(rle symbol: Int, _ kind: Kind) throws {
        guard symbol <= SequenceTable.maxSymbol[kind]! else { throw EntropyError("RLE symbol \(symbol) above \(SequenceTable.maxSymbol[kind]!)") }
        let (v, a) = SequenceTable.value(symbol, kind)
        entries = [a << 24 | v << 32]
        log = 0
    }
}
