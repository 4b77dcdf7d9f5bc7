import Testing
import MappedBytes
@testable import MinidumpCore
import VMCoreBuilder

/// amd64 full (ELF) dumps: the PT_LOAD table, physical reads, the kernel PML4 search and the
/// 4-level walk, checked against the generator's ground truth.
private func open(_ dump: GeneratedFullDump) -> (MappedFile, FullDumpSegments) {
    let file = MappedFile(name: "full.vmcore", contents: dump.bytes)
    return (file, try! FullDumpSegments(file.bytes))
}

private func find(_ dump: GeneratedFullDump, _ file: MappedFile, _ segments: FullDumpSegments) throws(KernelTablesError) -> KernelTables {
    try findKernelTables(segments: segments, bytes: file.bytes, kernbase: dump.truth.kernbase,
                         kpml4physAddress: dump.truth.kpml4physAddress)
}

/// Virtual addresses to check: both kernel page sizes and the direct map.
private func probes(_ t: FullDumpTruth) -> [UInt64] {
    [t.kernelVirtualBase, t.kernelVirtualBase + 0x1234, t.kernelVirtualBase + 0x1f_fff8, t.kernelVirtualBase + 0x20_0000,
     t.kernelVirtualBase + t.kernelSize - 16, t.kpml4physAddress, t.dmapBase + 0x10_0000, t.dmapBase + 0x1ff_f000 + 7]
}

@Suite struct FullDumpTests {
    @Test func headerIsWhatTheKernelWrites() throws {
        let dump = try generateFullDump(FullDumpDescription())
        let (file, segments) = open(dump)
        #expect(FullDumpSegments.probe(file.bytes))
        #expect(segments.osabi == 255 && segments.elfVersion == 0)
        #expect(segments.segments.count == dump.truth.segments.count)
        for (s, t) in zip(segments.segments, dump.truth.segments) {
            #expect(s.physicalStart == t.range.lowerBound && s.fileSize == UInt64(t.range.count) && s.fileOffset == t.fileOffset)
        }
        #expect(segments.dumpDelta == nil)
    }

    @Test func physicalReadsMatchTruth() throws {
        let dump = try generateFullDump(FullDumpDescription())
        let (file, segments) = open(dump)
        // Within a segment, at the start of the second, the last bytes of RAM, the page tables.
        for pa: UInt64 in [0, 0x1234, 0x9e_ff8, 0x10_0000, 0x1ff_fff0, dump.truth.pml4PhysicalAddress] {
            let n: UInt64 = pa == 0x1ff_fff0 ? 16 : 64
            #expect(segments.read(file.bytes, physical: pa, length: n) == dump.truth.physicalBytes(pa, length: Int(n)))
        }
        // The hole between the segments and past the end of RAM are misses, not zeros.
        #expect(segments.read(file.bytes, physical: 0x9f000, length: 1) == nil)
        #expect(segments.read(file.bytes, physical: 0x9e_ff8, length: 16) == nil)
        #expect(segments.read(file.bytes, physical: 0x200_0000, length: 1) == nil)
        #expect(segments.read(file.bytes, physical: UInt64.max, length: 2) == nil)
    }

