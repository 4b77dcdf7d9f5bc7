/// Whole-dump statistics, for `kvmdump stats` and for triage systems.

/// Counts and sizes over a whole dump.
public struct DumpStatistics: Sendable, Equatable {
    /// Bits in the bitmap (pages of the dump's page size it can describe).
    public let bitmapBits: UInt64
    /// Pages the bitmap lists as dumped.
    public let dumpedPages: UInt64
    /// Of those, pages actually in the file (fewer if it is truncated).
    public let pagesInFile: UInt64
    /// Bytes of physical memory the physical ranges cover.
    public let physicalBytesCovered: UInt64
    /// Bytes of physical memory dumped (page size × dumped pages).
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
    /// Dumped pages reachable only through the direct map, where the architecture counts them
    /// (`MinidumpArchitecture.reportsDirectMapOnlyPages`), else nil.
    public let directMapOnlyPages: UInt64?
    /// What the architecture calls the census's large-page and small-page counts (nil: not listed).
    let largePageKey: String?
    /// The key of the small-page count in `counts` (`kernel_map_4k_pages`, `kernel_map_l3_pages`).
    public let smallPageKey: String

    init(bitmapBits: UInt64, dumpedPages: UInt64, pagesInFile: UInt64, physicalBytesCovered: UInt64,
         physicalBytesDumped: UInt64, physicalRanges: [PhysicalRange], kernelMap: KernelMapCensus,
         kernelMapBytes: UInt64, expectedFileSize: UInt64, fileSize: UInt64, indexMemoryBytes: Int,
         indexBins: Int, findings: [IntegrityFinding], directMapOnlyPages: UInt64?,
         censusPageNames: (large: String?, small: String)) {
        self.directMapOnlyPages = directMapOnlyPages
        self.bitmapBits = bitmapBits
        self.dumpedPages = dumpedPages
        self.pagesInFile = pagesInFile
        self.physicalBytesCovered = physicalBytesCovered
        self.physicalBytesDumped = physicalBytesDumped
        self.physicalRanges = physicalRanges
        self.kernelMap = kernelMap
        self.kernelMapBytes = kernelMapBytes
        self.expectedFileSize = expectedFileSize
        self.fileSize = fileSize
        self.indexMemoryBytes = indexMemoryBytes
        self.indexBins = indexBins
        self.findings = findings
        largePageKey = censusPageNames.large
        smallPageKey = censusPageNames.small
    }

    /// Every count, keyed as `stats --json` prints them, in order; the page-count keys are the
    /// architecture's.
    public var counts: [(key: String, value: UInt64)] {
        let large: [(key: String, value: UInt64)] = largePageKey.map { [($0, kernelMap.largePages)] } ?? []
        let directOnly: [(key: String, value: UInt64)] = directMapOnlyPages.map { [("direct_map_only_pages", $0)] } ?? []
        return [
            ("bitmap_bits", bitmapBits),
            ("dumped_pages", dumpedPages),
            ("pages_in_file", pagesInFile),
            ("physical_bytes_covered", physicalBytesCovered),
            ("physical_bytes_dumped", physicalBytesDumped),
            ("physical_ranges", UInt64(physicalRanges.count)),
            ("kernel_map_bytes", kernelMapBytes),
            ("kernel_map_entries", kernelMap.entries),
            ("kernel_map_valid_entries", kernelMap.validEntries),
        ] + large + [
            (smallPageKey, kernelMap.smallPages),
            ("page_table_pages_present", kernelMap.pageTablePagesPresent),
            ("page_table_pages_missing", kernelMap.pageTablePagesMissing),
            ("kernel_map_entries_past_end_of_file", kernelMap.entriesPastEndOfFile),
        ] + directOnly + [
            ("expected_file_size", expectedFileSize),
            ("file_size", fileSize),
            ("index_memory_bytes", UInt64(indexMemoryBytes)),
            ("index_bins", UInt64(indexBins)),
        ]
    }
}
