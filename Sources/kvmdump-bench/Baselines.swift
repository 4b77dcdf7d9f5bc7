/// The designs the popcount-bin index replaced, rebuilt from their description (spec §3.2) so that
/// both can be measured against it in the same run on the same dump.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MinidumpCore

/// The dump's bitmap section mapped read-only on its own, as 64-bit words (the baselines' input).
final class MappedBitmap {
    /// The bitmap words (little-endian on disk; this benchmark runs on little-endian hosts).
    let words: UnsafeBufferPointer<UInt64>
    private let base: UnsafeMutableRawPointer
    private let length: Int

    /// Maps `dump`'s bitmap section from the file at `path`.
    init(path: String, dump: Dump) throws(BenchError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BenchError("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        length = Int(dump.layout.bitmap.length)
        let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, off_t(dump.layout.bitmap.offset.rawValue))
        guard let mapped, mapped != MAP_FAILED else { throw BenchError("cannot map the bitmap of \(path): errno \(errno)") }
        base = mapped
        words = UnsafeBufferPointer(start: mapped.assumingMemoryBound(to: UInt64.self), count: length / 8)
    }

    deinit { munmap(base, length) }

    /// Calls `body` with the physical address of every set bit, lowest bit first (spec §2.5, v3 ranges).
    func forEachDumpedPage(ranges: [PhysicalRange], _ body: (UInt64) -> Void) {
        var range = 0
        for (index, word) in words.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                let bit = UInt64(index) * 64 + UInt64(bits.trailingZeroBitCount)
                bits &= bits &- 1
                while range < ranges.count, bit >= ranges[range].firstBit + ranges[range].pageCount { range += 1 }
                guard range < ranges.count else { return }
                body(((ranges[range].start.rawValue >> 12) + bit - ranges[range].firstBit) << 12)
            }
        }
    }
}

/// One node of the pre-2016 libkvm hash table: `{next, pa, offset}`, 24 bytes, one malloc each.
struct HashNode {
    var next: UnsafeMutablePointer<HashNode>?
    var physicalAddress: UInt64
    var offset: Int64
}

/// libkvm's 2006–2016 physical-page index: 1024 buckets keyed by the 32-bit FNV-1 hash of the
/// 8-byte physical address, each a chain of nodes allocated one by one with malloc and pushed on
/// the chain's head, built at open by scanning the bitmap. Lookup walks the chain: O(pages / 1024).
///
/// Nodes are raw pointers from `UnsafeMutablePointer.allocate` (malloc underneath), not Swift
/// classes: a class would add a 16-byte object header and a retain/release per hop, and an
/// index-linked array would pack the nodes contiguously; either would misstate what libkvm did.
final class HashTableIndex {
    /// Buckets (`HPT_SIZE`).
    static let bucketCount = 1024
    private let buckets: UnsafeMutablePointer<UnsafeMutablePointer<HashNode>?>
    /// Number of nodes (dumped pages).
    private(set) var nodeCount = 0
    /// Bytes malloc sets aside per node: the most common distance between consecutively allocated
    /// nodes, so the allocator's chunk header and rounding are included (32 with glibc on LP64).
    private(set) var bytesPerNode = 0
    /// Memory of buckets and nodes.
    var memoryBytes: Int { Self.bucketCount * MemoryLayout<UnsafeMutablePointer<HashNode>?>.stride + nodeCount * bytesPerNode }

    /// Builds the table from the bitmap: one node per set bit, offsets consecutive from `dataOffset`.
    init(bitmap: MappedBitmap, ranges: [PhysicalRange], dataOffset: UInt64) {
        buckets = .allocate(capacity: Self.bucketCount)
        buckets.initialize(repeating: nil, count: Self.bucketCount)
        var offset = Int64(dataOffset)
        var count = 0
        var previous = 0
        var distances: [Int: Int] = [:]
        bitmap.forEachDumpedPage(ranges: ranges) { pa in
            let node = UnsafeMutablePointer<HashNode>.allocate(capacity: 1)
            let address = Int(bitPattern: node)
            if count < 1 << 16, count > 0 { distances[address - previous, default: 0] += 1 }
            previous = address
            let bucket = Int(Self.hash(pa) & UInt32(Self.bucketCount - 1))
            node.initialize(to: HashNode(next: buckets[bucket], physicalAddress: pa, offset: offset))
            buckets[bucket] = node
            offset += 4096
            count += 1
        }
        nodeCount = count
        bytesPerNode = distances.max { $0.value < $1.value }?.key ?? MemoryLayout<HashNode>.stride
    }

    deinit {
        for bucket in 0..<Self.bucketCount {
            var node = buckets[bucket]
            while let current = node {
                node = current.pointee.next
                current.deallocate()
            }
        }
        buckets.deallocate()
    }

    /// 32-bit FNV-1 (multiply, then xor) over the 8 little-endian bytes of `pa`.
    @inline(__always)
    static func hash(_ pa: UInt64) -> UInt32 {
        var hash: UInt32 = 0x811c_9dc5
        for shift in stride(from: UInt64(0), to: 64, by: 8) {
            hash = hash &* 0x0100_0193
            hash ^= UInt32(truncatingIfNeeded: pa >> shift) & 0xff
        }
        return hash
    }

    /// The file offset of the page at `pa` (page aligned), or -1 if it is not dumped.
    @inline(__always)
    func offset(of pa: UInt64) -> Int64 {
        var node = buckets[Int(Self.hash(pa) & UInt32(Self.bucketCount - 1))]
        while let current = node {
            if current.pointee.physicalAddress == pa { return current.pointee.offset }
            node = current.pointee.next
        }
        return -1
    }
}

/// The naive index: no index at all. The position of a set bit is the number of set bits before
/// it, counted word by word from bit 0 on every lookup. Memory: nothing beyond the bitmap.
struct LinearCountIndex {
    /// The bitmap.
    let bitmap: MappedBitmap
    /// The physical ranges (to turn an address into a bit).
    let ranges: [PhysicalRange]
    /// Where the data pages start.
    let dataOffset: UInt64

    /// The file offset of the page at `pa`, or -1 if it is not dumped.
    @inline(__always)
    func offset(of pa: UInt64) -> Int64 {
        guard let range = ranges.first(where: { $0.start.rawValue <= pa && pa < $0.end.rawValue }) else { return -1 }
        let bit = range.firstBit + (pa >> 12) - (range.start.rawValue >> 12)
        let words = bitmap.words
        let wordIndex = Int(bit >> 6)
        guard wordIndex < words.count else { return -1 }
        let word = words[wordIndex]
        guard word >> (bit & 63) & 1 == 1 else { return -1 }
        var count = (word & ((1 << (bit & 63)) &- 1)).nonzeroBitCount
        for index in 0..<wordIndex { count &+= words[index].nonzeroBitCount }
        return Int64(dataOffset) + Int64(count) * 4096
    }
}
