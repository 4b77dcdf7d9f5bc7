/// DEFLATE (RFC 1951) and the gzip member wrapper (RFC 1952), streaming, in bounded memory.

/// A point at a deflate block boundary from which decoding can resume without what came before:
/// zran-style random access into a gzip file. Costs ≤ 32 KiB (the window) each.
public struct InflateCheckpoint: Sendable, Equatable {
    /// Bit offset in the source (from its first byte) of the next block header.
    public let inputBitOffset: UInt64
    /// The source byte a resumed decoder's `ByteSource` must start at.
    public var inputByteOffset: UInt64 { inputBitOffset >> 3 }
    /// Uncompressed bytes before this point (over all gzip members).
    public let outputOffset: UInt64
    /// The last ≤ 32 KiB of output before this point (shorter only near a member's start).
    public let window: [UInt8]
    /// The gzip member's running CRC-32 and byte count up to here, so a resumed decoder still checks
    /// the member's trailer.
    public let memberCRC: UInt32
    public let memberOutput: UInt64
    public let format: CompressionFormat
}

/// Deflate block boundaries seen by an `InflateStream`, for callers that want to index a stream.
public struct InflateStream {
    public static let windowSize = 1 << 15
    /// Bytes of output decoded between slides of the history buffer.
    static let chunk = 1 << 18
    static let capacity = windowSize + chunk

    public let format: CompressionFormat
    var input: InputBuffer
    var padBytes = 0          // zero bytes appended after the end of the source
    var bitbuf: UInt64 = 0
    var bitcnt = 0

    var buf: [UInt8]
    var outBase: UInt64 = 0   // uncompressed offset of buf[0]
    var outPos = 0            // bytes of buf produced
    var delivered = 0         // bytes of buf handed to the caller
    var histStart = 0         // first byte of buf a distance may reach (the member's start)
    var crcPos = 0
    var crc = CRC32()
    var memberStartOffset: UInt64 = 0   // uncompressed offset where the member began

    enum State { case memberHeader, blockHeader, stored(Int), huffman, memberTrailer, afterMember, done }
    var state: State
    var lastBlock = false
    var goodPos = 0           // output known good (every bit it came from was in the source)
    var pendingError: DecompressError? = nil
    var lit = Huffman()
    var dist = Huffman()
    var blockStartBit: UInt64 = 0

    let checkpointInterval: UInt64
    var lastCheckpointOutput: UInt64 = 0
    /// Checkpoints collected so far (when made with a `checkpointInterval`); the caller may empty it.
    public var checkpoints: [InflateCheckpoint] = []
    /// Deflate blocks decoded: stored, fixed Huffman, dynamic Huffman; and gzip members.
    public private(set) var blockCounts = [0, 0, 0]
    public private(set) var members = 0

    /// A decoder reading `format` (.gzip: one or more members; .deflate: a raw deflate stream) from
    /// `source`. With `checkpointInterval` > 0, a checkpoint is kept at the first block boundary after
    /// every `checkpointInterval` bytes of output.
    public init(source: any ByteSource, format: CompressionFormat = .gzip, checkpointInterval: UInt64 = 0) {
        precondition(format == .gzip || format == .deflate, "InflateStream reads gzip or raw deflate")
        self.format = format
        input = InputBuffer(source: source, base: 0)
        buf = [UInt8](repeating: 0, count: InflateStream.capacity)
        state = format == .gzip ? .memberHeader : .blockHeader
        self.checkpointInterval = checkpointInterval
    }

    /// Resume at `checkpoint`; `source` must deliver the compressed bytes from
    /// `checkpoint.inputByteOffset` on. Output starts at `checkpoint.outputOffset`.
    public init(source: any ByteSource, resumingAt checkpoint: InflateCheckpoint, checkpointInterval: UInt64 = 0) throws {
        format = checkpoint.format
        input = InputBuffer(source: source, base: checkpoint.inputByteOffset)
        buf = [UInt8](repeating: 0, count: InflateStream.capacity)
        let w = checkpoint.window.suffix(InflateStream.windowSize)
        for (i, b) in w.enumerated() { buf[i] = b }
        outPos = w.count
        delivered = w.count
        crcPos = w.count
        outBase = checkpoint.outputOffset &- UInt64(w.count)
        crc = CRC32(value: checkpoint.memberCRC)
        memberStartOffset = checkpoint.outputOffset &- checkpoint.memberOutput
        histStart = 0
        state = .blockHeader
        self.checkpointInterval = checkpointInterval
        lastCheckpointOutput = checkpoint.outputOffset
        try refillBits()
        let skip = Int(checkpoint.inputBitOffset & 7)
        if bitcnt - padBytes * 8 < skip { throw error(.truncated, "the source ends before the checkpoint") }
        bitbuf >>= UInt64(skip)
        bitcnt -= skip
    }

