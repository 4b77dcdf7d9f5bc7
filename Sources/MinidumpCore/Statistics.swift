/// Whole-dump statistics, for `kvmdump stats` and for triage systems.

/// Counts and sizes over a whole dump.
public struct DumpStatistics: Sendable, Equatable {
    /// Bits in the bitmap (4 KiB pages it can describe).
    public let bitmapBits: UInt64
    /// Pages the bitmap lists as dumped.
    public let dumpedPages: UInt64
    /// Of those, pages actually in the file (fewer if it is truncated).
    public let pagesInFile: UInt64
    /// Bytes of physical memory the physical ranges cover.
    public let physicalBytesCovered: UInt64
    /// Bytes of physical memory dumped (4096 × dumped pages).
    public let physicalBytesDumped: UInt64
    /// The physical ranges (dump_avail).
    public let physicalRanges: [PhysicalRange]
    /// Counts from a walk of the kernel map.
    public let kernelMap: KernelMapCensus
    /// Bytes of virtual address space the kernel map describes.
    public let kernelMapBytes: UInt64
    /// Size the file should have.
    public let expectedFileSize: UInt64
    /// Size the file has.
    public let fileSize: UInt64
    /// Bytes of memory the page index uses.
    public let indexMemoryBytes: Int
    /// Number of popcount bins.
    public let indexBins: Int
    /// Non-fatal problems found.
    public let findings: [IntegrityFinding]
}
