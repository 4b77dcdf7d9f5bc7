import Testing
import VMCoreBuilder
@testable import Decompress

@Suite struct ChecksumTests {
    @Test func crc32KnownValues() {
        var c = CRC32()
        c.update(Array("123456789".utf8))
        #expect(c.value == 0xCBF4_3926)
        var e = CRC32()
        e.update([])
        #expect(e.value == 0)
    }

    @Test func xxh64KnownValues() {
        #expect(XXH64().digest == 0xEF46_DB37_51D8_E999)
        // Streaming in pieces equals one update.
        let data = Inputs.random(1000, seed: 3)
        var whole = XXH64()
        whole.update(data)
        var parts = XXH64()
        var i = 0
        for step in [1, 7, 31, 32, 33, 100, 5] + Array(repeating: 64, count: 20) where i < data.count {
            let e = min(data.count, i + step)
            parts.update(data, i..<e)
            i = e
        }
        parts.update(data, i..<data.count)
        #expect(whole.digest == parts.digest)
    }
}

@Suite struct InflateTests {
    static let inputs: [(String, [UInt8])] = [
        ("empty", []), ("one byte", [42]), ("dump", Inputs.dump),
        ("random", Inputs.random(300_000, seed: 1)), ("structured", Inputs.structured(2_000_000, seed: 2)),
        ("zeros", [UInt8](repeating: 0, count: 1_000_000)),
    ]

    @Test(arguments: ["-1", "-6", "-9"])
    func matchesGzip(level: String) throws {
        for (name, data) in InflateTests.inputs {
            let gz = try Tool.run(Tool.gzip, [level, "-c", "-n"], input: data)
            let out = try gunzip(gz)
            #expect(out == data, "gzip \(level) of \(name): \(out.count) bytes decoded, \(data.count) expected")
        }
    }

    @Test func smallChunksOfInputAndOutput() throws {
        let data = Inputs.structured(300_000, seed: 5)
        let gz = try Tool.run(Tool.gzip, ["-6", "-c"], input: data)
        #expect(try gunzip(gz, step: 1, chunk: 7) == data)
        #expect(try gunzip(gz, step: 4093, chunk: 65536) == data)
    }