    /// Uncompressed bytes handed out so far (plus the checkpoint's offset when resumed).
    public var outputOffset: UInt64 { outBase &+ UInt64(delivered) }
    /// Source offset of the next bit not consumed, in bits.
    public var inputBitOffset: UInt64 { input.offset &* 8 &- UInt64(bitcnt) }
    public var isAtEnd: Bool {
        if case .done = state { return delivered == outPos }
        return false
    }

    /// An error at `offset` (default: the current input byte); when the decoder has already read past
    /// the end of the source, the stream is truncated whatever the symptom.
    func error(_ kind: DecompressError.Kind, _ detail: String, at offset: UInt64? = nil) -> DecompressError {
        if padBytes > 0 && (input.bytes.count - input.pos) * 8 + bitcnt < padBytes * 8 {
            return DecompressError(format, .truncated, at: input.base &+ UInt64(input.bytes.count - padBytes),
                                   "the compressed stream ends inside a deflate block")
        }
        return DecompressError(format, kind, at: offset ?? (inputBitOffset >> 3), detail)
    }

    /// Append up to `maxCount` decoded bytes to `out`; 0 only at the end of the stream. Errors leave
    /// what was appended before them valid.
    public mutating func read(into out: inout [UInt8], maxCount: Int) throws -> Int {
        guard maxCount > 0 else { return 0 }
        while delivered == outPos {
            if let pendingError { throw pendingError }
            if case .done = state { return 0 }
            do { try produce() } catch let e as DecompressError {
                // Hand out what was decoded and checked before the error; throw it on the next read.
                outPos = goodPos
                pendingError = e
            }
        }
        let n = min(maxCount, outPos - delivered)
        out.append(contentsOf: buf[delivered..<(delivered + n)])
        delivered += n
        return n
    }

    /// Decode everything into one array (tests, small inputs); refuses more than `limit` bytes.
    public mutating func readAll(limit: Int = Int.max) throws -> [UInt8] {
        var out: [UInt8] = []
        while try read(into: &out, maxCount: 1 << 20) > 0 {
            if out.count > limit { throw error(.badLength, "more than \(limit) bytes of output") }
        }
        return out
    }

    // MARK: bits

    /// Fill the bit buffer to more than 56 bits; past the end of the source, zero bits (counted in
    /// `padBytes`, checked by `checkTruncation`).
    mutating func refillBits() throws {
        while bitcnt <= 56 {
            if input.pos < input.bytes.count {
                bitbuf |= UInt64(input.bytes[input.pos]) << UInt64(bitcnt)
                input.pos += 1
                bitcnt += 8
            } else if try !input.refill() {
                try appendPadding()
            }
        }
    }

    /// After the source's end: 16 zero bytes more, unless the stream already used bits beyond it.
    mutating func appendPadding() throws {
        try checkTruncation()
        if padBytes > 64 { throw error(.truncated, "the compressed stream ends inside a deflate block") }
        input.bytes.append(contentsOf: repeatElement(0, count: 16))
        padBytes += 16
    }

    /// Throws if bits beyond the end of the source were consumed.
    @inline(__always) func checkTruncation() throws {
        if padBytes > 0 && (input.bytes.count - input.pos) * 8 + bitcnt < padBytes * 8 {
            throw error(.truncated, "")
        }
    }

    @inline(__always) mutating func bits(_ n: Int) -> UInt32 {
        let v = UInt32(truncatingIfNeeded: bitbuf & ((1 << UInt64(n)) &- 1))
        bitbuf >>= UInt64(n)
        bitcnt -= n
        return v
    }

    /// Drop bits to the next byte boundary and give back the whole bytes held in the bit buffer.
    mutating func alignToByte() throws {
        try checkTruncation()
        let drop = bitcnt & 7
        bitbuf >>= UInt64(drop)
        bitcnt -= drop
        input.pos -= bitcnt >> 3
        bitbuf = 0
        bitcnt = 0
    }

