import MappedBytes

/// The page index: which bitmap bits are set, and how many set bits precede a given bit, in O(1).
///
/// This is libkvm's popcount-bin design (spec §3.1): one count per 1024 bits (a "bin edge"),
/// holding the number of set bits below that edge. A lookup in the lower half of a bin counts
/// forward from the edge below; in the upper half it counts backward from the edge above, so at
/// most 8 words are scanned. Unlike libkvm, counts are 64-bit (a dump may hold more than 2^32
/// pages) yet stored in 2 bytes per edge: each edge keeps its count relative to the last multiple
/// of 64 edges, whose absolute count is kept in a `UInt64`. Memory: about bitmap / 60.

/// The result of looking up one bitmap bit.
struct PageLookup: Sendable {
    /// The bit looked up.
    let bit: UInt64
    /// Bin holding the bit (bit / 1024).
    let bin: Int
    /// Set bits below the bin edge the count started from (bin or bin + 1).
    let edgeCount: UInt64
    /// Set bits with an index below `bit`: the page's position among the data pages.
    let pagesBefore: UInt64
}

/// Popcount bins over the bitmap. Immutable after construction; safe to share between threads.
struct PageIndex: Sendable {
    /// Bits per bin.
    static let binBits = 1024
    /// Words per bin.
    static let binWords = binBits / 64
    /// Edges per absolute (64-bit) count.
    static let edgesPerBlock = 64

    /// The bitmap, as little-endian 64-bit words.
    let bitmap: ByteView
    /// Number of whole words in the bitmap.
    let wordCount: Int
    /// Number of bits in the bitmap (`wordCount * 64`).
    var bitCount: UInt64 { UInt64(wordCount) * 64 }
    /// Total number of set bits: the number of data pages.
    let population: UInt64
    private let relative: [UInt16]
    private let absolute: [UInt64]

    /// Builds the bins with one pass over the bitmap.
    init(bitmap: ByteView) {
        self.bitmap = bitmap
        wordCount = bitmap.count / 8
        let bins = (wordCount + Self.binWords - 1) / Self.binWords
        var relative = [UInt16](repeating: 0, count: bins + 1)
        var absolute = [UInt64](repeating: 0, count: bins / Self.edgesPerBlock + 1)
        var total: UInt64 = 0
        var blockBase: UInt64 = 0
        for bin in 0..<bins {
            if bin % Self.edgesPerBlock == 0 {
                blockBase = total
                absolute[bin / Self.edgesPerBlock] = total
            }
            relative[bin] = UInt16(truncatingIfNeeded: total - blockBase)
            let first = bin * Self.binWords
            let last = min(first + Self.binWords, wordCount)
            total += UInt64(bitmap.popcount(words: first..<last))
        }
        if bins % Self.edgesPerBlock == 0 {
            blockBase = total
            absolute[bins / Self.edgesPerBlock] = total
        }
        relative[bins] = UInt16(truncatingIfNeeded: total - blockBase)
        population = total
        self.relative = relative
        self.absolute = absolute
    }

    /// Bytes of memory the bins occupy (the bitmap itself is mapped, not copied).
    var memoryBytes: Int { relative.count * 2 + absolute.count * 8 }

    /// Number of bins.
    var binCount: Int { relative.count - 1 }

    /// Set bits below edge `edge` (edge × 1024, capped at the bitmap's end).
    @inline(__always)
    func edgeCount(_ edge: Int) -> UInt64 {
        absolute[edge / Self.edgesPerBlock] &+ UInt64(relative[edge])
    }

    /// True if bit `bit` is set; false for bits past the bitmap.
    @inline(__always)
    func isSet(_ bit: UInt64) -> Bool {
        guard bit < bitCount, let word = bitmap.word(Int(bit >> 6)) else { return false }
        return word >> (bit & 63) & 1 == 1
    }

    /// Looks up a set bit: its data-page position. Nil if the bit is clear or past the bitmap.
    @inline(__always)
    func lookup(_ bit: UInt64) -> PageLookup? {
        guard bit < bitCount else { return nil }
        let wordIndex = Int(bit >> 6)
        guard let word = bitmap.word(wordIndex) else { return nil }
        let shift = bit & 63
        guard word >> shift & 1 == 1 else { return nil }
        let bin = wordIndex / Self.binWords
        let binStart = bin * Self.binWords
        let below = (UInt64(1) << shift) &- 1
        if wordIndex - binStart < Self.binWords / 2 {
            let edge = edgeCount(bin)
            let count = bitmap.popcount(words: binStart..<wordIndex, plus: word & below)
            return PageLookup(bit: bit, bin: bin, edgeCount: edge, pagesBefore: edge &+ UInt64(count))
        } else {
            let edge = edgeCount(bin + 1)
            let binEnd = min(binStart + Self.binWords, wordCount)
            let count = bitmap.popcount(words: (wordIndex + 1)..<binEnd, plus: word & ~below)
            return PageLookup(bit: bit, bin: bin, edgeCount: edge, pagesBefore: edge &- UInt64(count))
        }
    }

    /// Number of set bits with an index below `bit` (every set bit if `bit` is past the bitmap).
    func rank(_ bit: UInt64) -> UInt64 {
        guard bit < bitCount else { return population }
        let wordIndex = Int(bit >> 6)
        let bin = wordIndex / Self.binWords
        var count = edgeCount(bin)
        for index in (bin * Self.binWords)..<wordIndex { count &+= UInt64((bitmap.word(index) ?? 0).nonzeroBitCount) }
        let below = (UInt64(1) << (bit & 63)) &- 1
        return count &+ UInt64(((bitmap.word(wordIndex) ?? 0) & below).nonzeroBitCount)
    }

    /// Calls `body` with every set bit at or after `start`, in ascending order, until it returns false.
    func forEachSetBit(from start: UInt64 = 0, _ body: (UInt64) -> Bool) {
        guard start < bitCount else { return }
        var wordIndex = Int(start >> 6)
        var word = (bitmap.word(wordIndex) ?? 0) & ~((UInt64(1) << (start & 63)) &- 1)
        while true {
            while word != 0 {
                let bit = UInt64(wordIndex) * 64 + UInt64(word.trailingZeroBitCount)
                guard body(bit) else { return }
                word &= word &- 1
            }
            wordIndex += 1
            guard wordIndex < wordCount else { return }
            word = bitmap.word(wordIndex) ?? 0
        }
    }
}