    @Test(arguments: [(UInt64(0x20_0000), false), (0x20_0000, true), (0x100_0000, false), (0x100_0000, true), (0x160_0000, false)])
    func kernelTablesFoundAndVirtualReadsMatch(base: UInt64, delta: Bool) throws {
        let dump = try generateFullDump(FullDumpDescription(kernelPhysicalBase: base, dumpDelta: delta))
        let (file, segments) = open(dump)
        let tables = try find(dump, file, segments)
        #expect(tables.pml4 == dump.truth.pml4PhysicalAddress)
        #expect(tables.kernelPhysicalBase == base)
        #expect(tables.rule == (delta ? .dumpDelta : base == 0x20_0000 ? .loadedAt2MiB : .searched))
        for va in probes(dump.truth) {
            let walk = try walkAMD64(va, pml4: tables.pml4) { segments.uint64(file.bytes, physical: $0) }
            #expect(walk.physicalAddress == dump.truth.physicalAddress(ofVirtual: va), "va 0x\(String(va, radix: 16))")
            #expect(segments.read(file.bytes, physical: walk.physicalAddress, length: 8) == dump.truth.physicalBytes(walk.physicalAddress, length: 8))
        }
        let small = try walkAMD64(dump.truth.kernelVirtualBase + 5, pml4: tables.pml4) { segments.uint64(file.bytes, physical: $0) }
        #expect(small.pageSize == 4096 && small.levels.count == 4)
        let large = try walkAMD64(dump.truth.kernelVirtualBase + 0x20_0005, pml4: tables.pml4) { segments.uint64(file.bytes, physical: $0) }
        #expect(large.pageSize == 0x20_0000 && large.levels.count == 3)
        let dmap = try walkAMD64(dump.truth.dmapBase + 5, pml4: tables.pml4) { segments.uint64(file.bytes, physical: $0) }
        #expect(dmap.pageSize == 1 << 30 && dmap.levels.count == 2)
    }

    /// A kernel at 16 MiB: libkvm's unvalidated 2 MiB rule reads KPML4phys from the wrong bytes.
    @Test func twoMiBRuleAloneGivesWrongBytes() throws {
        let dump = try generateFullDump(FullDumpDescription(kernelPhysicalBase: 0x100_0000))
        let (file, segments) = open(dump)
        let naive = segments.uint64(file.bytes, physical: dump.truth.kpml4physAddress - dump.truth.kernbase)
        #expect(naive != nil && naive != dump.truth.pml4PhysicalAddress)
        let tables = try find(dump, file, segments)
        #expect(tables.rule == .searched && tables.pml4 == dump.truth.pml4PhysicalAddress)
        #expect(tables.candidatesTried > 0)
    }

    @Test func unmappedAndNonCanonicalAddresses() throws {
        let dump = try generateFullDump(FullDumpDescription())
        let (file, segments) = open(dump)
        let pml4 = dump.truth.pml4PhysicalAddress
        let read = { (pa: UInt64) in segments.uint64(file.bytes, physical: pa) }
        #expect(throws: AMD64WalkError.nonCanonical(va: 0x0000_8000_0000_0000)) { try walkAMD64(0x0000_8000_0000_0000, pml4: pml4, read: read) }
        #expect(throws: AMD64WalkError.self) { try walkAMD64(0xffff_ffff_8000_0000, pml4: pml4, read: read) }
        #expect(throws: AMD64WalkError.self) { try walkAMD64(0x1000, pml4: pml4, read: read) }
    }
}

/// Hostile ELF headers: clear errors naming the field, never a trap.
@Suite struct HostileFullDumpTests {
    static let small = try! generateFullDump(FullDumpDescription(physicalRanges: [0x10_0000..<0x60_0000], kernelSize: 0x20_0000))