    /// Next byte of byte-aligned input (headers, trailers, stored blocks); bit buffer must be empty.
    mutating func byte() throws -> UInt8 {
        if input.pos >= input.bytes.count - padBytes {
            if try padBytes > 0 || !input.ensure(1) { throw error(.truncated, "the compressed stream ends inside a \(format) header or trailer") }
        }
        let b = input.bytes[input.pos]
        input.pos += 1
        return b
    }

    // MARK: output

    mutating func slideIfNeeded() {
        guard outPos + 2 * 258 > InflateStream.capacity else { return }
        updateCRC()
        let keep = InflateStream.windowSize
        let shift = outPos - keep
        var b = buf
        buf = []
        for i in 0..<keep { b[i] = b[shift + i] }
        buf = b
        outBase &+= UInt64(shift)
        outPos = keep
        delivered = keep
        crcPos = keep
        histStart = max(0, histStart - shift)
    }

    /// Decode until the output buffer is full or the stream ends (at least one state step).
    mutating func produce() throws {
        slideIfNeeded()
        goodPos = outPos
        while outPos + 258 <= InflateStream.capacity {
            goodPos = outPos
            switch state {
            case .done:
                updateCRC()
                return
            case .memberHeader:
                try readMemberHeader()
                members += 1
                histStart = outPos
                memberStartOffset = outBase &+ UInt64(outPos)
                crc = CRC32()
                crcPos = outPos
                state = .blockHeader
            case .blockHeader:
                if lastBlock {
                    state = format == .gzip ? .memberTrailer : .afterMember
                    continue
                }
                try refillBits()
                try checkTruncation()
                maybeCheckpoint()
                blockStartBit = inputBitOffset
                lastBlock = bits(1) == 1
                let type = Int(bits(2))
                if type < 3 { blockCounts[type] += 1 }
                switch type {
                case 0:
                    try alignToByte()
                    guard try input.ensure(4), input.available - padBytes >= 4 else {
                        throw error(.truncated, "the compressed stream ends inside a stored block's length")
                    }
                    let b = input.bytes, p = input.pos
                    let len = Int(b[p]) | Int(b[p + 1]) << 8
                    let nlen = Int(b[p + 2]) | Int(b[p + 3]) << 8
                    guard len ^ nlen == 0xFFFF else {
                        throw error(.badBlock, "stored block length \(len) does not match its complement \(nlen ^ 0xFFFF)", at: input.offset)
                    }
                    input.pos += 4
                    state = .stored(len)
                case 1:
                    lit = Huffman.fixedLiteral
                    dist = Huffman.fixedDistance
                    state = .huffman
                case 2:
                    try readDynamicTables()
                    state = .huffman
                default:
                    throw error(.badBlock, "deflate block type 3 (reserved)", at: blockStartBit >> 3)
                }
            case .stored(let remaining):
                if remaining == 0 { state = .blockHeader; continue }
                if input.available - padBytes <= 0 {
                    if try padBytes > 0 || !input.refill() {
                        throw error(.truncated, "the compressed stream ends inside a stored block (\(remaining) bytes missing)")
                    }
                }
                let n = min(remaining, input.available - padBytes, InflateStream.capacity - outPos)
                var b = buf
                buf = []
                let src = input.bytes
                var p = input.pos
                for i in outPos..<(outPos + n) { b[i] = src[p]; p += 1 }
                buf = b
                input.pos = p
                outPos += n
                state = .stored(remaining - n)
            case .huffman:
                    if try decodeHuffman() { state = .blockHeader }
            case .memberTrailer:
                try alignToByte()
                updateCRC()
                let at = input.offset
                var v: [UInt32] = [0, 0]
                for k in 0..<8 { v[k >> 2] |= UInt32(try byte()) << UInt32(8 * (k & 3)) }
                guard v[0] == crc.value else {
                    throw error(.badChecksum, "gzip CRC-32 is \(hex(crc.value)) over the member, the trailer says \(hex(v[0]))", at: at)
                }
                let size = UInt32(truncatingIfNeeded: outBase &+ UInt64(outPos) &- memberStartOffset)
                guard v[1] == size else {
                    throw error(.badLength, "gzip ISIZE says \(v[1]) bytes mod 2^32, the member has \(size)", at: at &+ 4)
                }
                state = .afterMember
            case .afterMember:
                try alignToByte()
                if input.available - padBytes <= 0, try padBytes > 0 || !input.ensure(1) {
                    state = .done
                    continue
                }
                if format == .deflate {
                    throw error(.trailingData, "bytes after the end of the deflate stream", at: input.offset)
                }
                guard try input.ensure(2), input.bytes[input.pos] == 0x1f, input.bytes[input.pos + 1] == 0x8b else {
                    throw error(.trailingData, "bytes after the gzip member that do not start another member", at: input.offset)
                }
                lastBlock = false
                state = .memberHeader
            }
        }
        updateCRC()
    }

