import MappedBytes

/// The physical memory of an amd64 full (ELF) dump (spec beyond-amd64-minidump.md §4): the PT_LOAD
/// program headers of the kernel's ELF core, each `[p_paddr, p_paddr + p_filesz)` → `p_offset`,
/// sorted by physical address; a physical address is found by binary search. Overlapping segments
/// and segments past the end of the file are rejected when the table is built, so every answer of
/// `locate` is inside the file. The optional `PT_DUMP_DELTA` header (freebsd-src PR 1706) is kept.

/// Why an ELF full dump's headers cannot be read.
public struct FullDumpError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field at fault, as the ELF specification names it (with the program header's index).
    public let field: String
    /// Its value.
    public let value: UInt64
    /// Why the value is wrong.
    public let why: String
    public var description: String { "ELF full dump: \(field) = 0x\(String(value, radix: 16)): \(why)" }
}

/// One PT_LOAD segment.
public struct FullDumpSegment: Sendable, Equatable {
    /// Its index among the program headers.
    public let index: Int
    public let physicalStart: UInt64
    /// Bytes in the file (`p_filesz`); `p_memsz` beyond it is memory not in the file.
    public let fileSize: UInt64
    public let memorySize: UInt64
    public let fileOffset: UInt64
    public var physicalEnd: UInt64 { physicalStart + fileSize }
}

/// The kernel's virtual and physical start from a `PT_DUMP_DELTA` program header.
public struct DumpDelta: Sendable, Equatable {
    public let virtualAddress: UInt64
    public let physicalAddress: UInt64
}

/// The program headers of an ELF64 LSB amd64 core as the kernel writes it for a full dump.
public struct FullDumpSegments: Sendable {
    public static let ptLoad: UInt32 = 1
    public static let ptDumpDelta: UInt32 = 0x6fb5_d000
    /// More program headers than this is not a FreeBSD dump (x86 writes at most 10 + aux).
    public static let maximumProgramHeaders = 4096

    /// PT_LOADs with `p_filesz > 0`, ascending by physical address, disjoint.
    public let segments: [FullDumpSegment]
    public let dumpDelta: DumpDelta?
    public let osabi: UInt8
    public let elfVersion: UInt32

    /// True if `head` starts like a FreeBSD full dump: ELF64, LSB, ET_CORE, EM_X86_64, OSABI 255, e_version 0.
    public static func probe(_ head: ByteView) -> Bool {
        guard let magic = head.bytes(at: 0, length: 8), magic[0..<4].elementsEqual([0x7f, 0x45, 0x4c, 0x46]) else { return false }
        return magic[4] == 2 && magic[5] == 1 && magic[7] == 255 && head.uint16(at: 16) == 4 && head.uint16(at: 18) == 62
            && head.uint32(at: 20) == 0
    }

