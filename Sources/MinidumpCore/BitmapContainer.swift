import MappedBytes

/// The minidump's container (see `PhysicalContainer`): the physical ranges, the bitmap's popcount
/// index and the data section together. Data page k (the k-th set bit) is at `dataOffset + k ×
/// pageSize`, the page size being the dump's (`PhysicalMemory.pageShift`).
struct BitmapContainer: PhysicalContainer {
    /// The physical ranges and bit arithmetic.
    let memory: PhysicalMemory
    /// Popcount bins over the bitmap.
    let index: PageIndex
    /// Where the data pages start in the file.
    let dataOffset: UInt64
    /// Bytes of file actually present.
    let fileSize: UInt64
    /// The whole file.
    let bytes: ByteView
    /// Fills `bytes` on demand (a gzip dump read through checkpoints), or nil: every byte is there.
    /// `locate` only says where a page is; whoever reads its bytes supplies them first
    /// (`ContainerStorage.supply`), so that finding the page-table pages at open decodes nothing.
    let supplier: (any ByteSupplier)?

    var pageSize: UInt64 {
        @inline(__always) get { 1 << memory.pageShift }
    }
    var describablePages: UInt64 { index.bitCount }
    var dumpedPageCount: UInt64 { index.population }
    var physicalRanges: [PhysicalRange] { memory.ranges }
    var indexMemoryBytes: Int { index.memoryBytes }
    var indexBins: Int { index.binCount }

    /// Dumped pages wholly in the file: all of them unless the file is truncated.
    var pagesInFile: UInt64 {
        fileSize > dataOffset ? min((fileSize - dataOffset) >> memory.pageShift, index.population) : 0
    }

    @_transparent
    func locate(_ pa: PhysicalAddress, bytes: UInt64) throws(ContainerMiss) -> (offset: FileOffset, lookup: PageLookup) {
        guard let bit = memory.bit(for: pa) else { throw .outsideRanges }
        return try locate(pa, bit: bit, bytes: bytes)
    }

    /// `locate(_:bytes:)` for an address whose bitmap bit the caller has (`memory.bit(for: pa)`).
    @_transparent
    func locate(_ pa: PhysicalAddress, bit: UInt64, bytes: UInt64) throws(ContainerMiss) -> (offset: FileOffset, lookup: PageLookup) {
        guard let lookup = index.lookup(bit) else { throw .notDumped(bit: bit) }
        let offset = dataOffset &+ lookup.pagesBefore << memory.pageShift
        let first = offset &+ (pa.rawValue & (pageSize &- 1))
        guard first <= fileSize, fileSize - first >= bytes else { throw .pastEndOfFile(offset: FileOffset(first)) }
        return (FileOffset(offset), lookup)
    }

    /// A hint that the lookup of `pa` will read its bitmap word and bin counts soon; returns the
    /// page's bitmap bit (for `locate(_:bit:bytes:)`), or nil if `pa` is in no range.
    @inline(__always)
    func prefetch(_ pa: PhysicalAddress) -> UInt64? {
        guard let bit = memory.bit(for: pa) else { return nil }
        index.prefetch(bit)
        return bit
    }

    /// The page's offset, with `locate` inlined (the lookup path of `Dump.fileOffset(ofPhysical:)`).
    @inline(__always)
    func offset(of pa: PhysicalAddress) -> FileOffset? {
        try? locate(pa.pageBase(pageSize), bytes: pageSize).offset
    }

    /// Counted with the index (a few word scans per range, however long the span).
    func presentPages(from pa: PhysicalAddress, length: UInt64) -> Int {
        let inFile = pagesInFile
        var present: UInt64 = 0
        memory.forEachBitRun(from: pa, length: length) { bits in
            present += min(index.rank(bits.upperBound), inFile) - min(index.rank(bits.lowerBound), inFile)
        }
        return Int(present)
    }

    /// The bitmap bit, its popcount bin, the count at the bin edge used, and the page's position.
    func steps(of lookup: PageLookup) -> [WalkStep] {
        [
            WalkStep(name: .init(text: "bit", key: "bit", kind: .count), value: lookup.bit),
            WalkStep(name: .init(text: "bin", key: "bin", kind: .count), value: UInt64(lookup.bin)),
            WalkStep(name: .init(text: "bin-count", key: "bin_count", kind: .count), value: lookup.edgeCount),
            WalkStep(name: .init(text: "pages-before", key: "pages_before", kind: .count), value: lookup.pagesBefore),
        ]
    }

    func reason(_ miss: ContainerMiss, _ pa: PhysicalAddress) -> TranslationError.Reason {
        switch miss {
        case .outsideRanges:
            memory.hasDumpAvail ? .physicalAddressOutsideRanges(pa)
                : .physicalAddressBeyondBitmap(pa, pages: memory.totalBits, pageSize: pageSize)
        case .notDumped(let bit): .pageNotDumped(pa.pageBase(pageSize), bit: bit)
        case .pastEndOfFile(let offset): .pagePastEndOfFile(pa, offset: offset, fileSize: fileSize)
        }
    }

    func forEachRun(_ body: (PhysicalAddress, FileOffset, UInt64) -> Bool) {
        let inFile = pagesInFile
        var number: UInt64 = 0
        var runPA: UInt64 = 0
        var runFirst: UInt64 = 0
        var runCount: UInt64 = 0
        var lastBit: UInt64 = 0
        var stopped = false
        let dataOffset = dataOffset
        let pageSize = pageSize
        func report() -> Bool { body(PhysicalAddress(runPA), FileOffset(dataOffset &+ runFirst &* pageSize), runCount) }
        index.forEachSetBit { bit in
            guard number < inFile, bit < memory.totalBits,
                  let pa = memory.physicalAddress(ofBit: bit) else { return false }
            if runCount > 0, bit == lastBit &+ 1, pa.rawValue == runPA &+ runCount &* pageSize {
                runCount += 1
            } else {
                if runCount > 0, !report() { stopped = true; return false }
                runPA = pa.rawValue
                runFirst = number
                runCount = 1
            }
            lastBit = bit
            number += 1
            return true
        }
        if !stopped, runCount > 0 { _ = report() }
    }

    /// Iterates the bitmap, skipping the bits of the covered spans (spec §10 explains why libkvm's
    /// walk gets the direct-map-only pages wrong).
    func forEachDumpedPage(notIn spans: [(start: PhysicalAddress, length: UInt64)],
                           _ body: (PhysicalAddress, FileOffset?) -> Bool) {
        var covered: [Range<UInt64>] = []
        for span in spans {
            memory.forEachBitRun(from: span.start, length: span.length) { bits in
                if let last = covered.last, last.upperBound == bits.lowerBound {
                    covered[covered.count - 1] = last.lowerBound..<bits.upperBound
                } else {
                    covered.append(bits)
                }
            }
        }
        covered.sort { $0.lowerBound < $1.lowerBound }
        var next = 0
        index.forEachSetBit { bit in
            guard bit < memory.totalBits else { return false }
            while next < covered.count, covered[next].upperBound <= bit { next += 1 }
            if next < covered.count, covered[next].contains(bit) { return true }
            guard let pa = memory.physicalAddress(ofBit: bit) else { return false }
            return body(pa, offset(of: pa))
        }
    }

    /// Bits set past the last physical range (their pages have no physical address): count and first.
    var bitsBeyondRanges: (count: UInt64, first: UInt64) {
        var beyond: UInt64 = 0
        var first: UInt64 = 0
        index.forEachSetBit(from: memory.totalBits) { bit in
            if beyond == 0 { first = bit }
            beyond += 1
            return true
        }
        return (beyond, first)
    }
}
