/// CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320) as gzip uses it, slicing by 8 bytes.
public struct CRC32: Sendable {
    /// The running value (pre- and post-inverted as gzip stores it).
    public private(set) var value: UInt32 = 0

    public init(value: UInt32 = 0) { self.value = value }

    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xFF)] }
        }
        return t
    }()

    public mutating func update(_ bytes: [UInt8], _ range: Range<Int>) {
        let t = CRC32.tables
        var c = ~value
        var i = range.lowerBound
        let end = range.upperBound
        while end - i >= 8 {
            let lo = c ^ (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
            let hi = UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 24
            c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
            i += 8
        }
        while i < end {
            c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
            i += 1
        }
        value = ~c
    }

    public mutating func update(_ bytes: [UInt8]) { update(bytes, 0..<bytes.count) }
}

/// XXH64 (seed 0 by default), streaming: zstd's content checksum is its low 32 bits.
public struct XXH64: Sendable {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    var v1, v2, v3, v4: UInt64
    let seed: UInt64
    var total: UInt64 = 0
    var tail: [UInt8] = []  // < 32 bytes not yet in a stripe

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ XXH64.p1 &+ XXH64.p2
        v2 = seed &+ XXH64.p2
        v3 = seed
        v4 = seed &- XXH64.p1
        tail.reserveCapacity(32)
    }

    @inline(__always) static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }
    @inline(__always) static func load64(_ b: [UInt8], _ i: Int) -> UInt64 {
        UInt64(b[i]) | UInt64(b[i + 1]) << 8 | UInt64(b[i + 2]) << 16 | UInt64(b[i + 3]) << 24
            | UInt64(b[i + 4]) << 32 | UInt64(b[i + 5]) << 40 | UInt64(b[i + 6]) << 48 | UInt64(b[i + 7]) << 56
    }

    public mutating func update(_ bytes: [UInt8], _ range: Range<Int>) {
        total &+= UInt64(range.count)
        var i = range.lowerBound
        let end = range.upperBound
        if !tail.isEmpty {
            while tail.count < 32 && i < end { tail.append(bytes[i]); i += 1 }
            if tail.count < 32 { return }
            stripe(tail, 0)
            tail.removeAll(keepingCapacity: true)
        }
        var a = v1, b = v2, c = v3, d = v4
        let sp = bytes.span
        while end - i >= 32 {
            a = XXH64.round(a, loadLE64(sp, i))
            b = XXH64.round(b, loadLE64(sp, i + 8))
            c = XXH64.round(c, loadLE64(sp, i + 16))
            d = XXH64.round(d, loadLE64(sp, i + 24))
            i += 32
        }
        v1 = a; v2 = b; v3 = c; v4 = d
        if i < end { tail.append(contentsOf: bytes[i..<end]) }
    }

    public mutating func update(_ bytes: [UInt8]) { update(bytes, 0..<bytes.count) }

    mutating func stripe(_ b: [UInt8], _ i: Int) {
        v1 = XXH64.round(v1, XXH64.load64(b, i))
        v2 = XXH64.round(v2, XXH64.load64(b, i + 8))
        v3 = XXH64.round(v3, XXH64.load64(b, i + 16))
        v4 = XXH64.round(v4, XXH64.load64(b, i + 24))
    }

    public var digest: UInt64 {
        typealias X = XXH64
        var h: UInt64
        if total >= 32 {
            h = X.rotl(v1, 1) &+ X.rotl(v2, 7) &+ X.rotl(v3, 12) &+ X.rotl(v4, 18)
            for v in [v1, v2, v3, v4] {
                h ^= X.round(0, v)
                h = h &* X.p1 &+ X.p4
            }
        } else {
            h = seed &+ X.p5
        }
        h &+= total
        var i = 0
        let n = tail.count
        while n - i >= 8 {
            h ^= X.round(0, X.load64(tail, i))
            h = X.rotl(h, 27) &* X.p1 &+ X.p4
            i += 8
        }
        if n - i >= 4 {
            let k = UInt64(tail[i]) | UInt64(tail[i + 1]) << 8 | UInt64(tail[i + 2]) << 16 | UInt64(tail[i + 3]) << 24
            h ^= k &* X.p1
            h = X.rotl(h, 23) &* X.p2 &+ X.p3
            i += 4
        }
        while i < n {
            h ^= UInt64(tail[i]) &* X.p5
            h = X.rotl(h, 11) &* X.p1
            i += 1
        }
        h ^= h >> 33
        h &*= X.p2
        h ^= h >> 29
        h &*= X.p3
        h ^= h >> 32
        return h
    }
}