    mutating func updateCRC() {
        if format == .gzip { crc.update(buf, crcPos..<outPos) }
        crcPos = outPos
    }

    mutating func maybeCheckpoint() {
        guard checkpointInterval > 0 else { return }
        let here = outBase &+ UInt64(outPos)
        guard here &- lastCheckpointOutput >= checkpointInterval else { return }
        updateCRC()
        let from = max(histStart, outPos - InflateStream.windowSize)
        checkpoints.append(InflateCheckpoint(
            inputBitOffset: inputBitOffset, outputOffset: here, window: Array(buf[from..<outPos]),
            memberCRC: crc.value, memberOutput: here &- memberStartOffset, format: format))
        lastCheckpointOutput = here
    }

    func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    mutating func readMemberHeader() throws {
        let at = input.offset
        var hcrc = CRC32()
        var header: [UInt8] = []
        func take(_ s: inout InflateStream, _ n: Int) throws -> [UInt8] {
            var r: [UInt8] = []
            for _ in 0..<n { r.append(try s.byte()) }
            hcrc.update(r)
            return r
        }
        header = try take(&self, 10)
        guard header[0] == 0x1f, header[1] == 0x8b else {
            throw error(.badMagic, "not a gzip member: magic \(hex(UInt32(header[0]))) \(hex(UInt32(header[1])))", at: at)
        }
        guard header[2] == 8 else { throw error(.badHeader, "gzip compression method \(header[2]), only 8 (deflate) exists", at: at &+ 2) }
        let flags = header[3]
        guard flags & 0xE0 == 0 else { throw error(.badHeader, "gzip header flags \(hex(UInt32(flags))) set reserved bits", at: at &+ 3) }
        if flags & 4 != 0 {
            let x = try take(&self, 2)
            let xlen = Int(x[0]) | Int(x[1]) << 8
            _ = try take(&self, xlen)
        }
        for flag: UInt8 in [8, 16] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
            while try take(&self, 1)[0] != 0 {}
        }
        if flags & 2 != 0 {
            let expect = UInt16(truncatingIfNeeded: hcrc.value)
            let hAt = input.offset
            let v = UInt16(try byte()) | UInt16(try byte()) << 8
            guard v == expect else { throw error(.badChecksum, "gzip header CRC16 is \(hex(UInt32(expect))), the header says \(hex(UInt32(v)))", at: hAt) }
        }
    }

    mutating func readDynamicTables() throws {
        // Up to 14 + 19 * 3 bits, then code lengths of at most 7 + 7 bits each.
        let hlit = Int(bits(5)) + 257
        let hdist = Int(bits(5)) + 1
        let hclen = Int(bits(4)) + 4
        guard hlit <= 286, hdist <= 30 else {
            throw error(.badTable, "dynamic block declares \(hlit) literal/length and \(hdist) distance codes (at most 286 and 30)", at: blockStartBit >> 3)
        }
        try refillBits()
        var clen = [UInt8](repeating: 0, count: 19)
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        for i in 0..<hclen {
            if bitcnt < 3 { try refillBits() }
            clen[order[i]] = UInt8(bits(3))
        }
        let cl: Huffman
        do { cl = try Huffman(lengths: clen, bits: 7, kind: .plain) } catch {
            throw self.error(.badTable, "dynamic block's code length code is \(error)", at: blockStartBit >> 3)
        }
        var lengths = [UInt8](repeating: 0, count: hlit + hdist)
        var i = 0
        while i < hlit + hdist {
            try refillBits()
            let e: UInt32
            do { e = try cl.decode(&bitbuf, &bitcnt) } catch {
                throw self.error(.badCode, "dynamic block has an invalid code length code")
            }
            let sym = Int(e >> 16)
            if sym < 16 { lengths[i] = UInt8(sym); i += 1; continue }
            var value: UInt8 = 0
            var repeatCount: Int
            switch sym {
            case 16:
                guard i > 0 else { throw error(.badTable, "dynamic block repeats a previous code length before the first") }
                value = lengths[i - 1]
                repeatCount = 3 + Int(bits(2))
            case 17: repeatCount = 3 + Int(bits(3))
            default: repeatCount = 11 + Int(bits(7))
            }
            guard i + repeatCount <= hlit + hdist else {
                throw error(.badTable, "dynamic block's code lengths run \(i + repeatCount - hlit - hdist) past the \(hlit + hdist) codes")
            }
            for _ in 0..<repeatCount { lengths[i] = value; i += 1 }
        }
        try checkTruncation()
        guard lengths[256] != 0 else { throw error(.badTable, "dynamic block has no end-of-block code", at: blockStartBit >> 3) }
        do {
            lit = try Huffman(lengths: Array(lengths[0..<hlit]), bits: Huffman.literalBits, kind: .literal)
            dist = try Huffman(lengths: Array(lengths[hlit...]), bits: Huffman.distanceBits, kind: .distance)
        } catch {
            throw self.error(.badTable, "dynamic block's literal/length or distance code is \(error)", at: blockStartBit >> 3)
        }
    }

    /// The hot loop: literals and matches of one Huffman block into `buf` until the block ends (true)
    /// or the buffer is full (false).
    mutating func decodeHuffman() throws -> Bool {
        let litTable = lit.primary, distTable = dist.primary
        let litMask = UInt64(litTable.count - 1), distMask = UInt64(distTable.count - 1)
        let limit = InflateStream.capacity - 258
        var ended = false
        while !ended {
          do {
            var out = buf
            buf = []
            let inb = input.bytes
            var ip = input.pos
            var bb = bitbuf, bc = bitcnt
            var op = outPos
            let hs = histStart
            var failure: DecompressError? = nil
            // Fast loop: at least 8 input bytes ahead (real or padding), room for one match.
            while op <= limit && ip + 8 <= inb.count {
                while bc <= 56 { bb |= UInt64(inb[ip]) << UInt64(bc); ip += 1; bc += 8 }
                var e = litTable[Int(bb & litMask)]
                if e & 0xF == 0 {
                    do { e = try lit.decodeSlow(bb) } catch { failure = self.error(.badCode, "invalid literal/length code"); break }
                }
                var l = Int(e & 0xF)
                bb >>= UInt64(l); bc -= l
                let kind = (e >> 8) & 3
                if kind == 0 { out[op] = UInt8(truncatingIfNeeded: e >> 16); op += 1; continue }
                if kind == 2 { ended = true; break }
                if kind == 3 { failure = self.error(.badCode, "literal/length symbol \(e >> 16) (286 and 287 are invalid)"); break }
                var x = Int((e >> 4) & 0xF)
                let length = Int(e >> 16) + Int(bb & ((1 << UInt64(x)) &- 1))
                bb >>= UInt64(x); bc -= x
                var d = distTable[Int(bb & distMask)]
                if d & 0xF == 0 {
                    do { d = try dist.decodeSlow(bb) } catch { failure = self.error(.badCode, "invalid distance code"); break }
                }
                l = Int(d & 0xF)
                bb >>= UInt64(l); bc -= l
                if (d >> 8) & 3 != 1 { failure = self.error(.badCode, "distance symbol \(d >> 16) (30 and 31 are invalid)"); break }
                x = Int((d >> 4) & 0xF)
                let distance = Int(d >> 16) + Int(bb & ((1 << UInt64(x)) &- 1))
                bb >>= UInt64(x); bc -= x
                if distance > op - hs {
                    failure = self.error(.badDistance, "distance \(distance) reaches before the start of the output (\(op - hs) bytes of history)")
                    break
                }
                var s = op - distance
                let end = op + length
                while op < end { out[op] = out[s]; op += 1; s += 1 }
            }
            buf = out
            bitbuf = bb; bitcnt = bc
            input.pos = ip
            outPos = op
            if let failure { throw failure }
          }
            try checkTruncation()
            if ended || outPos > limit { break }
            // Near the end of the buffered input: pull more (or pad past the source's end).
            if try !input.refill() { try appendPadding() }
        }
        return ended
    }
}

