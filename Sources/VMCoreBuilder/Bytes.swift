/// SplitMix64: a tiny generator whose sequence never changes across toolchains, so fixtures never drift.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The internal state; advances by the golden-ratio constant on every draw.
    public var state: UInt64

    /// Creates a generator fully determined by `seed`.
    public init(seed: UInt64) { state = seed }

    /// Returns the next 64-bit value.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Returns a value in `0..<bound` by multiply-shift (stable, unlike the standard library's range sampling); `bound` > 0.
    public mutating func next(below bound: UInt64) -> UInt64 {
        bound.multipliedFullWidth(by: next()).high
    }
}

/// The expected byte at `offset` (0..<4096) of the stamped data page at physical address `pa`.
///
/// Bytes 0..<8 hold the page's physical address (little-endian) so a hex dump names the page;
/// the rest is a hash of the byte's own physical address, so reading a neighbouring page or a
/// shifted offset is detected.
public func pageStamp(physicalAddress pa: UInt64, offset: Int) -> UInt8 {
    let page = pa & ~0xfff
    if offset < 8 { return UInt8(truncatingIfNeeded: page >> (UInt64(offset) * 8)) }
    var x = (page | UInt64(offset & 0xfff)) &* 0x9E37_79B9_7F4A_7C15
    x ^= x >> 29
    x &*= 0xBF58_476D_1CE4_E5B9
    x ^= x >> 32
    return UInt8(truncatingIfNeeded: x)
}

/// Writes the stamp of page `pa` into `buffer[start ..< start + 4096]`.
func fillStamp(_ buffer: inout [UInt8], at start: Int, page pa: UInt64) {
    buffer.withUnsafeMutableBufferPointer { b in
        for i in 0..<4096 { b[start + i] = pageStamp(physicalAddress: pa, offset: i) }
    }
}

/// Stores `value` little-endian at `bytes[offset ..< offset + 4]`.
public func setU32LE(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32) {
    for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
}

/// Stores `value` little-endian at `bytes[offset ..< offset + 8]`.
public func setU64LE(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64) {
    for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
}

/// Reads a little-endian u32 at `bytes[offset ..< offset + 4]`.
public func getU32LE(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
}

/// Reads a little-endian u64 at `bytes[offset ..< offset + 8]`.
public func getU64LE(_ bytes: [UInt8], at offset: Int) -> UInt64 {
    (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
}

/// `x` rounded up to a multiple of 4096.
@inline(__always) func roundPage(_ x: UInt64) -> UInt64 { (x + 0xfff) & ~0xfff }

/// Lower-case hexadecimal with a `0x` prefix.
func hex(_ x: UInt64) -> String { "0x" + String(x, radix: 16) }

/// Bytes of `words`, little-endian.
func littleEndianBytes(_ words: ArraySlice<UInt64>) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: words.count * 8)
    for (i, w) in words.enumerated() { setU64LE(&out, at: i * 8, w) }
    return out
}
