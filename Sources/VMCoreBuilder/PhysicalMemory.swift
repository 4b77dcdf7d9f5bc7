/// Maps physical pages to bitmap bit numbers the way the writer of a given version does (spec §2.5).
struct PhysicalIndex: Sendable {
    /// dump_avail ranges (the dumpable RAM).
    let ranges: [Range<UInt64>]
    /// v3: first bit of each range; v1/v2: the range's first page number.
    let firstBits: [UInt64]
    /// Number of bit positions described (v3: Σ pages of ranges; v1/v2: maxpa / 4096).
    let totalBits: UInt64
    /// Header `bitmapsize`: bytes, already page rounded.
    let bitmapSize: UInt64

    init(ranges: [Range<UInt64>], version: UInt32) {
        self.ranges = ranges
        if version == 3 {
            var bases: [UInt64] = []
            var next: UInt64 = 0
            for r in ranges {
                bases.append(next)
                next += (r.upperBound - r.lowerBound) >> 12
            }
            firstBits = bases
            totalBits = next
            bitmapSize = roundPage((next + 63) / 64 * 8)
        } else {
            firstBits = ranges.map { $0.lowerBound >> 12 }
            totalBits = (ranges.last?.upperBound ?? 0) >> 12
            bitmapSize = roundPage((totalBits + 7) / 8)
        }
    }

    /// Index of the range holding `pa`, or nil if `pa` is in a hole.
    func rangeIndex(of pa: UInt64) -> Int? {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound <= pa { lo = mid + 1 } else { hi = mid }
        }
        return lo < ranges.count && ranges[lo].contains(pa) ? lo : nil
    }

    /// Bit number of the page holding `pa`, or nil if `pa` is not dumpable RAM.
    func bit(of pa: UInt64) -> UInt64? {
        guard let k = rangeIndex(of: pa) else { return nil }
        return firstBits[k] + (pa - ranges[k].lowerBound) >> 12
    }

    /// Physical address of bit `n` (which must belong to a range).
    func physicalAddress(ofBit n: UInt64) -> UInt64 {
        var lo = 0, hi = firstBits.count
        while lo + 1 < hi {
            let mid = (lo + hi) / 2
            if firstBits[mid] <= n { lo = mid } else { hi = mid }
        }
        return ranges[lo].lowerBound + (n - firstBits[lo]) << 12
    }
}

/// The page bitmap under construction, doubling as the allocator's "in use" map: every page that
/// receives content is dumped, and random placement only takes pages whose bit is still clear.
struct PhysicalMemory {
    let index: PhysicalIndex
    var words: [UInt64]
    var rng: SplitMix64
    /// Per block size: the aligned blocks available in each range, cached for repeated allocation.
    private var blockCache: [UInt64: (blocks: [(first: UInt64, count: UInt64)], total: UInt64)] = [:]

    init(index: PhysicalIndex, seed: UInt64) {
        self.index = index
        words = [UInt64](repeating: 0, count: Int(index.bitmapSize / 8))
        rng = SplitMix64(seed: seed)
    }

    func test(_ n: UInt64) -> Bool { words[Int(n >> 6)] & (1 << (n & 63)) != 0 }

    mutating func set(_ n: UInt64) { words[Int(n >> 6)] |= 1 << (n & 63) }

    /// Marks every dumpable page of `[pa, pa + size)` as dumped; pages in holes are skipped.
    mutating func markDumped(_ pa: UInt64, size: UInt64) {
        let end = pa + size
        for r in index.ranges where r.lowerBound < end && pa < r.upperBound {
            let lo = max(pa & ~0xfff, r.lowerBound), hi = min(end, r.upperBound)
            var n = index.bit(of: lo)!
            var p = lo
            while p < hi {
                set(n)
                n += 1
                p += 0x1000
            }
        }
    }

    /// Whether `[pa, pa + size)` lies in one range and none of its pages is taken.
    func isFree(_ pa: UInt64, size: UInt64) -> Bool {
        guard let k = index.rangeIndex(of: pa), pa + size <= index.ranges[k].upperBound else { return false }
        let first = index.bit(of: pa)!
        for n in first..<(first + size >> 12) where test(n) { return false }
        return true
    }

    /// Takes a random free, `size`-aligned block of `size` bytes of RAM and marks it dumped.
    mutating func allocate(size: UInt64, what: @autoclosure () -> String) throws(GeneratorError) -> UInt64 {
        if blockCache[size] == nil {
            var blocks: [(first: UInt64, count: UInt64)] = []
            for r in index.ranges {
                let first = (r.lowerBound + size - 1) / size * size
                let last = r.upperBound / size * size
                if last > first { blocks.append((first, (last - first) / size)) }
            }
            blockCache[size] = (blocks, blocks.reduce(0) { $0 + $1.count })
        }
        let (blocks, total) = blockCache[size]!
        guard total > 0 else { throw .outOfPhysicalMemory("no RAM range holds an aligned \(size)-byte block for \(what())") }
        func address(_ k: UInt64) -> UInt64 {
            var k = k
            for b in blocks {
                if k < b.count { return b.first + k * size }
                k -= b.count
            }
            return 0
        }
        let start = rng.next(below: total)
        for attempt in 0..<(total + 64) {
            let k = attempt < 64 ? (attempt == 0 ? start : rng.next(below: total)) : (start + attempt - 64) % total
            let pa = address(k)
            if isFree(pa, size: size) {
                markDumped(pa, size: size)
                return pa
            }
        }
        throw .outOfPhysicalMemory("no free \(size)-byte block left for \(what())")
    }

    /// Takes the highest free run of `size` bytes of RAM (page aligned), as the kernel places the msgbuf.
    mutating func allocateTop(size: UInt64) throws(GeneratorError) -> UInt64 {
        for r in index.ranges.reversed() where r.upperBound - r.lowerBound >= size {
            var pa = r.upperBound - size
            while true {
                if isFree(pa, size: size) {
                    markDumped(pa, size: size)
                    return pa
                }
                if pa < r.lowerBound + 0x1000 { break }
                pa -= 0x1000
            }
        }
        throw .outOfPhysicalMemory("no free run of \(size) bytes for the message buffer")
    }

    /// Physical addresses of all set bits, ascending.
    func dumpedPages() -> [UInt64] {
        var out: [UInt64] = []
        for (w, word) in words.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                let b = UInt64(bits.trailingZeroBitCount)
                out.append(index.physicalAddress(ofBit: UInt64(w) * 64 + b))
                bits &= bits - 1
            }
        }
        return out
    }
}