    func parse(_ bytes: [UInt8]) -> FullDumpError? {
        let file = MappedFile(name: "x", contents: bytes)
        return withExtendedLifetime(file) {
            do throws(FullDumpError) { _ = try FullDumpSegments(file.bytes); return nil } catch { return error }
        }
    }
    func put(_ b: inout [UInt8], _ at: Int, _ v: UInt64, _ n: Int) { for i in 0..<n { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }

    @Test func overlappingSegments() throws {
        let dump = try generateFullDump(FullDumpDescription())
        var b = dump.bytes
        put(&b, 64 + 56 + 24, 0x9e000, 8)  // second PT_LOAD's p_paddr inside the first
        let e = parse(b)
        #expect(e?.field == "phdr[1].p_paddr" && e?.value == 0x9e000)
        #expect(e?.description.contains("overlaps PT_LOAD phdr[0]") == true)
    }

    @Test func segmentPastEndOfFile() {
        var b = Self.small.bytes
        b.removeLast(4096)
        let e = parse(b)
        #expect(e?.field == "phdr[0].p_offset")
        #expect(e?.description.contains("past the end of the file") == true)
        var c = Self.small.bytes
        put(&c, 64 + 8, UInt64.max - 8, 8)
        #expect(parse(c)?.field == "phdr[0].p_offset")
    }

    @Test func absurdCountsAndSizes() {
        var b = Self.small.bytes
        put(&b, 56, 0xfffe, 2)
        #expect(parse(b)?.field == "e_phnum")
        put(&b, 56, 0xffff, 2)
        #expect(parse(b)?.field == "e_phnum")
        put(&b, 56, 3000, 2)
        _ = parse(b)                              // 3000 headers read data pages as headers: any error, no trap
        var c = Self.small.bytes
        put(&c, 32, UInt64.max - 10, 8)
        #expect(parse(c)?.field == "e_phoff")
        var d = Self.small.bytes
        put(&d, 64 + 40, 0x1000, 8)              // p_memsz < p_filesz
        #expect(parse(d)?.field == "phdr[0].p_filesz")
        var e = Self.small.bytes
        put(&e, 64 + 24, UInt64.max - 0x1000, 8) // p_paddr + p_memsz overflows
        #expect(parse(e)?.field == "phdr[0].p_paddr")
        #expect(parse(Array(Self.small.bytes.prefix(40)))?.field == "file size")
        var f = Self.small.bytes
        put(&f, 54, 32, 2)
        #expect(parse(f)?.field == "e_phentsize")
    }

    @Test func kernelTablesThatFitNoBase() throws {
        // KPML4phys pointing outside RAM, and then at a page that is not a PML4.
        for bad: UInt64 in [0x7f_0000_0000, 0x30_0000] {
            let dump = try generateFullDump(FullDumpDescription(kernelPhysicalBase: 0x100_0000))
            var b = dump.bytes
            let at = Int(dump.truth.fileOffset(ofPhysical: dump.truth.kernelPhysicalBase + (dump.truth.kpml4physAddress - dump.truth.kernelVirtualBase))!)
            put(&b, at, bad, 8)
            let file = MappedFile(name: "x", contents: b)
            let segments = try FullDumpSegments(file.bytes)
            #expect(throws: KernelTablesError.self) {
                try findKernelTables(segments: segments, bytes: file.bytes, kernbase: dump.truth.kernbase,
                                     kpml4physAddress: dump.truth.kpml4physAddress)
            }
        }
        // A PT_DUMP_DELTA that names the wrong base is an error, not a silent fallback.
        let dump = try generateFullDump(FullDumpDescription(kernelPhysicalBase: 0x100_0000, dumpDelta: true))
        var b = dump.bytes
        put(&b, 64 + 56 * dump.truth.segments.count + 24, 0x20_0000, 8)
        let file = MappedFile(name: "x", contents: b)
        let segments = try FullDumpSegments(file.bytes)
        do throws(KernelTablesError) {
            _ = try findKernelTables(segments: segments, bytes: file.bytes, kernbase: dump.truth.kernbase,
                                     kpml4physAddress: dump.truth.kpml4physAddress)
            Issue.record("a wrong PT_DUMP_DELTA was accepted")
        } catch {
            #expect(error.description.contains("PT_DUMP_DELTA gives kernel base 0x200000"))
        }
    }

