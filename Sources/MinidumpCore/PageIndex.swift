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

/// Popcount bins over the bitmap, built lazily: a lookup builds the blocks (64 bins, 8 KiB of
/// bitmap) up to the one it needs, in order, the first time it needs them; `buildAll()` builds the
/// rest. A one-shot command therefore reads the bitmap only up to the pages it looks up, and the
/// 4 KiB pages of bitmap the file holds as holes (savecore writes zero runs as holes) not at all.
/// Safe to share between threads: built blocks are published through a `FillOnceTable`.
struct PageIndex: Sendable {
    /// Bits per bin.
    static let binBits = 1024
    /// Words per bin.
    static let binWords = binBits / 64
    /// Edges per absolute (64-bit) count: one block.
    static let edgesPerBlock = 64
    /// Table words per block: the absolute count at the block's first edge, then 64 relative
    /// 16-bit counts packed four to a word (edge `e` of the block in word `1 + e / 4`, bits `16 × (e % 4)`).
    static let blockWords = 17
    /// Bitmap bytes per block.
    static let blockBytes = UInt64(edgesPerBlock * binWords * 8)

    /// The bitmap, as little-endian 64-bit words.
    let bitmap: ByteView
    /// Number of whole words in the bitmap.
    let wordCount: Int
    /// Number of bits in the bitmap (`wordCount * 64`).
    var bitCount: UInt64 { UInt64(wordCount) * 64 }
    /// Number of bins.
    var binCount: Int { shape.binCount }
    /// Blocks, including the one holding the final edge (`binCount`).
    var blockCount: Int { shape.blockCount }
    /// The built blocks.
    private let table: FillOnceTable
    /// What only the build needs, held by reference so that the index (and every container and
    /// translation path that holds it) stays small enough to be copied in registers.
    private let shape: Shape

    /// The bin and block counts, and the mapped file and where the bitmap is in it (to skip its
    /// holes and let the bitmap pages a lazy build has counted leave the resident set; nil for a
    /// bitmap not in a file).
    private final class Shape: Sendable {
        let binCount: Int
        let blockCount: Int
        let file: MappedFile?
        let bitmapOffset: UInt64
        init(binCount: Int, blockCount: Int, file: MappedFile?, bitmapOffset: UInt64) {
            self.binCount = binCount
            self.blockCount = blockCount
            self.file = file
            self.bitmapOffset = bitmapOffset
        }
    }

    /// An index over `bitmap` with no block built. `file` (holding the bitmap at `offset`) lets the
    /// build skip holes and release counted pages.
    init(bitmap: ByteView, file: MappedFile? = nil, offset: UInt64 = 0) {
        self.bitmap = bitmap
        wordCount = bitmap.count / 8
        let binCount = (wordCount + Self.binWords - 1) / Self.binWords
        let blockCount = binCount / Self.edgesPerBlock + 1
        // The last block only as far as the word holding the final edge.
        table = FillOnceTable(capacity: (blockCount - 1) * Self.blockWords + 2 + (binCount % Self.edgesPerBlock) / 4)
        shape = Shape(binCount: binCount, blockCount: blockCount, file: file, bitmapOffset: offset)
    }

    /// Builds every block (for batch work: afterwards no lookup takes the build path).
    func buildAll() { build(through: blockCount - 1, releasing: false) }

    /// Words the whole table holds (`tableWords().count`).
    var tableWordCount: Int { table.capacity }

    /// The whole table, every block built first, and its `IndexChecksum`: what `adopt` takes back
    /// for the same bitmap.
    func tableWords() -> (words: [UInt64], checksum: UInt64) {
        buildAll()
        let words = table.snapshot()
        var sum = IndexChecksum()
        for word in words { sum.add(word) }
        return (words, sum.value)
    }

