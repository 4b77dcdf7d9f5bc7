/// Zstandard frames (RFC 8878), streaming, in memory bounded by the frame's window.
///
/// Supported: frame header with window descriptor or single segment, frame content size checked when
/// present, raw/RLE/compressed blocks, literals raw/RLE/Huffman (1 or 4 streams)/treeless, sequences
/// with predefined/RLE/FSE-compressed/repeat tables, repeat offsets, the XXH64 content checksum,
/// concatenated frames and skippable frames. Not supported: dictionaries (a frame naming a dictionary
/// ID is refused with `.unsupported`; the kernel and the zstd tool do not use them by default).
///
/// Memory: the output history buffer is reserved once per frame after its first MiB (address space
/// only) and grows with the output up to about window + max(window, 16 MiB) + 128 KiB (less when the frame states a smaller
/// content size), plus 128 KiB of literals and a compressed block; windows above `maxWindowSize` (default
/// 128 MiB = 2^27, what `zstd --long` uses and libzstd's own default limit) are refused with
/// `.windowTooLarge` before anything is allocated for them.
public struct ZstdStream {
    /// What the decoded frames used, by kind (tests check the reference tool's streams cover them).
    public struct Statistics: Sendable, Equatable {
        /// Blocks: raw, RLE, compressed.
        public var blocks = [0, 0, 0]
        /// Literals sections: raw, RLE, Huffman 1 stream, Huffman 4 streams, treeless (1 or 4 streams).
        public var literals = [0, 0, 0, 0, 0]
        /// Sequence table modes [predefined, RLE, FSE, repeat] for literal lengths, offsets, match lengths.
        public var tableModes = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
        /// Sequences whose offset is a repeat code, and those with a new offset.
        public var repeatOffsets = 0
        public var newOffsets = 0
        public var skippableFrames = 0
        public var frames = 0
    }
    public private(set) var statistics = Statistics()
    public static let defaultMaxWindowSize = 1 << 27
    static let blockMaxLimit = 1 << 17
    /// Bytes kept writable past the end of a block's output: sequence execution copies 8 bytes at a
    /// time and may write up to 15 bytes beyond what a copy needs (overwritten by what follows).
    static let slack = 32
    /// Output after which the history buffer is reserved whole (`reservation`) rather than doubled.
    static let reserveAfter = 1 << 20

    let maxWindow: Int
    var input: InputBuffer

    var buf: [UInt8] = []
    var outBase: UInt64 = 0
    var outPos = 0
    var delivered = 0
    var frameStart = 0        // first byte of buf in the current frame (offsets may not reach before)
    var capacity = 0
    /// Bytes the history buffer is reserved to once it holds `reserveAfter` (see `makeRoom`).
    var reservation = 0

    enum State { case frameHeader, blockHeader, checksum, done }
    var state = State.frameHeader
    var frameCount = 0

    // Frame parameters.
    var window = 0
    var blockMax = 0
    var hasChecksum = false
    var contentSize: UInt64? = nil
    var frameProduced: UInt64 = 0
    var frameOffset: UInt64 = 0
    var hash = XXH64()
    var lastBlock = false

    // Entropy state carried from block to block within a frame.
    var huffman: HuffmanLiterals? = nil
    var llTable: SequenceTable? = nil
    var ofTable: SequenceTable? = nil
    var mlTable: SequenceTable? = nil
    var rep0 = 1, rep1 = 4, rep2 = 8

    var block: [UInt8] = []
    var blockOffset: UInt64 = 0   // source offset of block[0]
    var lits: [UInt8] = []
    var litCount = 0

    public init(source: any ByteSource, maxWindowSize: Int = ZstdStream.defaultMaxWindowSize) {
        input = InputBuffer(source: source, base: 0)
        maxWindow = maxWindowSize
    }

    /// Uncompressed bytes handed out so far.
    public var outputOffset: UInt64 { outBase &+ UInt64(delivered) }
    /// Source offset of the next compressed byte not consumed.
    public var inputOffset: UInt64 { input.offset }
    /// The current frame's Frame_Content_Size, if its header has one (nil before the first frame header).
    public var frameContentSize: UInt64? { contentSize }
    /// The current frame's window size (0 before the first frame header).
    public var windowSize: Int { window }
    public var isAtEnd: Bool { if case .done = state { return delivered == outPos } else { return false } }