    @Test func mutatedHeadersNeverTrap() {
        var rng = SplitMix64(seed: 14)
        for _ in 0..<300 {
            var b = Array(Self.small.bytes.prefix(4096 + 0x1000))
            for _ in 0..<4 { b[Int(rng.next(below: 64 + 56 * 2))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = parse(b)
        }
    }
}

/// The PT_LOAD container behind the `PhysicalContainer` seam.
@Suite struct SegmentContainerTests {
    @Test func locateMatchesTruth() throws {
        let dump = try generateFullDump(FullDumpDescription())
        let (file, segments) = open(dump)
        let c = SegmentContainer(segments: segments, bytes: file.bytes)
        for pa: UInt64 in [0, 0x5123, 0x9e000, 0x10_0000, 0x1ff_f000, dump.truth.pml4PhysicalAddress + 8] {
            let (offset, lookup) = try c.locate(PhysicalAddress(pa), bytes: 1)
            #expect(offset.rawValue == dump.truth.fileOffset(ofPhysical: pa & ~0xfff))
            #expect(c.steps(of: lookup).first?.value == UInt64(lookup.bin))
            #expect(c.offset(of: PhysicalAddress(pa))?.rawValue == dump.truth.fileOffset(ofPhysical: pa & ~0xfff))
        }
        #expect(throws: ContainerMiss.self) { try c.locate(PhysicalAddress(0x9f000), bytes: 1) }
        #expect(throws: ContainerMiss.self) { try c.locate(PhysicalAddress(0x200_0000), bytes: 1) }
        #expect(c.dumpedPageCount == (0x9f000 + 0x1f0_0000) / 4096 && c.pagesInFile == c.dumpedPageCount)
        #expect(c.physicalRanges.map { $0.start.rawValue } == [0, 0x10_0000])
        #expect(c.presentPages(from: PhysicalAddress(0x9e000), length: 0x63000) == 2)  // 0x9e000 and 0x100000
        var runs: [(UInt64, UInt64, UInt64)] = []
        c.forEachRun { pa, off, n in runs.append((pa.rawValue, off.rawValue, n)); return true }
        #expect(runs.map { $0.0 } == [0, 0x10_0000] && runs.map { $0.2 } == [0x9f, 0x1f00])
        #expect(runs.map { $0.1 } == dump.truth.segments.map { $0.fileOffset })
        var pages: [UInt64] = []
        c.forEachDumpedPage(notIn: [(PhysicalAddress(0x1000), 0x9d000), (PhysicalAddress(0x10_0000), 0x1eff_000)]) { pa, off in
            #expect(off?.rawValue == dump.truth.fileOffset(ofPhysical: pa.rawValue))
            pages.append(pa.rawValue); return true
        }
        #expect(pages == [0, 0x9e000, 0x1fff_000])
    }

    @Test func memoryBeyondFileSizeIsNotDumped() throws {
        let dump = try generateFullDump(FullDumpDescription())
        var b = dump.bytes
        for i in 0..<8 { b[64 + 40 + i] = UInt8(truncatingIfNeeded: UInt64(0xa0000) >> (8 * UInt64(i))) }  // phdr[0] p_memsz 0xa0000
        let file = MappedFile(name: "x", contents: b)
        let c = SegmentContainer(segments: try FullDumpSegments(file.bytes), bytes: file.bytes)
        do throws(ContainerMiss) {
            _ = try c.locate(PhysicalAddress(0x9f010), bytes: 1)
            Issue.record("memory past p_filesz was located")
        } catch {
            guard case .notDumped(let slot) = error else { Issue.record("wrong miss \(error)"); return }
            #expect(slot == 0x9f)
        }
        #expect(c.reason(.notDumped(bit: 0x9f), PhysicalAddress(0x9f010)) == .physicalAddressPastSegmentFileSize(PhysicalAddress(0x9f010)))
        #expect(c.describablePages == c.dumpedPageCount + 1)
    }

    @Test func unalignedSegmentsAreRejected() throws {
        let dump = try generateFullDump(FullDumpDescription())
        var b = dump.bytes
        b[64 + 56 + 24] = 0x10   // phdr[1] p_paddr 0x100010
        let file = MappedFile(name: "x", contents: b)
        #expect(throws: FullDumpError(field: "phdr[1].p_paddr", value: 0x10_0010, why: "not page aligned")) {
            try FullDumpSegments(file.bytes)
        }
    }
}