/// A canonical Huffman decoding table: a primary table indexed by the next `bits` input bits (bit
/// reversed codes), each entry `value << 16 | kind << 8 | extraBits << 4 | codeLength` with
/// codeLength 0 for codes longer than `bits` (decoded bit by bit from `counts`/`symbols`).
struct Huffman {
    enum Kind { case plain, literal, distance }
    static let literalBits = 10
    static let distanceBits = 8
    var primary: [UInt32] = [0]
    var counts: [Int] = []
    var symbols: [Int] = []
    var kind = Kind.plain

    static let lengthBase: [UInt32] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [UInt32] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distBase: [UInt32] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distExtra: [UInt32] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    static let fixedLiteral: Huffman = {
        var l = [UInt8](repeating: 8, count: 288)
        for i in 144..<256 { l[i] = 9 }
        for i in 256..<280 { l[i] = 7 }
        return try! Huffman(lengths: l, bits: literalBits, kind: .literal)
    }()
    static let fixedDistance: Huffman = try! Huffman(lengths: [UInt8](repeating: 5, count: 32), bits: distanceBits, kind: .distance)

    struct BadCode: Error, CustomStringConvertible {
        let description: String
    }

    init() {}

    init(lengths: [UInt8], bits: Int, kind: Kind) throws {
        self.kind = kind
        var counts = [Int](repeating: 0, count: 16)
        for l in lengths { counts[Int(l)] += 1 }
        counts[0] = 0
        var left = 1
        for len in 1...15 {
            left <<= 1
            left -= counts[len]
            if left < 0 { throw BadCode(description: "oversubscribed at length \(len)") }
        }
        var offsets = [Int](repeating: 0, count: 16)
        for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
        var symbols = [Int](repeating: 0, count: lengths.count)
        for (s, l) in lengths.enumerated() where l != 0 {
            symbols[offsets[Int(l)]] = s
            offsets[Int(l)] += 1
        }
        var table = [UInt32](repeating: 0, count: 1 << bits)
        var code = 0
        var index = 0
        for len in 1...15 {
            for _ in 0..<counts[len] {
                let sym = symbols[index]
                index += 1
                if len <= bits {
                    var rev = 0
                    for k in 0..<len where code & (1 << k) != 0 { rev |= 1 << (len - 1 - k) }
                    let e = Huffman.entry(sym, kind) | UInt32(len)
                    var r = rev
                    while r < table.count { table[r] = e; r += 1 << len }
                }
                code += 1
            }
            code <<= 1
        }
        primary = table
        self.counts = counts
        self.symbols = symbols
    }