    func error(_ kind: DecompressError.Kind, _ detail: String, at offset: UInt64? = nil) -> DecompressError {
        DecompressError(.zstd, kind, at: offset ?? input.offset, detail)
    }

    /// Append up to `maxCount` decoded bytes to `out`; 0 only at the end of the stream.
    public mutating func read(into out: inout [UInt8], maxCount: Int) throws -> Int {
        guard maxCount > 0 else { return 0 }
        while delivered == outPos {
            if case .done = state { return 0 }
            try step()
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

    mutating func bytes(_ n: Int, _ what: String) throws -> [UInt8] {
        guard try input.ensure(n) else { throw error(.truncated, "the compressed stream ends inside \(what)") }
        let r = Array(input.bytes[input.pos..<(input.pos + n)])
        input.pos += n
        return r
    }

    static func le(_ b: [UInt8], _ from: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(b[from + i]) << UInt64(8 * i) }
        return v
    }

    /// One state step: a frame header, a block, or a checksum.
    mutating func step() throws {
        switch state {
        case .done: return
        case .frameHeader:
            if frameCount > 0 || input.available > 0 {
                if try !input.ensure(1) { state = .done; return }
            }
            try readFrameHeader()
        case .blockHeader:
            try readBlock()
        case .checksum:
            let at = input.offset
            if hasChecksum {
                let v = UInt32(ZstdStream.le(try bytes(4, "the content checksum"), 0, 4))
                let h = UInt32(truncatingIfNeeded: hash.digest)
                guard v == h else {
                    throw error(.badChecksum, "content checksum (XXH64 low 32 bits) is 0x\(String(h, radix: 16)), the frame says 0x\(String(v, radix: 16))", at: at)
                }
            }
            if let cs = contentSize, cs != frameProduced {
                throw error(.badLength, "frame content size says \(cs) bytes, the frame decoded to \(frameProduced)", at: frameOffset)
            }
            frameCount += 1
            state = .frameHeader
            if try !input.ensure(1) { state = .done }
        }
    }

    mutating func readFrameHeader() throws {
        let at = input.offset
        let m = UInt32(ZstdStream.le(try bytes(4, "a frame's magic number"), 0, 4))
        if m & 0xFFFF_FFF0 == 0x184D_2A50 {
            var n = Int(ZstdStream.le(try bytes(4, "a skippable frame's size"), 0, 4))
            while n > 0 {
                let k = min(n, InputBuffer.chunk)
                guard try input.ensure(k) else { throw error(.truncated, "the compressed stream ends inside a skippable frame") }
                input.pos += k
                n -= k
            }
            frameCount += 1
            statistics.skippableFrames += 1
            if try !input.ensure(1) { state = .done }
            return
        }
        guard m == 0xFD2F_B528 else {
            if frameCount > 0 { throw error(.trailingData, "bytes after the last frame that are not a frame (magic 0x\(String(m, radix: 16)))", at: at) }
            throw error(.badMagic, "not a zstd frame: magic 0x\(String(m, radix: 16))", at: at)
        }
        frameOffset = at
        statistics.frames += 1
        let fhd = try bytes(1, "a frame header")[0]
        let fcsFlag = Int(fhd >> 6)
        let single = fhd & 0x20 != 0
        guard fhd & 0x08 == 0 else { throw error(.badHeader, "frame header descriptor 0x\(String(fhd, radix: 16)) sets the reserved bit", at: at + 4) }
        hasChecksum = fhd & 4 != 0
        let dictSize = [0, 1, 2, 4][Int(fhd & 3)]
        var windowSize: UInt64 = 0
        if !single {
            let wd = try bytes(1, "the window descriptor")[0]
            let log = 10 + UInt64(wd >> 3)
            let base = UInt64(1) << log
            windowSize = base + (base / 8) * UInt64(wd & 7)
        }
        if dictSize > 0 {
            let id = ZstdStream.le(try bytes(dictSize, "the dictionary ID"), 0, dictSize)
            if id != 0 { throw error(.unsupported, "the frame needs dictionary \(id); dictionaries are not supported", at: at + 5) }
        }
        let fcsSize = [single ? 1 : 0, 2, 4, 8][fcsFlag]
        contentSize = nil
        if fcsSize > 0 {
            var v = ZstdStream.le(try bytes(fcsSize, "the frame content size"), 0, fcsSize)
            if fcsSize == 2 { v += 256 }
            contentSize = v
            if single { windowSize = v }
        }
        guard windowSize <= UInt64(maxWindow) else {
            throw error(.windowTooLarge, "frame window of \(windowSize) bytes is above the limit of \(maxWindow)", at: at + 4)
        }
        window = Int(windowSize)
        blockMax = min(window, ZstdStream.blockMaxLimit)
        let wanted = window + max(window, 1 << 24) + ZstdStream.blockMaxLimit + ZstdStream.slack
        if capacity != wanted {
            // Keep what the caller has not read; the history of an earlier frame is not needed.
            slide(keep: 0)
            capacity = wanted
        }
        // What `makeRoom` reserves once the output passes `reserveAfter`: the frame's whole buffer,
        // sized from its window (at most `maxWindow`, refused above) or, when the header states it,
        // from the content size.
        let stated = contentSize.map { outPos + Int(min($0, UInt64(wanted))) + ZstdStream.blockMaxLimit + ZstdStream.slack }
        reservation = min(wanted, stated ?? wanted)
        frameStart = outPos
        frameProduced = 0
        hash = XXH64()
        huffman = nil
        llTable = nil; ofTable = nil; mlTable = nil
        rep0 = 1; rep1 = 4; rep2 = 8
        lastBlock = false
        state = .blockHeader
    }

    /// Move the last `keep` bytes (and anything undelivered) to the front of the buffer.
    mutating func slide(keep: Int) {
        let from = min(outPos - keep, delivered)
        guard from > 0 else { return }
        moveDown(&buf, from: from, count: outPos - from)
        outBase &+= UInt64(from)
        outPos -= from
        delivered -= from
        frameStart = max(0, frameStart - from)
    }

    /// Room for one more block of output.
    mutating func makeRoom() {
        let need = blockMax + ZstdStream.slack
        if outPos + need <= buf.count { return }
        if buf.count < capacity {
            // One allocation for the rest of the frame: growing then never copies the history (a
            // 128 MiB `--long` window used to be copied at every doubling). Only address space is
            // taken; pages are touched as the output reaches them. Small outputs never reserve.
            if buf.count >= ZstdStream.reserveAfter, buf.capacity < reservation { buf.reserveCapacity(reservation) }
            // Once reserved, grown 1 MiB at a time: the zeros are written just before the blocks
            // overwrite them, while still in cache.
            let step = buf.capacity >= reservation ? buf.count + ZstdStream.reserveAfter : buf.count * 2
            let grow = min(capacity, max(step, outPos + need, ZstdStream.reserveAfter)) - buf.count
            buf.append(contentsOf: repeatElement(0, count: grow))
            if outPos + need <= buf.count { return }
        }
        slide(keep: window)
    }

    mutating func readBlock() throws {
        let at = input.offset
        let h = Int(ZstdStream.le(try bytes(3, "a block header"), 0, 3))
        lastBlock = h & 1 != 0
        let type = (h >> 1) & 3
        let size = h >> 3
        makeRoom()
        let start = outPos
        if type < 3 { statistics.blocks[type] += 1 }
        switch type {
        case 0:  // raw
            guard size <= blockMax else { throw error(.badBlock, "raw block of \(size) bytes above the block maximum \(blockMax)", at: at) }
            guard try input.ensure(size) else { throw error(.truncated, "the compressed stream ends inside a raw block of \(size) bytes") }
            copyBytes(&buf, at: outPos, from: input.bytes, input.pos, count: size)
            input.pos += size
            outPos += size
        case 1:  // RLE
            guard size <= blockMax else { throw error(.badBlock, "RLE block of \(size) bytes above the block maximum \(blockMax)", at: at) }
            let v = try bytes(1, "an RLE block")[0]
            fillBytes(&buf, at: outPos, count: size, with: v)
            outPos += size
        case 2:
            guard size <= blockMax else { throw error(.badBlock, "compressed block of \(size) bytes above the block maximum \(blockMax)", at: at) }
            guard try input.ensure(size) else { throw error(.truncated, "the compressed stream ends inside a compressed block of \(size) bytes") }
            block.removeAll(keepingCapacity: true)
            block.append(contentsOf: input.bytes[input.pos..<(input.pos + size)])
            blockOffset = input.offset
            input.pos += size
            try decodeCompressedBlock()
        default:
            throw error(.badBlock, "block type 3 (reserved)", at: at)
        }
        let n = outPos - start
        if hasChecksum && n > 0 { hash.update(buf, start..<outPos) }
        frameProduced &+= UInt64(n)
        if let cs = contentSize, frameProduced > cs {
            throw error(.badLength, "frame decodes to more than its content size \(cs)", at: at)
        }
        if lastBlock { state = .checksum }
    }

    func blockError(_ kind: DecompressError.Kind, _ detail: String, at p: Int) -> DecompressError {
        DecompressError(.zstd, kind, at: blockOffset &+ UInt64(p), detail)
    }

    mutating func decodeCompressedBlock() throws {
        let end = block.count
        let p = try decodeLiterals()
        try decodeSequences(at: p, end: end)
    }

    /// The literals section into `lits[0..<litCount]`; returns where the sequences section starts.
    mutating func decodeLiterals() throws -> Int {
        let b = block
        guard b.count >= 1 else { throw blockError(.badBlock, "empty compressed block", at: 0) }
        let type = Int(b[0] & 3)
        let sf = Int(b[0] >> 2) & 3
        if lits.count < ZstdStream.blockMaxLimit + 64 { lits = [UInt8](repeating: 0, count: ZstdStream.blockMaxLimit + 64) }
        statistics.literals[type == 3 ? 4 : type == 2 ? (sf == 0 ? 2 : 3) : type] += 1
        if type < 2 {
            var size: Int, hdr: Int
            switch sf {
            case 0, 2: size = Int(b[0] >> 3); hdr = 1
            case 1:
                guard b.count >= 2 else { throw blockError(.badLength, "literals header past the end of the block", at: 0) }
                size = Int(b[0] >> 4) | Int(b[1]) << 4; hdr = 2
            default:
                guard b.count >= 3 else { throw blockError(.badLength, "literals header past the end of the block", at: 0) }
                size = Int(b[0] >> 4) | Int(b[1]) << 4 | Int(b[2]) << 12; hdr = 3
            }
            guard size <= blockMax else { throw blockError(.badLength, "\(size) literals above the block maximum \(blockMax)", at: 0) }
            if type == 0 {
                guard hdr + size <= b.count else { throw blockError(.badLength, "\(size) raw literals past the end of the block", at: hdr) }
                copyBytes(&lits, at: 0, from: b, hdr, count: size)
                litCount = size
                return hdr + size
            }
            guard hdr < b.count else { throw blockError(.badLength, "RLE literal past the end of the block", at: hdr) }
            fillBytes(&lits, at: 0, count: size, with: b[hdr])
            litCount = size
            return hdr + 1
        }
        // Huffman-coded literals.
        var regen: Int, comp: Int, hdr: Int
        let streams = sf == 0 ? 1 : 4
        switch sf {
        case 0, 1:
            guard b.count >= 3 else { throw blockError(.badLength, "literals header past the end of the block", at: 0) }
            let c = Int(b[0]) | Int(b[1]) << 8 | Int(b[2]) << 16
            regen = (c >> 4) & 0x3FF; comp = (c >> 14) & 0x3FF; hdr = 3
        case 2:
            guard b.count >= 4 else { throw blockError(.badLength, "literals header past the end of the block", at: 0) }
            let c = Int(b[0]) | Int(b[1]) << 8 | Int(b[2]) << 16 | Int(b[3]) << 24
            regen = (c >> 4) & 0x3FFF; comp = (c >> 18) & 0x3FFF; hdr = 4
        default:
            guard b.count >= 5 else { throw blockError(.badLength, "literals header past the end of the block", at: 0) }
            let c = Int(b[0]) | Int(b[1]) << 8 | Int(b[2]) << 16 | Int(b[3]) << 24 | Int(b[4]) << 32
            regen = (c >> 4) & 0x3FFFF; comp = (c >> 22) & 0x3FFFF; hdr = 5
        }
        guard regen <= blockMax else { throw blockError(.badLength, "\(regen) literals above the block maximum \(blockMax)", at: 0) }
        guard hdr + comp <= b.count else { throw blockError(.badLength, "\(comp) bytes of compressed literals past the end of the block", at: hdr) }
        var p = hdr
        let end = hdr + comp
        if type == 2 {
            do {
                let (t, used) = try HuffmanLiterals.read(b, at: p, end: end)
                huffman = t
                p += used
            } catch let e as EntropyError {
                throw blockError(.badTable, "Huffman tree description: \(e.detail)", at: p)
            }
        }
        guard let huf = huffman else { throw blockError(.badTable, "treeless literals without an earlier Huffman table in the frame", at: 0) }
        if streams == 1 {
            try decodeStream(huf, p..<end, into: 0, count: regen)
        } else {
            guard p + 6 <= end else { throw blockError(.badLength, "literal jump table past the end of the literals", at: p) }
            let s1 = Int(b[p]) | Int(b[p + 1]) << 8
            let s2 = Int(b[p + 2]) | Int(b[p + 3]) << 8
            let s3 = Int(b[p + 4]) | Int(b[p + 5]) << 8
            let q = p + 6
            guard q + s1 + s2 + s3 <= end else { throw blockError(.badLength, "literal streams of \(s1)+\(s2)+\(s3) bytes past the end of the literals", at: p) }
            let per = (regen + 3) / 4
            guard 3 * per <= regen else { throw blockError(.badLength, "\(regen) literals too few for four streams", at: 0) }
            let ranges = [q..<(q + s1), (q + s1)..<(q + s1 + s2), (q + s1 + s2)..<(q + s1 + s2 + s3), (q + s1 + s2 + s3)..<end]
            var rs: [BackwardBits] = []
            for range in ranges {
                do { rs.append(try BackwardBits(block, range)) } catch let e as EntropyError {
                    throw blockError(.badLength, "Huffman literal stream: \(e.detail)", at: range.lowerBound)
                }
            }
            let last = regen - 3 * per
            // The four streams in lockstep (independent chains the processor overlaps), then each one's rest.
            var (r0, r1, r2, r3) = (rs[0], rs[1], rs[2], rs[3])
            let done = ZstdStream.huffmanStreams4(&r0, &r1, &r2, &r3, huf.table.span, huf.maxBits,
                                                  into: &lits, per: per, count: min(per, last))
            rs = [r0, r1, r2, r3]
            for k in 0..<4 {
                let count = k == 3 ? last : per
                var r = rs[k]
                ZstdStream.huffmanStream(&r, huf.table.span, huf.maxBits, into: &lits, k * per + done, count: count - done)
                guard r.finishedExactly else {
                    throw blockError(.badCode, "Huffman literal stream \(k + 1) does not end where its \(count) literals do", at: ranges[k].lowerBound)
                }
            }
        }
        litCount = regen
        return end
    }

    mutating func decodeStream(_ huf: HuffmanLiterals, _ range: Range<Int>, into o: Int, count: Int) throws {
        var r: BackwardBits
        do { r = try BackwardBits(block, range) } catch let e as EntropyError {
            throw blockError(.badLength, "Huffman literal stream: \(e.detail)", at: range.lowerBound)
        }
        ZstdStream.huffmanStream(&r, huf.table.span, huf.maxBits, into: &lits, o, count: count)
        guard r.finishedExactly else {
            throw blockError(.badCode, "Huffman literal stream does not end where its \(count) literals do", at: range.lowerBound)
        }
    }

    /// Four literal streams at once: symbol `j` of stream `k` goes to `lits[k * per + j]`, for `j` up to
    /// about `count` (stops early when a stream runs low on bits); returns how many of each were decoded.
    static func huffmanStreams4(_ a: inout BackwardBits, _ b: inout BackwardBits, _ c: inout BackwardBits, _ d: inout BackwardBits,
                                _ table: Span<UInt16>, _ mb: Int, into lits: inout [UInt8], per: Int, count: Int) -> Int {
        var ra = a, rb = b, rc = c, rd = d   // local copies stay in registers
        defer { a = ra; b = rb; c = rc; d = rd }
        var out = lits.mutableSpan
        var i = 0
        let need = 4 * mb
        while count - i >= 4 {
            ra.refill(); rb.refill(); rc.refill(); rd.refill()
            if ra.count < need || rb.count < need || rc.count < need || rd.count < need { break }
            for k in 0..<4 {
                let ea = table[ra.peek(mb)], eb = table[rb.peek(mb)], ec = table[rc.peek(mb)], ed = table[rd.peek(mb)]
                ra.consume(Int(ea >> 8)); rb.consume(Int(eb >> 8)); rc.consume(Int(ec >> 8)); rd.consume(Int(ed >> 8))
                out[i + k] = UInt8(truncatingIfNeeded: ea)
                out[per + i + k] = UInt8(truncatingIfNeeded: eb)
                out[2 * per + i + k] = UInt8(truncatingIfNeeded: ec)
                out[3 * per + i + k] = UInt8(truncatingIfNeeded: ed)
            }
            i += 4
        }
        return i
    }

    /// The hot loop of literals: `count` symbols from `r` into `lits[o...]`.
    static func huffmanStream(_ reader: inout BackwardBits, _ table: Span<UInt16>, _ mb: Int, into lits: inout [UInt8], _ o: Int, count: Int) {
        var r = reader   // a local copy stays in registers
        defer { reader = r }
        var out = lits.mutableSpan
        var i = o
        let end = o + count
        // Four symbols of at most 11 bits per refill while the refill brings 57 bits or more.
        while end - i >= 4 {
            r.refill()
            if r.count < 4 * mb { break }
            var e = table[r.peek(mb)]
            out[i] = UInt8(truncatingIfNeeded: e)
            r.consume(Int(e >> 8))
            e = table[r.peek(mb)]
            out[i + 1] = UInt8(truncatingIfNeeded: e)
            r.consume(Int(e >> 8))
            e = table[r.peek(mb)]
            out[i + 2] = UInt8(truncatingIfNeeded: e)
            r.consume(Int(e >> 8))
            e = table[r.peek(mb)]
            out[i + 3] = UInt8(truncatingIfNeeded: e)
            r.consume(Int(e >> 8))
            i += 4
        }
        while i < end {
            if r.count < mb { r.refill() }
            let e = table[r.peek(mb)]
            out[i] = UInt8(truncatingIfNeeded: e)
            r.consume(Int(e >> 8))
            i += 1
        }
    }

    mutating func table(_ mode: Int, _ kind: SequenceTable.Kind, _ previous: SequenceTable?, at p: inout Int, end: Int) throws -> SequenceTable {
        let name = kind == .literalLength ? "literal length" : kind == .offset ? "offset" : "match length"
        switch mode {
        case 0:
            return kind == .literalLength ? SequenceTable.predefinedLL : kind == .offset ? SequenceTable.predefinedOF : SequenceTable.predefinedML
        case 1:
            guard p < end else { throw blockError(.badLength, "RLE \(name) symbol past the end of the block", at: p) }
            let s = Int(block[p])
            p += 1
            do { return try SequenceTable(rle: s, kind) } catch let e as EntropyError {
                throw blockError(.badTable, "\(name) table: \(e.detail)", at: p - 1)
            }
        case 2:
            do {
                let (probs, log, used) = try FSE.readCounts(block, at: p, end: end, maxSymbol: SequenceTable.maxSymbol[kind]!, maxLog: SequenceTable.maxLog[kind]!)
                let t = try SequenceTable(FSE.build(probs, log: log), kind)
                p += used
                return t
            } catch let e as EntropyError {
                throw blockError(.badTable, "\(name) table: \(e.detail)", at: p)
            }
        default:
            guard let previous else { throw blockError(.badTable, "repeat \(name) table without an earlier one in the frame", at: p) }
            return previous
        }
    }

    mutating func decodeSequences(at start: Int, end: Int) throws {
        var p = start
        guard p < end else { throw blockError(.badLength, "sequences section past the end of the block", at: p) }
        let b0 = Int(block[p])
        var nbSeq: Int
        if b0 < 128 {
            nbSeq = b0; p += 1
        } else if b0 < 255 {
            guard p + 2 <= end else { throw blockError(.badLength, "sequence count past the end of the block", at: p) }
            nbSeq = ((b0 - 128) << 8) + Int(block[p + 1]); p += 2
        } else {
            guard p + 3 <= end else { throw blockError(.badLength, "sequence count past the end of the block", at: p) }
            nbSeq = Int(block[p + 1]) + (Int(block[p + 2]) << 8) + 0x7F00; p += 3
        }
        var op = outPos
        let limit = outPos + blockMax
        if nbSeq == 0 {
            guard p == end else { throw blockError(.badLength, "\(end - p) bytes after a sequences section with no sequences", at: p) }
        } else {
            guard p < end else { throw blockError(.badLength, "symbol compression modes past the end of the block", at: p) }
            let modes = Int(block[p])
            guard modes & 3 == 0 else { throw blockError(.badHeader, "symbol compression modes 0x\(String(modes, radix: 16)) set reserved bits", at: p) }
            p += 1
            statistics.tableModes[0][modes >> 6] += 1
            statistics.tableModes[1][(modes >> 4) & 3] += 1
            statistics.tableModes[2][(modes >> 2) & 3] += 1
            let ll = try table(modes >> 6, .literalLength, llTable, at: &p, end: end)
            let of = try table((modes >> 4) & 3, .offset, ofTable, at: &p, end: end)
            let ml = try table((modes >> 2) & 3, .matchLength, mlTable, at: &p, end: end)
            llTable = ll; ofTable = of; mlTable = ml
            var r: BackwardBits
            do { r = try BackwardBits(block, p..<end) } catch let e as EntropyError {
                throw blockError(.badLength, "sequence bit stream: \(e.detail)", at: p)
            }
            var st = SequenceState(rep0: rep0, rep1: rep1, rep2: rep2, op: outPos)
            let fault = ZstdStream.executeSequences(&r, ll, of, ml, count: nbSeq, state: &st, out: &buf, lits: lits,
                                                    litCount: litCount, historyStart: frameStart, window: window, limit: limit)
            rep0 = st.rep0; rep1 = st.rep1; rep2 = st.rep2
            statistics.repeatOffsets += st.repeats
            statistics.newOffsets += st.sequences - st.repeats
            if let fault {
                switch fault {
                case .pastLiterals(let i, let litLen, let matchLen):
                    throw blockError(.badLength, "sequence \(i) (\(litLen) literals, match of \(matchLen)) runs past the literals or the block maximum", at: start)
                case .badOffset(let i, let offset, let history):
                    throw blockError(.badDistance, "sequence \(i) has offset \(offset) with \(history) bytes of history (window \(window))", at: start)
                }
            }
            guard r.finishedExactly else {
                throw blockError(.badCode, "sequence bit stream does not end with its \(nbSeq) sequences", at: p)
            }
            let rest = litCount - st.lp
            guard rest <= limit - st.op else { throw blockError(.badLength, "literals run past the block maximum", at: start) }
            copyBytes(&buf, at: st.op, from: lits, st.lp, count: rest)
            outPos = st.op + rest
            return
        }
        guard litCount <= limit - op else { throw blockError(.badLength, "literals run past the block maximum", at: start) }
        copyBytes(&buf, at: op, from: lits, 0, count: litCount)
        op += litCount
        outPos = op
    }

    /// Where sequence execution stands: repeat offsets, output and literal positions, counts.
    struct SequenceState {
        var rep0: Int, rep1: Int, rep2: Int
        var op: Int
        var lp = 0
        var repeats = 0
        var sequences = 0
    }

    enum SequenceFault {
        case pastLiterals(Int, Int, Int)
        case badOffset(Int, Int, Int)
    }

    /// The hot loop of a block: decode `count` sequences from `r` and execute each (literals from
    /// `lits`, then the match from the output itself) into `out`, writing at most `limit` + 15.
    /// Copies go 8 bytes at a time; the output keeps `slack` bytes past `limit` for the overshoot.
    static func executeSequences(_ reader: inout BackwardBits, _ ll: SequenceTable, _ of: SequenceTable, _ ml: SequenceTable,
                                 count nbSeq: Int, state st: inout SequenceState, out buf: inout [UInt8], lits litArray: [UInt8],
                                 litCount lc: Int, historyStart hs: Int, window win: Int, limit: Int) -> SequenceFault? {
        let llE = ll.entries.span, ofE = of.entries.span, mlE = ml.entries.span
        let lit = litArray.span
        var r = reader   // a local copy stays in registers
        defer { reader = r }
        var llS = r.read(ll.log)
        var ofS = r.read(of.log)
        var mlS = r.read(ml.log)
        r.refill()
        var out = buf.mutableSpan
        var op = st.op, lp = st.lp
        var r0 = st.rep0, r1 = st.rep1, r2 = st.rep2
        var repeats = 0
        var fault: SequenceFault? = nil
        var i = 0
        while i < nbSeq {
            let oe = ofE[ofS], me = mlE[mlS], le = llE[llS]
            // Table values are below 2^32 and reads below 2^31: the sums cannot overflow.
            let ofCode = Int((oe >> 24) & 0xFF)
            let offVal = Int(oe >> 32) &+ r.read(ofCode)
            if ofCode > 24 { r.refill() }
            let matchLen = Int(me >> 32) &+ r.read(Int((me >> 24) & 0xFF))
            let litLen = Int(le >> 32) &+ r.read(Int((le >> 24) & 0xFF))
            if r.count < 26 { r.refill() }   // the next three states take at most 9 + 9 + 8 bits
            var offset: Int
            if offVal > 3 {
                offset = offVal - 3
                r2 = r1; r1 = r0; r0 = offset
            } else {
                repeats += 1
                switch offVal + (litLen == 0 ? 1 : 0) {
                case 1: offset = r0
                case 2: offset = r1; r1 = r0; r0 = offset
                case 3: offset = r2; r2 = r1; r1 = r0; r0 = offset
                default:
                    offset = r0 - 1
                    r2 = r1; r1 = r0; r0 = offset
                }
            }
            if i &+ 1 < nbSeq {
                llS = Int(le & 0xFFFF) &+ r.read(Int((le >> 16) & 0xFF))
                mlS = Int(me & 0xFFFF) &+ r.read(Int((me >> 16) & 0xFF))
                ofS = Int(oe & 0xFFFF) &+ r.read(Int((oe >> 16) & 0xFF))
                r.refill()
            }
            // Execute: literals, then the match.
            guard litLen <= lc - lp, matchLen <= limit - op - litLen else {
                fault = .pastLiterals(i, litLen, matchLen)
                break
            }
            // Literals: 8 at a time (`lits` has 64 bytes of slack past the block maximum).
            storeLE64(&out, op, loadLE64(lit, lp))
            if litLen > 8 {
                storeLE64(&out, op + 8, loadLE64(lit, lp + 8))
                var k = 16
                while k < litLen {
                    storeLE64(&out, op + k, loadLE64(lit, lp + k))
                    k += 8
                }
            }
            op &+= litLen
            lp &+= litLen
            guard offset > 0, offset <= op - hs, offset <= win else {
                fault = .badOffset(i, offset, op - hs)
                break
            }
            var s = op &- offset
            let e = op &+ matchLen
            if offset >= 16 {
                // Each source chunk ends at or before the chunk being written: chunk copies are exact.
                while op < e {
                    storeLE64(&out, op, loadLE64(out.span, s))
                    storeLE64(&out, op &+ 8, loadLE64(out.span, s &+ 8))
                    op &+= 16
                    s &+= 16
                }
                op = e
            } else if offset >= 8 {
                while op < e {
                    storeLE64(&out, op, loadLE64(out.span, s))
                    op &+= 8
                    s &+= 8
                }
                op = e
            } else if offset == 1 && matchLen >= 16 {
                let v = out[op - 1]
                var run = out.extracting(op..<e)
                run.update(repeating: v)
                op = e
            } else {
                // A short period: the first 8 bytes one by one, then 8 at a time from the same phase of
                // the pattern a multiple of `offset` (8...14) back, where the bytes are final.
                let first = min(e, op &+ 8)
                while op < first { out[op] = out[s]; op &+= 1; s &+= 1 }
                if op < e {
                    s = op &- offset &* ((8 &+ offset &- 1) / offset)
                    while op < e {
                        storeLE64(&out, op, loadLE64(out.span, s))
                        op &+= 8
                        s &+= 8
                    }
                    op = e
                }
            }
            i &+= 1
        }
        st.op = op; st.lp = lp
        st.rep0 = r0; st.rep1 = r1; st.rep2 = r2
        st.repeats = repeats
        st.sequences = i
        return fault
    }

}

/// Copy `count` bytes of `src` from `from` into `dst` at `at`, 8 at a time while 8 remain.
func copyBytes(_ dst: inout [UInt8], at: Int, from src: [UInt8], _ from: Int, count: Int) {
    var o = dst.mutableSpan
    let s = src.span
    var k = 0
    while count - k >= 8 {
        storeLE64(&o, at + k, loadLE64(s, from + k))
        k += 8
    }
    while k < count { o[at + k] = s[from + k]; k += 1 }
}

/// Set `count` bytes of `dst` from `at` on to `value`.
func fillBytes(_ dst: inout [UInt8], at: Int, count: Int, with value: UInt8) {
    var o = dst.mutableSpan
    var part = o.extracting(at..<(at + count))
    part.update(repeating: value)
}

/// Move `buf[from..<(from + count)]` to the front of `buf` (front to back, 8 bytes at a time: each
/// chunk is loaded before it is stored, so overlapping ranges move correctly).
func moveDown(_ buf: inout [UInt8], from: Int, count: Int) {
    var o = buf.mutableSpan
    var k = 0
    while count - k >= 8 {
        storeLE64(&o, k, loadLE64(o.span, from + k))
        k += 8
    }
    while k < count { o[k] = o[from + k]; k += 1 }
}
