/// A generated minidump held in memory, with its ground truth.
public struct GeneratedDump: Sendable {
    /// The whole file (truncated if the description asked for it).
    public var bytes: [UInt8]
    /// What the file contains.
    public var truth: GroundTruth

    /// Creates a dump from file bytes and truth (used for corrupt variants).
    public init(bytes: [UInt8], truth: GroundTruth) {
        self.bytes = bytes
        self.truth = truth
    }

    /// Writes `bytes` to `path` as a sparse file (all-zero 4 KiB blocks become holes).
    public func write(to path: String) throws(GeneratorError) {
        var sink = try FileSink(path: path, size: UInt64(bytes.count))
        try sink.writeSkippingZeroBlocks(bytes, at: 0)
        try sink.finish()
    }
}

/// Generates the whole dump in memory (for small dumps).
public func generateDump(_ d: DumpDescription) throws(GeneratorError) -> GeneratedDump {
    let plan = try DumpPlan(d)
    var sink = MemorySink(size: plan.truth.fileSize)
    try plan.emit(into: &sink)
    return GeneratedDump(bytes: sink.bytes, truth: plan.truth)
}

/// Streams the dump to `path` as a sparse file without holding it in memory; returns its ground truth.
public func writeDump(_ d: DumpDescription, to path: String) throws(GeneratorError) -> GroundTruth {
    let plan = try DumpPlan(d)
    var sink = try FileSink(path: path, size: plan.truth.fileSize)
    try plan.emit(into: &sink)
    try sink.finish()
    return plan.truth
}

/// The ground truth of a description without producing the file (cheap even for the benchmark presets).
public func groundTruth(for d: DumpDescription) throws(GeneratorError) -> GroundTruth {
    try DumpPlan(d).truth
}

/// Section contents and ground truth, computed before anything is written.
struct DumpPlan {
    static let magic = Array("minidump FreeBSD/amd64".utf8)

    var truth: GroundTruth
    var header: [UInt8]
    var messageBuffer: [UInt8]
    var dumpAvail: [UInt8]
    var bitmap: [UInt64]