    static func entry(_ sym: Int, _ kind: Kind) -> UInt32 {
        switch kind {
        case .plain: return UInt32(sym) << 16
        case .literal:
            if sym < 256 { return UInt32(sym) << 16 }
            if sym == 256 { return 2 << 8 }
            if sym < 286 { return lengthBase[sym - 257] << 16 | 1 << 8 | lengthExtra[sym - 257] << 4 }
            return UInt32(sym) << 16 | 3 << 8
        case .distance:
            if sym < 30 { return distBase[sym] << 16 | 1 << 8 | distExtra[sym] << 4 }
            return UInt32(sym) << 16 | 3 << 8
        }
    }

    /// Decode a code longer than the primary table (or an unassigned one: throws) from the low bits of
    /// `bb` (at least 15 valid); returns the entry with its code length.
    func decodeSlow(_ bb: UInt64) throws -> UInt32 {
        var code = 0, first = 0, index = 0
        var b = bb
        for len in 1...15 {
            code |= Int(b & 1)
            b >>= 1
            let count = counts[len]
            if code - first < count { return Huffman.entry(symbols[index + code - first], kind) | UInt32(len) }
            index += count
            first += count
            first <<= 1
            code <<= 1
        }
        throw BadCode(description: "incomplete")
    }

    /// Decode one symbol and consume its bits (≥ 15 bits must be in the buffer).
    func decode(_ bb: inout UInt64, _ bc: inout Int) throws -> UInt32 {
        var e = primary[Int(bb & UInt64(primary.count - 1))]
        if e & 0xF == 0 { e = try decodeSlow(bb) }
        let l = Int(e & 0xF)
        bb >>= UInt64(l)
        bc -= l
        return e
    }
}