    /// Reads and checks the ELF header and program headers of `bytes` (the whole file).
    public init(_ bytes: ByteView) throws(FullDumpError) {
        let size = UInt64(bytes.count)
        func fail(_ field: String, _ value: UInt64, _ why: String) -> FullDumpError { FullDumpError(field: field, value: value, why: why) }
        guard let ident = bytes.bytes(at: 0, length: 16), ident[0..<4].elementsEqual([0x7f, 0x45, 0x4c, 0x46]) else {
            throw fail("e_ident", 0, "not an ELF file, or shorter than its identification (\(size) bytes)")
        }
        guard ident[4] == 2 else { throw fail("e_ident[EI_CLASS]", UInt64(ident[4]), "not ELFCLASS64 (2)") }
        guard ident[5] == 1 else { throw fail("e_ident[EI_DATA]", UInt64(ident[5]), "not little-endian (1)") }
        guard let type = bytes.uint16(at: 16), let machine = bytes.uint16(at: 18), let version = bytes.uint32(at: 20),
              let phoff = bytes.uint64(at: 32), let phentsize = bytes.uint16(at: 54), let phnum = bytes.uint16(at: 56)
        else { throw fail("file size", size, "shorter than the 64-byte ELF header") }
        guard ident[7] == 255 else { throw fail("e_ident[EI_OSABI]", UInt64(ident[7]), "not ELFOSABI_STANDALONE (255), which the kernel writes") }
        guard type == 4 else { throw fail("e_type", UInt64(type), "not ET_CORE (4)") }
        guard machine == 62 else { throw fail("e_machine", UInt64(machine), "not EM_X86_64 (62)") }
        guard version == 0 else { throw fail("e_version", UInt64(version), "not 0: the kernel leaves e_version unset in a full dump") }
        guard phentsize == 56 else { throw fail("e_phentsize", UInt64(phentsize), "not 56 (Elf64_Phdr)") }
        guard phnum > 0 else { throw fail("e_phnum", 0, "no program headers") }
        guard phnum != 0xffff, Int(phnum) <= Self.maximumProgramHeaders else {
            throw fail("e_phnum", UInt64(phnum), "more than \(Self.maximumProgramHeaders) program headers (PN_XNUM is not read)")
        }
        let (tableLength, _) = UInt64(phnum).multipliedReportingOverflow(by: 56)
        let (tableEnd, overflow) = phoff.addingReportingOverflow(tableLength)
        guard !overflow, tableEnd <= size else {
            throw fail("e_phoff", phoff, "the \(phnum) program headers end past the end of the file (\(size) bytes)")
        }
        var loads: [FullDumpSegment] = []
        var delta: DumpDelta?
        for i in 0..<Int(phnum) {
            let p = phoff + UInt64(i) * 56
            guard let ptype = bytes.uint32(at: p), let offset = bytes.uint64(at: p + 8), let vaddr = bytes.uint64(at: p + 16),
                  let paddr = bytes.uint64(at: p + 24), let filesz = bytes.uint64(at: p + 32), let memsz = bytes.uint64(at: p + 40)
            else { throw fail("e_phoff", phoff, "program header \(i) is cut by the end of the file") }
            if ptype == Self.ptDumpDelta {
                guard delta == nil else { throw fail("phdr[\(i)].p_type", UInt64(ptype), "a second PT_DUMP_DELTA") }
                delta = DumpDelta(virtualAddress: vaddr, physicalAddress: paddr)
                continue
            }
            guard ptype == Self.ptLoad else { continue }
            guard paddr & 0xfff == 0 else { throw fail("phdr[\(i)].p_paddr", paddr, "not page aligned") }
            guard offset & 0xfff == 0 else { throw fail("phdr[\(i)].p_offset", offset, "not page aligned") }
            guard filesz <= memsz else { throw fail("phdr[\(i)].p_filesz", filesz, "larger than p_memsz 0x\(String(memsz, radix: 16))") }
            let (end, over) = offset.addingReportingOverflow(filesz)
            guard !over, end <= size else {
                throw fail("phdr[\(i)].p_offset", offset, "segment of 0x\(String(filesz, radix: 16)) bytes ends past the end of the file (\(size) bytes)")
            }
            let (_, paOver) = paddr.addingReportingOverflow(memsz)
            guard !paOver else { throw fail("phdr[\(i)].p_paddr", paddr, "p_paddr + p_memsz overflows") }
            guard filesz > 0 else { continue }
            loads.append(FullDumpSegment(index: i, physicalStart: paddr, fileSize: filesz, memorySize: memsz, fileOffset: offset))
        }
        guard !loads.isEmpty else { throw fail("e_phnum", UInt64(phnum), "no PT_LOAD segment with file bytes") }
        loads.sort { $0.physicalStart < $1.physicalStart }
        for k in 1..<max(1, loads.count) where loads[k].physicalStart < loads[k - 1].physicalStart + loads[k - 1].memorySize {
            throw fail("phdr[\(loads[k].index)].p_paddr", loads[k].physicalStart,
                       "overlaps PT_LOAD phdr[\(loads[k - 1].index)] [0x\(String(loads[k - 1].physicalStart, radix: 16)), 0x\(String(loads[k - 1].physicalStart + loads[k - 1].memorySize, radix: 16)))")
        }
        segments = loads
        dumpDelta = delta
        osabi = ident[7]
        elfVersion = version
    }