    init(_ d: DumpDescription) throws(GeneratorError) {
        try validate(d)
        let index = PhysicalIndex(ranges: d.physicalRanges, version: d.version)
        var memory = PhysicalMemory(index: index, seed: d.seed)
        for m in d.mappings {
            if case .physical(let pa) = m.placement { memory.markDumped(pa, size: m.pageSize.rawValue * UInt64(m.count)) }
        }
        let mb = d.messageBuffer
        let msgPA: UInt64
        if let pa = mb.physicalAddress {
            guard let k = index.rangeIndex(of: pa), pa + UInt64(mb.reservedSize) <= index.ranges[k].upperBound else {
                throw .invalidDescription("message buffer at \(hex(pa)) is not inside one RAM range")
            }
            memory.markDumped(pa, size: UInt64(mb.reservedSize))
            msgPA = pa
        } else {
            msgPA = try memory.allocateTop(size: UInt64(mb.reservedSize))
        }
        let image = try MessageBufferImage(mb, ringAddress: d.dmapBase + msgPA)
        let map = try KernelMap(d, memory: &memory)
        var dmapOnly: [UInt64] = []
        for i in 0..<d.directMapOnlyPages {
            dmapOnly.append(try memory.allocate(size: 0x1000, what: "direct-map-only page \(i)"))
        }
        dmapOnly.sort()

        var special: [UInt64: [UInt8]] = [:]
        for (pa, ptes) in map.tables { special[pa] = littleEndianBytes(ptes[...]) }
        for p in stride(from: 0, to: mb.reservedSize, by: 4096) {
            special[msgPA + UInt64(p)] = Array(image.bytes[p..<(p + 4096)])
        }

        let msgbufSize = UInt64(mb.ringSize)
        let dumpAvailSize: UInt64 = d.version == 3 ? 4096 : 0
        let mapSize = UInt64(d.kernelMapSlots) * 4096
        let dumpAvailOffset = 4096 + roundPage(msgbufSize)
        let bitmapOffset = dumpAvailOffset + dumpAvailSize
        let mapOffset = bitmapOffset + index.bitmapSize
        let dataOffset = mapOffset + mapSize
        let dumped = memory.dumpedPages()
        let complete = dataOffset + UInt64(dumped.count) * 4096
        let fileSize: UInt64
        switch d.truncation {
        case nil: fileSize = complete
        case .fileSize(let n): fileSize = n
        case .dataPages(let keep, let extra): fileSize = min(complete, dataOffset + UInt64(keep) * 4096 + UInt64(extra))
        }
        let kernbase = d.effectiveKernbase
        let kernelPages = map.kernelPages(version: d.version, kernbase: kernbase) { pa in
            index.bit(of: pa).map { memory.test($0) } ?? false
        }

        truth = GroundTruth(
            version: d.version, kernbase: kernbase, dmapBase: d.dmapBase, dmapEnd: d.dmapEnd,
            msgbufSize: UInt32(msgbufSize), bitmapSize: UInt32(index.bitmapSize), pageTableMapSize: UInt32(mapSize),
            dumpAvailSize: UInt32(dumpAvailSize), msgbufOffset: 4096, dumpAvailOffset: dumpAvailOffset,
            bitmapOffset: bitmapOffset, pageTableMapOffset: mapOffset, dataOffset: dataOffset,
            fileSize: fileSize, completeFileSize: complete, physicalRanges: d.physicalRanges,
            dumpedPages: dumped, pageTableMap: map.entries, pageTablePages: map.tables.keys.sorted(),
            directMapOnlyPages: dmapOnly, kernelPages: kernelPages, messageText: image.messageText,
            unreadText: image.unreadText, msgbufVirtualAddress: d.dmapBase + msgPA, msgbufPhysicalAddress: msgPA,
            msgbufStructVirtualAddress: mb.structState == .absent ? nil : d.dmapBase + msgPA + msgbufSize,
            msgbufStructState: mb.structState, msgbufStructSize: mb.structBytes, msgbufWriteSequence: image.writeSequence,
            msgbufReadSequence: image.readSequence, overlays: d.overlays, stampPages: d.stampPages,
            specialPages: [:])

        // Page by page: one translation per run of bytes inside a 4 KiB page (the thread fixtures have many pages).
        for overlay in d.overlays {
            var i = 0
            while i < overlay.bytes.count {
                let va = overlay.va + UInt64(i)
                guard let pa = truth.physicalAddress(ofVirtual: va), truth.isDumped(physicalPage: pa) else {
                    throw .invalidDescription("overlay byte at \(hex(va)) is not mapped to a dumped page")
                }
                let n = min(overlay.bytes.count - i, 4096 - Int(va & 0xfff), 4096 - Int(pa & 0xfff))
                let page = pa & ~0xfff
                if special[page] == nil {
                    special[page] = (0..<4096).map { d.stampPages ? pageStamp(physicalAddress: page, offset: $0) : 0 }
                }
                let at = Int(pa & 0xfff)
                special[page]!.replaceSubrange(at..<at + n, with: overlay.bytes[i..<i + n])
                i += n
            }
        }
        truth.specialPages = special

        header = [UInt8](repeating: 0, count: 4096)
        header.replaceSubrange(0..<DumpPlan.magic.count, with: DumpPlan.magic)
        setU32LE(&header, at: 24, d.version)
        setU32LE(&header, at: 28, UInt32(msgbufSize))
        setU32LE(&header, at: 32, UInt32(index.bitmapSize))
        setU32LE(&header, at: 36, UInt32(mapSize))
        setU64LE(&header, at: 40, kernbase)
        setU64LE(&header, at: 48, d.dmapBase)
        setU64LE(&header, at: 56, d.dmapEnd)
        setU32LE(&header, at: 64, UInt32(dumpAvailSize))
        messageBuffer = image.bytes
        dumpAvail = []
        if d.version == 3 {
            dumpAvail = [UInt8](repeating: 0, count: 4096)
            for (i, r) in d.physicalRanges.enumerated() {
                setU64LE(&dumpAvail, at: 16 * i, r.lowerBound)
                setU64LE(&dumpAvail, at: 16 * i + 8, r.upperBound)
            }
        }
        bitmap = memory.words
    }

