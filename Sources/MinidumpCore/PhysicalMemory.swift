import MappedBytes

/// The physical memory a dump can describe: the dump_avail ranges (amd64 v3, arm64 v2+) or the
/// single range implied by the bitmap (earlier versions), and the mapping between physical pages
/// and bitmap bits. Pages are the dump's page size (`pageShift`): 4 KiB, or 16 KiB on arm64.

/// One dump_avail range and the bitmap bits it owns.
public struct PhysicalRange: Sendable, Equatable, CustomStringConvertible {
    /// First byte of the range.
    public let start: PhysicalAddress
    /// End of the range (exclusive).
    public let end: PhysicalAddress
    /// Bitmap bit of the range's first page.
    public let firstBit: UInt64
    /// Number of pages (bits) the range covers: ceil(end/ps) - floor(start/ps), ps the dump's page size.
    public let pageCount: UInt64

    /// `[start, end) bits first..<first+count`.
    public var description: String { "[\(start), \(end)) bits \(firstBit)..<\(firstBit + pageCount)" }
}

/// The ordered, validated list of physical ranges, and bit-index arithmetic over it.
struct PhysicalMemory: Sendable {
    /// The ranges in ascending order, non-overlapping.
    let ranges: [PhysicalRange]
    /// Total bits described by the ranges.
    let totalBits: UInt64
    /// True when the bit index is simply pa / page size (one range starting at 0).
    private let identity: Bool
    /// log2 of the dump's page size: one bit per page of this size.
    let pageShift: UInt64
    /// Mask of the offset bits inside one page.
    private var pageMask: UInt64 { (1 << pageShift) &- 1 }
    /// True when the ranges come from a dump_avail section (v3), false when the bitmap implies them.
    var hasDumpAvail: Bool { !identity }

    /// The single range implied by a bitmap without dump_avail: bit n is physical page n. The
    /// range's end is capped at 2^64 - 1 (a 4 GiB bitmap of 16 KiB pages describes 2^49 bytes).
    init(impliedBy bitmapBits: UInt64, pageShift: UInt64) {
        let (end, overflow) = bitmapBits.multipliedReportingOverflow(by: 1 << pageShift)
        ranges = [PhysicalRange(start: PhysicalAddress(0), end: PhysicalAddress(overflow ? .max : end),
                                firstBit: 0, pageCount: bitmapBits)]
        totalBits = bitmapBits
        identity = true
        self.pageShift = pageShift
    }

    /// Parses the v3 dump_avail section: u64 pairs `[start, end)` ending with a pair whose end is 0.
    /// - Throws: unterminated list, empty/reversed or overlapping range, no memory, or more pages
    ///   than the bitmap has bits.
    init(dumpAvail view: ByteView, bitmapBits: UInt64, pageShift: UInt64) throws(DumpError.Problem) {
        self.pageShift = pageShift
        let pageMask = (UInt64(1) << pageShift) &- 1
        let pairs = view.count / 16
        var ranges: [PhysicalRange] = []
        var bits: UInt64 = 0
        var terminated = false
        for index in 0..<pairs {
            guard let start = view.uint64(at: UInt64(index) * 16),
                  let end = view.uint64(at: UInt64(index) * 16 + 8) else { break }
            if end == 0 {
                terminated = true
                break
            }
            guard start < end else { throw .dumpAvailEmptyRange(index: index, start: start, end: end) }
            if let previous = ranges.last, start < previous.end.rawValue {
                throw .dumpAvailOverlap(index: index, start: start, previousEnd: previous.end.rawValue)
            }
            let count = (end >> pageShift) + (end & pageMask == 0 ? 0 : 1) - (start >> pageShift)
            ranges.append(PhysicalRange(start: PhysicalAddress(start), end: PhysicalAddress(end),
                                        firstBit: bits, pageCount: count))
            bits += count
            guard bits <= bitmapBits else { throw .dumpAvailExceedsBitmap(pages: bits, bitmapBits: bitmapBits) }
        }
        guard terminated else { throw .dumpAvailUnterminated(pairs: pairs) }
        guard !ranges.isEmpty else { throw .dumpAvailEmpty }
        self.ranges = ranges
        totalBits = bits
        identity = false
    }

    /// Total bytes of physical memory the ranges cover.
    var coveredBytes: UInt64 { ranges.reduce(0) { $0 + ($1.end.rawValue - $1.start.rawValue) } }

    /// The bitmap bit of the page holding `pa`, or nil if `pa` is in no range.
    @inline(__always)
    func bit(for pa: PhysicalAddress) -> UInt64? {
        if identity {
            let bit = pa.rawValue >> pageShift
            return bit < totalBits ? bit : nil
        }
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low &+ high) >> 1  // both < ranges.count
            if ranges[mid].end.rawValue <= pa.rawValue { low = mid + 1 } else { high = mid }
        }
        guard low < ranges.count, ranges[low].start.rawValue <= pa.rawValue else { return nil }
        let range = ranges[low]
        return range.firstBit + (pa.rawValue >> pageShift) - (range.start.rawValue >> pageShift)
    }

    /// Calls `body` with the bitmap bits of the pages in `[pa, pa + length)` that lie in a
    /// range (the pages `bit(for:)` gives a bit for), as ascending runs of consecutive bits.
    func forEachBitRun(from pa: PhysicalAddress, length: UInt64, _ body: (Range<UInt64>) -> Void) {
        let first = pa.rawValue >> pageShift
        let (end, overflow) = pa.rawValue.addingReportingOverflow(length)
        let last = overflow ? UInt64.max >> pageShift : end >> pageShift
        if identity {
            if first < min(last, totalBits) { body(first..<min(last, totalBits)) }
            return
        }
        for range in ranges {
            let startPage = range.start.rawValue >> pageShift
            let low = max(first, startPage + (range.start.rawValue & pageMask == 0 ? 0 : 1))
            let high = min(last, startPage + range.pageCount)
            if low < high { body((range.firstBit + low - startPage)..<(range.firstBit + high - startPage)) }
        }
    }

    /// The physical page of bitmap bit `bit`, or nil if the bit is past every range.
    func physicalAddress(ofBit bit: UInt64) -> PhysicalAddress? {
        if identity { return bit < totalBits ? PhysicalAddress(bit << pageShift) : nil }
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low &+ high) >> 1  // both < ranges.count
            if ranges[mid].firstBit + ranges[mid].pageCount <= bit { low = mid + 1 } else { high = mid }
        }
        guard low < ranges.count else { return nil }
        let range = ranges[low]
        return PhysicalAddress(((range.start.rawValue >> pageShift) + bit - range.firstBit) << pageShift)
    }
}