    @Test func headerFlagsNameCommentExtraAndHeaderCRC() throws {
        // FTEXT|FHCRC|FEXTRA|FNAME|FCOMMENT, then a stored block holding "hello".
        var h: [UInt8] = [0x1f, 0x8b, 8, 0x1f, 1, 2, 3, 4, 0, 3]
        h += [3, 0, 0xAA, 0xBB, 0xCC]
        h += Array("name.txt".utf8) + [0]
        h += Array("a comment".utf8) + [0]
        var hc = CRC32()
        hc.update(h)
        h += [UInt8(hc.value & 0xFF), UInt8((hc.value >> 8) & 0xFF)]
        let body = Array("hello".utf8)
        h += [1, 5, 0, 0xFA, 0xFF] + body
        var c = CRC32()
        c.update(body)
        for k in 0..<4 { h.append(UInt8((c.value >> (8 * UInt32(k))) & 0xFF)) }
        h += [5, 0, 0, 0]
        #expect(try gunzip(h) == body)
        // A wrong header CRC is named.
        var bad = h
        bad[32] ^= 1
        #expect(throws: DecompressError.self) { try gunzip(bad) }
        do { _ = try gunzip(bad) } catch let e as DecompressError { #expect(e.kind == .badChecksum) }
    }

    @Test func concatenatedMembers() throws {
        let a = Inputs.random(1000, seed: 9), b = Inputs.structured(50_000, seed: 10)
        let gz = try Tool.run(Tool.gzip, ["-c"], input: a) + Tool.run(Tool.gzip, ["-9", "-c"], input: b)
        #expect(try gunzip(gz) == a + b)
    }

    @Test func rawDeflateFixedAndStoredBlocks() throws {
        // Fixed block: "a" literal (0x61 -> code 0x30+0x61 8 bits), end of block; final.
        // Built by hand: BFINAL=1 BTYPE=01, literal 'a' = 10010001, EOB = 0000000.
        var w = BitWriter()
        w.put(1, 1); w.put(1, 2)
        w.putCode(0x30 + 0x61, 8)
        // length 3 distance 1 ("aaa"): length code 257 = 0000001 (7 bits), distance code 0 = 00000.
        w.putCode(1, 7); w.putCode(0, 5)
        w.putCode(0, 7)
        var s = InflateStream(source: ArraySource(w.bytes), format: .deflate)
        #expect(try s.readAll() == Array("aaaa".utf8))
        // Stored block with LEN/NLEN mismatch.
        var bad = InflateStream(source: ArraySource([1, 5, 0, 0xFB, 0xFF, 1, 2, 3, 4, 5]), format: .deflate)
        do { _ = try bad.readAll(); Issue.record("no error") } catch let e as DecompressError {
            #expect(e.kind == .badBlock)
            #expect(e.offset == 1)
        }
    }

    @Test func hostileDeflate() throws {
        // Distance before the start of output.
        var w = BitWriter()
        w.put(1, 1); w.put(1, 2)
        w.putCode(1, 7); w.putCode(0, 5)
        w.putCode(0, 7)
        var s = InflateStream(source: ArraySource(w.bytes), format: .deflate)
        do { _ = try s.readAll(); Issue.record("no error") } catch let e as DecompressError { #expect(e.kind == .badDistance) }
        // Reserved block type.
        var r = InflateStream(source: ArraySource([0x07]), format: .deflate)
        do { _ = try r.readAll(); Issue.record("no error") } catch let e as DecompressError { #expect(e.kind == .badBlock) }
        // Empty input.
        var e0 = InflateStream(source: ArraySource([]), format: .gzip)
        do { _ = try e0.readAll(); Issue.record("no error") } catch let e as DecompressError { #expect(e.kind == .truncated) }
    }

    @Test func truncatedAndCorruptedGzipGiveErrors() throws {
        let data = Inputs.structured(200_000, seed: 11)
        let gz = try Tool.run(Tool.gzip, ["-6", "-c"], input: data)
        for cut in [1, 5, 10, 11, 100, gz.count / 2, gz.count - 9, gz.count - 8, gz.count - 4, gz.count - 1] {
            do { _ = try gunzip(Array(gz.prefix(cut))); Issue.record("no error at cut \(cut)") } catch let e as DecompressError {
                #expect(e.kind == .truncated || e.kind == .badChecksum || e.kind == .badLength, "cut \(cut): \(e)")
            }
        }
        var rng = SplitMix64Local(seed: 99)
        var errors = 0
        for _ in 0..<200 {
            var c = gz
            let i = 10 + Int(rng.next() % UInt64(gz.count - 10))
            c[i] ^= UInt8(1 << (rng.next() % 8))
            do { if try gunzip(c) != data { Issue.record("corruption at \(i) decoded to different bytes without an error") } } catch is DecompressError { errors += 1 }
        }
        #expect(errors == 200)
        // Trailing garbage.
        do { _ = try gunzip(gz + [1, 2, 3]); Issue.record("no error") } catch let e as DecompressError { #expect(e.kind == .trailingData) }
    }

    @Test func checkpointsResume() throws {
        let data = Inputs.structured(3_000_000, seed: 12) + Inputs.dump
        let gz = try Tool.run(Tool.gzip, ["-6", "-c"], input: data)
        var s = InflateStream(source: ArraySource(gz), format: .gzip, checkpointInterval: 256 * 1024)
        var out: [UInt8] = []
        while try s.read(into: &out, maxCount: 100_000) > 0 {}
        #expect(out == data)
        #expect(s.checkpoints.count >= 8)
        for cp in s.checkpoints {
            #expect(cp.window.count == 32768)
            #expect(Array(data[Int(cp.outputOffset) - 32768..<Int(cp.outputOffset)]) == cp.window)
            var r = try InflateStream(source: ArraySource(gz, from: Int(cp.inputByteOffset)), resumingAt: cp)
            var tail: [UInt8] = []
            while try r.read(into: &tail, maxCount: 65536) > 0 {}
            #expect(tail == Array(data[Int(cp.outputOffset)...]), "resume at \(cp.outputOffset)")
        }
    }
}

struct SplitMix64Local {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// LSB-first bit writer for hand-made deflate streams; `putCode` writes a Huffman code MSB first.
struct BitWriter {
    var bits: [UInt8] = []
    mutating func put(_ v: UInt32, _ n: Int) {
        for k in 0..<n { bits.append(UInt8((v >> UInt32(k)) & 1)) }
    }
    mutating func putCode(_ code: UInt32, _ n: Int) {
        for k in stride(from: n - 1, through: 0, by: -1) { bits.append(UInt8((code >> UInt32(k)) & 1)) }
    }
    var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (i, b) in bits.enumerated() { out[i / 8] |= b << UInt8(i % 8) }
        return out
    }
}

@Suite struct TruncatedPrefixTests {
    /// A cut stream hands out what was decoded before the cut (a truncated dump stays usable), then the error.
    @Test func cutStreamsGiveTheirDecodedPrefix() throws {
        let data = dumpLikePages(count: 2000, seed: 41)
        let gz = try Tool.run(Tool.gzip, ["-6", "-c"], input: data)
        let z = try Tool.run(Tool.zstd, ["-6", "-c", "-q"], input: data)
        for (name, stream) in [("gzip", gz), ("zstd", z)] {
            let cut = Array(stream.prefix(stream.count / 2))
            var out: [UInt8] = []
            var error: DecompressError? = nil
            if name == "gzip" {
                var s = InflateStream(source: ArraySource(cut))
                do { while try s.read(into: &out, maxCount: 1 << 16) > 0 {} } catch let e as DecompressError { error = e }
            } else {
                var s = ZstdStream(source: ArraySource(cut))
                do { while try s.read(into: &out, maxCount: 1 << 16) > 0 {} } catch let e as DecompressError { error = e }
            }
            #expect(error?.kind == .truncated, "\(name): \(String(describing: error))")
            #expect(out == Array(data.prefix(out.count)), "\(name): the prefix handed out differs from the data")
            #expect(out.count > data.count / 3, "\(name): only \(out.count) of \(data.count) bytes before the cut at half")
            #expect(error.map { $0.offset <= UInt64(cut.count) } ?? false)
        }
    }
}