    /// Makes the table the little-endian words of `file` from `offset` to its end (as `tableWords()`
    /// gave them for this bitmap), read in place instead of counting the bitmap, if no block is built
    /// yet, their `IndexChecksum` is `checksum` and they are well formed: as many as the table holds,
    /// absolute counts non-decreasing by at most a block's bits, each block's relative counts
    /// non-decreasing from 0 by at most a bin's bits, the last edge at most the bitmap's bits.
    /// Returns false (the table untouched) otherwise. Counts that are well formed but wrong would give
    /// wrong offsets, never an access outside the dump (every read is checked).
    func adopt(_ file: MappedFile, offset: UInt64, checksum: UInt64) -> Bool {
        let blockCount = blockCount, binCount = binCount, bitCount = bitCount, length = UInt64(table.capacity) * 8
        guard file.size >= offset, file.size - offset == length else { return false }
        let adopted = table.adopt(file, offset: offset) { words in
            Self.isWellFormed(words, blockCount: blockCount, binCount: binCount, bitCount: bitCount, checksum: checksum)
        }
        // The check read every page; lookups bring back the few they need.
        file.release(offset: offset, length: length)
        return adopted
    }

    /// True if `words` hold a table of `blockCount` blocks with the rules of `adopt` and `checksum`.
    private static func isWellFormed(_ words: ByteView, blockCount: Int, binCount: Int, bitCount: UInt64,
                                     checksum: UInt64) -> Bool {
        let binBits = UInt64(Self.binBits)
        var sum = IndexChecksum()
        var previousBase: UInt64 = 0
        var previousLast: UInt64 = 0
        // Any rule broken sets a bit here, checked once a block: the loop over the words has no branches.
        var bad: UInt64 = 0
        for block in 0..<blockCount {
            let at = block * Self.blockWords
            guard let base = words.word(at) else { return false }
            bad |= base < previousBase &+ previousLast || base - previousBase > binBits * UInt64(Self.edgesPerBlock) ? 1 : 0
            sum.add(base)
            let edges = block == blockCount - 1 ? binCount % Self.edgesPerBlock + 1 : Self.edgesPerBlock
            // Edge 0 of a block is 0; each later edge is at most a bin's bits above the one before.
            var last: UInt64 = 0
            for slot in 0..<((edges + 3) / 4) {
                guard let packed = words.word(at + 1 + slot) else { return false }
                sum.add(packed)
                if slot == 0 { bad |= packed & 0xffff }
                // The four lanes minus the lane before each (the previous word's last lane below the
                // first), in one subtraction: with no decrease no borrow crosses a lane, and every
                // difference is at most 1024 (a lane past the last edge repeats it: difference 0).
                let shifted = packed << 16 | last
                let differences = packed &- shifted
                bad |= (packed < shifted ? 1 : 0) | differences & 0x8000_8000_8000_8000
                    | (differences & 0x7fff_7fff_7fff_7fff &+ 0x7bff_7bff_7bff_7bff) & 0x8000_8000_8000_8000
                last = packed >> 48
            }
            guard bad == 0 else { return false }
            previousBase = base
            previousLast = last
        }
        return previousBase &+ previousLast <= bitCount && sum.value == checksum
    }

    /// Blocks built so far.
    var blocksBuilt: Int { table.filled == table.capacity ? blockCount : table.filled / Self.blockWords }

    /// Total number of set bits: the number of data pages (builds every block).
    var population: UInt64 {
        if blocksBuilt < blockCount { buildAll() }
        return edgeCount(binCount)
    }

    /// Builds blocks in order until block `last` is built. A lazy build (`releasing`) lets the
    /// bitmap pages it counted leave the resident set every 1 MiB, so the high-water RSS of a
    /// one-shot command does not grow with the bitmap; pages in file holes are not read.
    private func build(through last: Int, releasing: Bool) {
        guard table.filled < table.capacity else { return }
        let bitmap = bitmap, wordCount = wordCount, binCount = binCount, blockCount = blockCount
        let file = shape.file, bitmapOffset = shape.bitmapOffset
        table.fill { writer, total in
            var block = writer.count / Self.blockWords
            // The file's next data extent [dataFrom, dataTo) at or after the cursor (0, 0: not asked yet).
            var dataFrom: UInt64 = 0, dataTo: UInt64 = 0
            var releasedTo = UInt64(block) * Self.blockBytes
            while block <= last, block < blockCount {
                writer.append(total)
                let firstBin = block * Self.edgesPerBlock
                let start = UInt64(block) * Self.blockBytes
                var hole = false
                if let file, firstBin < binCount {
                    let at = bitmapOffset &+ start
                    if at >= dataTo {
                        dataFrom = file.dataStart(from: at)
                        dataTo = dataFrom >= file.size ? .max : file.holeStart(from: dataFrom)
                    }
                    hole = at &+ Self.blockBytes <= dataFrom
                }
                var packed: UInt64 = 0
                let blockBase = total
                for edge in 0..<Self.edgesPerBlock {
                    let bin = firstBin + edge
                    packed |= (total &- blockBase) << (16 * UInt64(edge & 3))
                    if edge & 3 == 3 {
                        writer.append(packed)
                        packed = 0
                    }
                    guard bin < binCount, !hole else { continue }
                    let first = bin * Self.binWords
                    total &+= UInt64(bitmap.popcount(words: first..<min(first + Self.binWords, wordCount)))
                }
                block += 1
                // Only a file's pages come back by themselves: anonymous memory (a compressed dump's) would read as zeros.
                if releasing, let file, file.isFileMapped, UInt64(block) * Self.blockBytes - releasedTo >= 1 << 20 {
                    file.release(offset: bitmapOffset &+ releasedTo, length: UInt64(block) * Self.blockBytes - releasedTo)
                    releasedTo = UInt64(block) * Self.blockBytes
                }
                if block & 127 == 0 { writer.publish() }
            }
        }
    }