    /// Writes every section and data page into `sink`.
    func emit<S: ByteSink>(into sink: inout S) throws(GeneratorError) {
        try sink.writeSkippingZeroBlocks(header, at: 0)
        try sink.writeSkippingZeroBlocks(messageBuffer, at: truth.msgbufOffset)
        try sink.writeSkippingZeroBlocks(dumpAvail, at: truth.dumpAvailOffset)
        try sink.writeWords(bitmap, at: truth.bitmapOffset)
        try sink.writeWords(truth.pageTableMap, at: truth.pageTableMapOffset)
        let pages = truth.dumpedPages
        if truth.stampPages {
            let batch = 64
            var buffer = [UInt8](repeating: 0, count: batch * 4096)
            for first in stride(from: 0, to: pages.count, by: batch) {
                let n = min(batch, pages.count - first)
                for k in 0..<n {
                    if let special = truth.specialPages[pages[first + k]] {
                        buffer.replaceSubrange((k * 4096)..<((k + 1) * 4096), with: special)
                    } else {
                        fillStamp(&buffer, at: k * 4096, page: pages[first + k])
                    }
                }
                try sink.write(buffer, from: 0, count: n * 4096, at: truth.dataOffset + UInt64(first) * 4096)
            }
        } else {
            for page in truth.specialPages.keys.sorted() {
                try sink.writeSkippingZeroBlocks(truth.specialPages[page]!, at: truth.fileOffset(ofPhysicalPage: page)!)
            }
        }
    }
}

/// Rejects descriptions the FreeBSD writer could not have produced (or this generator cannot lay out).
func validate(_ d: DumpDescription) throws(GeneratorError) {
    func fail(_ why: String) -> GeneratorError { .invalidDescription(why) }
    guard (1...3).contains(d.version) else { throw fail("version \(d.version) is not 1, 2 or 3") }
    guard !d.physicalRanges.isEmpty else { throw fail("no physical ranges") }
    var previousEnd: UInt64 = 0
    for (i, r) in d.physicalRanges.enumerated() {
        guard r.lowerBound & 0xfff == 0, r.upperBound & 0xfff == 0, !r.isEmpty else {
            throw fail("range \(i) [\(hex(r.lowerBound)), \(hex(r.upperBound))) is empty or not page aligned")
        }
        guard i == 0 || r.lowerBound >= previousEnd else { throw fail("range \(i) is not above range \(i - 1)") }
        previousEnd = r.upperBound
    }
    guard d.version != 3 || d.physicalRanges.count <= 255 else { throw fail("more than 255 ranges do not fit dump_avail") }
    guard PhysicalIndex(ranges: d.physicalRanges, version: d.version).bitmapSize <= 0xffff_f000 else {
        throw fail("bitmap would exceed 4 GiB")
    }
    guard d.kernelMapSlots >= 1, d.kernelMapSlots <= 0xf_ffff else { throw fail("kernelMapSlots \(d.kernelMapSlots) out of range") }
    let kernbase = d.effectiveKernbase
    guard kernbase & (d.version == 1 ? 0xfff : 0x1f_ffff) == 0 else { throw fail("kernbase \(hex(kernbase)) is misaligned") }
    guard d.dmapBase < d.dmapEnd, d.dmapBase & 0xfff == 0 else { throw fail("direct map bounds are invalid") }
    guard d.dmapEnd - d.dmapBase >= previousEnd else { throw fail("RAM up to \(hex(previousEnd)) does not fit in the direct map") }
    guard d.directMapOnlyPages >= 0 else { throw fail("negative directMapOnlyPages") }
    let mapPages = UInt64(d.kernelMapSlots) * (d.version == 1 ? 512 : 512 * 512)
    for (i, m) in d.mappings.enumerated() {
        let size = m.pageSize.rawValue
        guard m.count >= 0, UInt64(m.count) * (size >> 12) <= mapPages else { throw fail("mapping \(i) count \(m.count) is out of range") }
        guard m.virtualAddress & (size - 1) == 0 else { throw fail("mapping \(i) VA \(hex(m.virtualAddress)) is not aligned to its page size") }
        if case .physical(let pa) = m.placement, pa & (size - 1) != 0 || pa >> 52 != 0 {
            throw fail("mapping \(i) PA \(hex(pa)) is not aligned to its page size or exceeds 52 bits")
        }
    }
    if let pa = d.messageBuffer.physicalAddress, pa & 0xfff != 0 { throw fail("message buffer PA \(hex(pa)) is not page aligned") }
}