    /// The segment holding `pa`, by binary search.
    public func segment(containing pa: UInt64) -> FullDumpSegment? {
        var low = 0, high = segments.count
        while low < high {
            let mid = (low + high) / 2
            if segments[mid].physicalStart <= pa { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let s = segments[low - 1]
        return pa - s.physicalStart < s.fileSize ? s : nil
    }

    /// The file offset of `pa` and how many bytes from it the segment holds, or nil outside every segment.
    public func fileOffset(ofPhysical pa: UInt64) -> (offset: UInt64, available: UInt64)? {
        guard let s = segment(containing: pa) else { return nil }
        return (s.fileOffset + (pa - s.physicalStart), s.physicalEnd - pa)
    }

    /// `length` bytes of physical memory from `pa` (crossing segments that are physically
    /// contiguous), or nil if any byte is in no segment.
    public func read(_ bytes: ByteView, physical pa: UInt64, length: UInt64) -> [UInt8]? {
        var out: [UInt8] = []
        var at = pa, left = length
        while left > 0 {
            guard let (offset, available) = fileOffset(ofPhysical: at) else { return nil }
            let n = min(left, available)
            guard bytes.append(at: offset, length: n, to: &out) else { return nil }
            let (next, over) = at.addingReportingOverflow(n)
            if over && left > n { return nil }
            at = next
            left -= n
        }
        return out
    }

    /// The little-endian u64 at `pa`, or nil.
    public func uint64(_ bytes: ByteView, physical pa: UInt64) -> UInt64? {
        guard let (offset, available) = fileOffset(ofPhysical: pa), available >= 8 else { return nil }
        return bytes.uint64(at: offset)
    }
}

/// The full dump's container (see `PhysicalContainer`): physical address → file offset through the
/// PT_LOAD segments. A page's slot number (`PageLookup.bit`) counts the 4 KiB pages of `p_memsz` of
/// the segments below it; `PageLookup.bin` is the segment's position in the sorted table. Memory a
/// segment has in `p_memsz` but not in `p_filesz` is "not dumped".
struct SegmentContainer: PhysicalContainer {
    let segments: FullDumpSegments
    let bytes: ByteView
    /// Slot of each segment's first page.
    private let firstSlots: [UInt64]

    init(segments: FullDumpSegments, bytes: ByteView) {
        self.segments = segments
        self.bytes = bytes
        var slots: [UInt64] = []
        var next: UInt64 = 0
        for s in segments.segments {
            slots.append(next)
            next &+= (s.memorySize &+ 0xfff) >> 12
        }
        firstSlots = slots
    }

    var pageSize: UInt64 { PageSize.bytes4K }
    var describablePages: UInt64 { segments.segments.reduce(0) { $0 &+ (($1.memorySize &+ 0xfff) >> 12) } }
    var dumpedPageCount: UInt64 { segments.segments.reduce(0) { $0 &+ (($1.fileSize &+ 0xfff) >> 12) } }
    /// Segments are checked to end inside the file; a partial last page is not wholly in it.
    var pagesInFile: UInt64 { segments.segments.reduce(0) { $0 &+ ($1.fileSize >> 12) } }
    var physicalRanges: [PhysicalRange] {
        zip(segments.segments, firstSlots).map { s, slot in
            PhysicalRange(start: PhysicalAddress(s.physicalStart), end: PhysicalAddress(s.physicalStart &+ s.memorySize),
                          firstBit: slot, pageCount: (s.memorySize &+ 0xfff) >> 12)
        }
    }
    var indexMemoryBytes: Int { segments.segments.count * (MemoryLayout<FullDumpSegment>.stride + 8) }
    var indexBins: Int { 0 }

    /// The position in the sorted table of the segment whose `[p_paddr, p_paddr + p_memsz)` holds `pa`.
    private func position(_ pa: UInt64) -> Int? {
        let all = segments.segments
        var low = 0, high = all.count
        while low < high {
            let mid = (low + high) / 2
            if all[mid].physicalStart <= pa { low = mid + 1 } else { high = mid }
        }
        guard low > 0, pa - all[low - 1].physicalStart < all[low - 1].memorySize else { return nil }
        return low - 1
    }

    func locate(_ pa: PhysicalAddress, bytes count: UInt64) throws(ContainerMiss) -> (offset: FileOffset, lookup: PageLookup) {
        guard let k = position(pa.rawValue) else { throw .outsideRanges }
        let s = segments.segments[k]
        let page = pa.pageBase.rawValue - s.physicalStart
        let slot = firstSlots[k] &+ (page >> 12)
        let lookup = PageLookup(bit: slot, bin: k, edgeCount: 0, pagesBefore: slot)
        let within = pa.rawValue - s.physicalStart
        guard within < s.fileSize else { throw .notDumped(bit: slot) }
        guard s.fileSize - within >= count else { throw .pastEndOfFile(offset: FileOffset(s.fileOffset &+ within)) }
        return (FileOffset(s.fileOffset &+ page), lookup)
    }

    func presentPages(from pa: PhysicalAddress, length: UInt64) -> Int {
        let (end, over) = pa.rawValue.addingReportingOverflow(length)
        let last = over ? UInt64.max : end
        var present: UInt64 = 0
        // From the segment holding or following `pa` (binary search) to the first one past the span.
        let all = segments.segments
        var low = 0, high = all.count
        while low < high {
            let mid = (low + high) / 2
            if all[mid].physicalStart &+ all[mid].memorySize <= pa.rawValue { low = mid + 1 } else { high = mid }
        }
        for s in all[low...] {
            guard s.physicalStart < last else { break }
            let wholeEnd = s.physicalStart &+ (s.fileSize & ~0xfff)
            let from = max(s.physicalStart, pa.pageBase.rawValue), to = min(wholeEnd, last)
            if from < to { present &+= (to - from + 0xfff) >> 12 }
        }
        return Int(present)
    }

    func steps(of lookup: PageLookup) -> [WalkStep] {
        let s = segments.segments[lookup.bin]
        return [
            WalkStep(name: .init(text: "phdr", key: "program_header", kind: .count), value: UInt64(s.index)),
            WalkStep(name: .init(text: "p_paddr", key: "segment_physical_address", kind: .address), value: s.physicalStart),
            WalkStep(name: .init(text: "p_offset", key: "segment_file_offset", kind: .address), value: s.fileOffset),
        ]
    }

    func reason(_ miss: ContainerMiss, _ pa: PhysicalAddress) -> TranslationError.Reason {
        switch miss {
        case .outsideRanges: .physicalAddressOutsideSegments(pa)
        case .notDumped: .physicalAddressPastSegmentFileSize(pa)
        case .pastEndOfFile(let offset): .pagePastEndOfFile(pa, offset: offset, fileSize: UInt64(bytes.count))
        }
    }

    func forEachRun(_ body: (PhysicalAddress, FileOffset, UInt64) -> Bool) {
        for s in segments.segments where s.fileSize >= 4096 {
            guard body(PhysicalAddress(s.physicalStart), FileOffset(s.fileOffset), s.fileSize >> 12) else { return }
        }
    }

    func forEachDumpedPage(notIn covered: [(start: PhysicalAddress, length: UInt64)],
                           _ body: (PhysicalAddress, FileOffset?) -> Bool) {
        let spans = covered.map { c in
            (c.start.pageBase.rawValue, c.start.rawValue.addingReportingOverflow(c.length).overflow ? UInt64.max : c.start.rawValue + c.length)
        }.sorted { $0.0 < $1.0 }
        for s in segments.segments {
            var pa = s.physicalStart
            var next = 0
            while pa - s.physicalStart < s.fileSize {
                while next < spans.count, spans[next].1 <= pa { next += 1 }
                if next < spans.count, spans[next].0 <= pa {
                    // Skip to the end of the covering span.
                    let end = (spans[next].1 &+ 0xfff) & ~0xfff
                    guard end > pa else { break }
                    pa = end
                    continue
                }
                let whole = s.fileSize - (pa - s.physicalStart) >= 4096
                guard body(PhysicalAddress(pa), whole ? FileOffset(s.fileOffset + (pa - s.physicalStart)) : nil) else { return }
                let (n, o) = pa.addingReportingOverflow(4096)
                if o { break }
                pa = n
            }
        }
    }
}