    /// The slow path of a lookup whose block is not built yet.
    @inline(never)
    private func buildLazily(through block: Int, _ first: Int, _ second: Int) -> (UInt64, UInt64) {
        build(through: block, releasing: true)
        return table.words(first, second) ?? (0, 0)
    }

    /// Bytes of memory the bins occupy (the bitmap itself is mapped, not copied).
    var memoryBytes: Int { table.capacity * 8 }

    /// Set bits below edge `edge` (edge × 1024, capped at the bitmap's end; 0 <= edge <= binCount),
    /// building the blocks up to it the first time.
    @inline(__always)
    func edgeCount(_ edge: Int) -> UInt64 {
        let at = (edge >> 6) &* Self.blockWords
        let slot = at &+ 1 &+ (edge & 63) >> 2
        let (base, packed) = table.words(at, slot) ?? buildLazily(through: edge >> 6, at, slot)
        return base &+ (packed >> (16 &* UInt64(edge & 3)) & 0xffff)
    }

    /// A hint that the lookup of `bit` will read its bitmap word and bin counts soon (no effect on results).
    @inline(__always)
    func prefetch(_ bit: UInt64) {
        guard bit < bitCount else { return }
        let word = Int(bit >> 6)
        bitmap.prefetch(UInt64(word) &* 8)
        let edge = word / Self.binWords + (word % Self.binWords < Self.binWords / 2 ? 0 : 1)
        table.prefetch((edge >> 6) &* Self.blockWords &+ 1 &+ (edge & 63) >> 2)
        table.prefetch((edge >> 6) &* Self.blockWords)
    }

    /// True if bit `bit` is set; false for bits past the bitmap.
    @inline(__always)
    func isSet(_ bit: UInt64) -> Bool {
        guard bit < bitCount, let word = bitmap.word(Int(bit >> 6)) else { return false }
        return word >> (bit & 63) & 1 == 1
    }

    /// Looks up a set bit: its data-page position. Nil if the bit is clear or past the bitmap.
    /// (`@_transparent`: `@inline(__always)` left it an out-of-line call on the translation path.)
    @_transparent
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

/// The checksum of a page index's words (`PageIndex.tableWords`, `adopt`): two multiply-xorshift
/// chains over alternate words, in order, so that a damaged or misplaced copy is not taken for the index.
struct IndexChecksum {
    private var even: UInt64 = 0x6b76_6d64_756d_7031
    private var odd: UInt64 = 0x6269_6e73_0000_0002
    private var count: UInt64 = 0

    /// The checksum of the words mixed in so far.
    var value: UInt64 {
        var h = (even ^ (odd << 32 | odd >> 32) ^ count) &* 0x9e37_79b9_7f4a_7c15
        h ^= h >> 29
        return h
    }

    /// Mixes in the next word: words alternate between two chains, so that one does not wait for
    /// the other's multiply.
    @inline(__always)
    mutating func add(_ word: UInt64) {
        count &+= 1
        if count & 1 == 1 {
            even = (even ^ word) &* 0xff51_afd7_ed55_8ccd
            even ^= even >> 32
        } else {
            odd = (odd ^ word) &* 0xc4ce_b9fe_1a85_ec53
            odd ^= odd >> 29
        }
    }
}
