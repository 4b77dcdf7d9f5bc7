import MappedBytes

/// The page index as words, so that a caller can keep it between processes (the tool's index cache,
/// CompressedDump's `IndexCache`) and a later open of the same file need not count the bitmap again.

extension Dump {
    /// Bytes of the bitmap the page index counts (0 for a dump without one: an ELF full dump).
    public var pageIndexBitmapBytes: UInt64 {
        guard case .bitmap(let container) = storage else { return 0 }
        return UInt64(container.index.wordCount) * 8
    }

    /// Words of the page index (`pageIndexWords()`), or 0 for a dump without a bitmap.
    public var pageIndexWordCount: Int {
        guard case .bitmap(let container) = storage else { return 0 }
        return container.index.tableWordCount
    }

    /// True once the whole page index is built (or adopted); a dump without a bitmap has none and says false.
    public var pageIndexIsBuilt: Bool {
        guard case .bitmap(let container) = storage else { return false }
        return container.index.blocksBuilt == container.index.blockCount
    }

    /// The whole page index (the popcount bins), built first if it is not: `pageIndexWordCount`
    /// words and their checksum, for `adoptPageIndex` on a later open of the same file; nil
    /// without a bitmap.
    public func pageIndexWords() -> (words: [UInt64], checksum: UInt64)? {
        guard case .bitmap(let container) = storage else { return nil }
        return container.index.tableWords()
    }

    /// Takes the page index from `file` (the `pageIndexWordCount` little-endian words that
    /// `pageIndexWords()` gave for this dump, from `offset` to the file's end, with their `checksum`),
    /// read in place instead of counting the bitmap. Returns false, and changes nothing, if the dump
    /// has no bitmap, any part of its index is built already, the checksum differs or the words are
    /// not a well-formed index of this bitmap's size. `file` stays open while the dump is.
    public func adoptPageIndex(from file: MappedFile, offset: UInt64, checksum: UInt64) -> Bool {
        guard case .bitmap(let container) = storage else { return false }
        return container.index.adopt(file, offset: offset, checksum: checksum)
    }
}
