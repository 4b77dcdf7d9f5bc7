import Testing
import MappedBytes
@testable import MinidumpCore
import VMCoreBuilder

/// Full dumps of a minidump machine opened through `Dump`: the registered format, physical reads
/// without the kernel, the kernel tables from the symbols (every rule), virtual reads and the
/// kernel-map census against the generator's ground truth, and every corruption's error.

private func machine() -> DumpDescription { KernelFixture.dumpDescription() }

private func generate(_ base: UInt64 = 0x20_0000, delta: Bool = false, stale: Bool = false,
                      ram: FullDumpOfMachine.RAM = .dumpedRuns) -> GeneratedFullDumpOfMachine {
    try! generateFullDump(FullDumpOfMachine(machine: machine(), kernelPhysicalBase: base, dumpDelta: delta,
                                             staleImageAt2MiB: stale, ram: ram))
}

private func open(_ g: GeneratedFullDumpOfMachine) throws -> Dump {
    try Dump(contents: g.bytes, name: "vmcore.full")
}

private func withTables(_ g: GeneratedFullDumpOfMachine) throws -> Dump {
    try open(g).withKernelTables(kernbase: g.truth.kernbase, kpml4physAddress: g.truth.kpml4physAddress)
}

/// VAs to check: every machine kernel page (first and last bytes), the image, the direct map.
private func probes(_ t: FullDumpOfMachineTruth) -> [UInt64] {
    var vas = t.machine.kernelPages.flatMap { [$0.va, $0.va + min($0.size, 0x1000) - 8] }
    vas += [t.kernelVirtualBase, t.kpml4physAddress, t.kernelVirtualBase + t.kernelRegionSize - 8]
    vas += t.segments.map { t.machine.dmapBase + $0.range.lowerBound + 0x10 }
    return vas
}

@Suite struct FullDumpMachineTests {
    @Test func opensThroughTheRegistryAndReadsPhysicalMemoryWithoutTheKernel() throws {
        let g = generate()
        let dump = try open(g)
        #expect(dump.isFullDump && dump.needsKernelTables)
        #expect(dump.physicalRanges.map { $0.start.rawValue..<$0.end.rawValue } == g.truth.segments.map(\.range))
        for s in g.truth.segments {
            for pa in [s.range.lowerBound, s.range.upperBound - 16] {
                let r = dump.readPhysical(PhysicalAddress(pa), count: 16)
                #expect(r.error == nil && r.bytes == g.truth.physicalBytes(pa, length: 16), "pa \(pa)")
                #expect(dump.fileOffset(ofPhysical: PhysicalAddress(pa))?.rawValue == g.truth.fileOffset(ofPhysical: pa))
            }
        }
        // A read across the end of a segment stops there, with the bytes before it.
        let first = g.truth.segments[0].range
        let r = dump.readPhysical(PhysicalAddress(first.upperBound - 8), count: 16)
        let gap = !g.truth.isRAM(first.upperBound)
        #expect(gap)
        #expect(r.bytes == g.truth.physicalBytes(first.upperBound - 8, length: 8))
        #expect(r.error?.reason == .physicalAddressOutsideSegments(PhysicalAddress(first.upperBound)))
        // Translation says it needs the kernel image.
        #expect(throws: TranslationError.self) { try dump.translate(VirtualAddress(g.truth.kpml4physAddress)) }
        do {
            _ = try dump.translate(VirtualAddress(g.truth.kpml4physAddress))
        } catch {
            #expect(error.reason == .kernelTablesUnknown(ELFFullDumpFormat.needsKernelImage))
        }
        #expect(dump.kernelPages().isEmpty)
        #expect(dump.messageBuffer().ring.isEmpty)
    }

    @Test(arguments: [(UInt64(0x20_0000), false, KernelTableRule.loadedAt2MiB), (0x20_0000, true, .dumpDelta),
                      (0x100_0000, false, .searched), (0x100_0000, true, .dumpDelta), (0x1_0040_0000, false, .searched)])
    func kernelTablesFoundAndEveryReadMatches(base: UInt64, delta: Bool, rule: KernelTableRule) throws {
        let g = generate(base, delta: delta)
        let dump = try withTables(g)
        #expect(!dump.needsKernelTables)
        let tables = try #require(dump.kernelTables?.tables)
        #expect(tables.rule == rule && tables.pml4 == g.truth.pml4PhysicalAddress && tables.kernelPhysicalBase == base)
        for va in probes(g.truth) {
            let expected = g.truth.virtualBytes(va, count: 8)
            let got = dump.read(VirtualAddress(va), count: 8)
            if let expected {
                #expect(got.error == nil && got.bytes == expected, "va 0x\(String(va, radix: 16))")
                let t = try dump.translate(VirtualAddress(va))
                #expect(t.physicalAddress.rawValue == g.truth.physicalAddress(ofVirtual: va))
                #expect(t.fileOffset.rawValue == g.truth.fileOffset(ofPhysical: t.physicalAddress.rawValue))
            } else {
                #expect(got.error != nil, "va 0x\(String(va, radix: 16)) should not read")
            }
        }
    }

    /// Each translation names the page that maps it: the machine's 4 KiB and 2 MiB kernel pages, and the
    /// direct map's 1 GiB pages (once reported as 2 MiB).
    @Test func translationsReportThePageSizeOfTheirMapping() throws {
        let g = generate()
        let dump = try withTables(g)
        for page in g.truth.machine.kernelPages where page.present {
            let t = try dump.translate(VirtualAddress(page.va + 8))
            #expect(t.pageSize.bytes == page.size && t.map == .kernelMap, "va 0x\(String(page.va, radix: 16))")
        }
        for segment in g.truth.segments {
            let t = try dump.translate(VirtualAddress(g.truth.machine.dmapBase + segment.range.lowerBound + 0x10))
            #expect(t.pageSize == PageSize(rawValue: 1 << 30) && t.map == .directMap)
            #expect(t.physicalAddress.rawValue == segment.range.lowerBound + 0x10)
        }
    }

    /// The kernel at 16 MiB with a stale image at 2 MiB: libkvm's 2 MiB rule alone takes the stale
    /// KPML4phys and reads wrong bytes; the validated rules reject it and read the right ones.
    @Test func twoMiBRuleAloneReadsWrongBytesWhereTheSearchReadsTheRightOnes() throws {
        let g = generate(0x100_0000, stale: true)
        let dump = try withTables(g)
        let file = MappedFile(name: "x", contents: g.bytes)
        let segments = try FullDumpSegments(file.bytes)
        let naivePML4 = try #require(segments.uint64(file.bytes, physical: g.truth.kpml4physAddress - g.truth.kernbase))
        #expect(naivePML4 == g.truth.stalePML4PhysicalAddress && naivePML4 != g.truth.pml4PhysicalAddress)
        #expect(dump.kernelTables?.tables?.rule == .searched)
        var compared = 0
        for page in g.truth.machine.kernelPages where page.size == 0x1000 && page.present {
            let expected = try #require(g.truth.virtualBytes(page.va + 8, count: 32))
            let walk = try walkAMD64(page.va + 8, pml4: naivePML4) { segments.uint64(file.bytes, physical: $0) }
            let naive = segments.read(file.bytes, physical: walk.physicalAddress, length: 32)
            #expect(naive != nil && naive != expected, "the 2 MiB rule reads other bytes at 0x\(String(page.va, radix: 16))")
            #expect(dump.read(VirtualAddress(page.va + 8), count: 32).bytes == expected)
            compared += 1
        }
        #expect(compared > 10)
    }

    @Test func kernelMapCensusMatchesTheTables() throws {
        let g = generate()
        let dump = try withTables(g)
        let pages = dump.kernelPages()
        // The machine's pages (1 GiB ones as 512 2 MiB pieces) and the image region, in VA order.
        var expected: [(UInt64, UInt64)] = []
        for p in g.truth.machine.kernelPages {
            if p.size == 1 << 30 {
                expected += (0..<512).map { (p.va + UInt64($0) << 21, p.pa + UInt64($0) << 21) }
            } else {
                expected.append((p.va, p.pa))
            }
        }
        expected += stride(from: 0, to: g.truth.kernelRegionSize, by: 0x1000).map {
            (g.truth.kernelVirtualBase + $0, g.truth.kernelPhysicalBase + $0)
        }
        #expect(pages.map { ($0.virtualAddress.rawValue) } == expected.map(\.0))
        #expect(pages.map { ($0.physicalAddress.rawValue) } == expected.map(\.1))
        let stats = dump.statistics()
        #expect(stats.kernelMap.pageTablePagesMissing == 0)
        #expect(stats.dumpedPages == g.truth.segments.reduce(0) { $0 + UInt64($1.range.count) / 4096 })
    }

    @Test func wholeRAMVariantReadsTheMachinesPagesAndZerosElsewhere() throws {
        let g = generate(0x100_0000, delta: true, ram: .dumpAvail)
        let dump = try withTables(g)
        #expect(dump.readPhysical(PhysicalAddress(0x5_0000), count: 8).bytes == [UInt8](repeating: 0, count: 8))
        let msgbuf = g.truth.machine.msgbufPhysicalAddress
        #expect(dump.readPhysical(PhysicalAddress(msgbuf), count: 64).bytes == g.truth.physicalBytes(msgbuf, length: 64))
    }

    @Test(arguments: FullDumpCorruption.allCases)
    func everyCorruptionIsAClearError(_ corruption: FullDumpCorruption) throws {
        for delta in [false, true] {
            let g = generate(0x100_0000, delta: delta)
            let bytes = corrupt(g, corruption)
            var message = ""
            do {
                _ = try Dump(contents: bytes, name: "vmcore.bad").withKernelTables(
                    kernbase: g.truth.kernbase, kpml4physAddress: g.truth.kpml4physAddress)
                Issue.record("\(corruption) opened")
            } catch {
                message = error.description
            }
            func h(_ x: UInt64) -> String { "0x" + String(x, radix: 16) }
            switch corruption {
            case .overlappingLoads:
                #expect(message.contains("phdr[1].p_paddr = \(h(g.truth.segments[0].range.upperBound - 0x1000))") && message.contains("overlaps"), "\(message)")
            case .loadPastEndOfFile:
                #expect(message.contains("phdr[\(g.truth.segments.count - 1)].p_offset") && message.contains("past the end of the file"), "\(message)")
            case .kpml4physOutsideRAM:
                #expect(message.contains("KPML4phys = \(h(g.truth.kpml4physAddress))") && message.contains("0x700000000 is in no PT_LOAD"), "\(message)")
            case .noCandidateBase:
                #expect(message.contains("KPML4phys = \(h(g.truth.kpml4physAddress))"), "\(message)")
                #expect(message.contains(delta ? "PT_DUMP_DELTA gives kernel base 0x1000000" : "none of"), "\(message)")
            }
            #expect(message.hasPrefix("vmcore.bad: "), "\(message)")
        }
    }
}

/// `Fixtures/` at the package root, found from this file's path.
private let fixtures: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/Fixtures"
}()

@Suite struct FullDumpGoldenFileTests {
    @Test func committedFullDumpsAndKernelsAreTheGeneratorsBytes() throws {
        let readme = String(decoding: try readFileBytes(atPath: fixtures + "/README.md"), as: UTF8.self)
        for file in try goldenFullDumpFiles() {
            let onDisk = try readFileBytes(atPath: fixtures + "/" + file.fileName)
            #expect(onDisk == file.bytes, "\(file.fileName): regenerate with `make fixtures`")
            #expect(onDisk.count <= 1 << 20, "\(file.fileName) is small")
        }
        for (name, d) in try goldenFullDumps() {
            #expect(readme.contains("== \(name)\n" + (try describeFullDump(d))), "README listing of \(name) is stale: make fixtures")
            // Every golden full dump opens and finds its tables by the rule its description implies.
            let g = try generateFullDump(d)
            let dump = try Dump(contents: g.bytes, name: name).withKernelTables(kernbase: g.truth.kernbase, kpml4physAddress: g.truth.kpml4physAddress)
            let rule = dump.kernelTables?.tables?.rule
            #expect(rule == (d.dumpDelta ? .dumpDelta : d.kernelPhysicalBase == 0x20_0000 ? .loadedAt2MiB : .searched), "\(name)")
        }
    }
}

/// Hostile full dumps through `Dump`: each refused naming the field and value, or read without a trap.
@Suite struct HostileFullDumpThroughDumpTests {
    static let dump = generate(0x100_0000, delta: true)

    func problem(_ bytes: [UInt8]) -> String? {
        do {
            _ = try Dump(contents: bytes, name: "x")
            return nil
        } catch {
            return error.description
        }
    }

    @Test func headerFieldsTheKernelSetsAreChecked() {
        var b = Self.dump.bytes
        b[20] = 1  // e_version
        #expect(problem(b) == "x: ELF full dump: e_version = 0x1: not 0: the kernel leaves e_version unset in a full dump")
        b = Self.dump.bytes
        b[4] = 1  // ELFCLASS32 (an i386 full dump)
        #expect(problem(b) == "x: ELF full dump: e_ident[EI_CLASS] = 0x1: not ELFCLASS64 (2)")
        b = Self.dump.bytes
        b[18] = 3  // EM_386
        #expect(problem(b) == "x: ELF full dump: e_machine = 0x3: not EM_X86_64 (62)")
        b = Self.dump.bytes
        setU64LE(&b, at: 32, UInt64(b.count))  // e_phoff past the end
        #expect(problem(b)?.hasPrefix("x: ELF full dump: e_phoff = 0x\(String(b.count, radix: 16)): the ") == true)
        b = Self.dump.bytes
        b[56] = 0xff; b[57] = 0xff  // PN_XNUM
        #expect(problem(b) == "x: ELF full dump: e_phnum = 0xffff: more than 4096 program headers (PN_XNUM is not read)")
        b = Self.dump.bytes
        b[7] = 0  // OSABI 0: not recognised as a full dump at all
        #expect(problem(b)?.contains("not a FreeBSD full dump (its OSABI byte is not 255)") == true)
    }

    /// A PML4 whose every entry points back at itself: walks end, the census reads each table once.
    @Test func selfReferencingTablesAreBounded() throws {
        var b = Self.dump.bytes
        let t = Self.dump.truth
        let pml4 = try #require(t.fileOffset(ofPhysical: t.pml4PhysicalAddress))
        for slot in 0..<512 { setU64LE(&b, at: Int(pml4) + slot * 8, t.pml4PhysicalAddress | 0x23) }
        let dump = try Dump(contents: b, name: "loop")
        // PT_DUMP_DELTA names the base, but the looping tables do not map KPML4phys back.
        #expect(throws: DumpError.self) { try dump.withKernelTables(kernbase: t.kernbase, kpml4physAddress: t.kpml4physAddress) }
        let file = MappedFile(name: "loop", contents: b)
        let segments = try FullDumpSegments(file.bytes)
        let container = SegmentContainer(segments: segments, bytes: file.bytes)
        let tables = KernelTables(pml4: t.pml4PhysicalAddress, kernelPhysicalBase: t.kernelPhysicalBase, rule: .dumpDelta, candidatesTried: 0)
        let translator = AMD64FullDump(pages: .segments(container), tables: tables, reason: nil)
        var census = KernelMapCensus()
        var pages = 0
        translator.forEachKernelPage(census: &census) { _ in pages += 1; return true }
        #expect(census.pageTablePagesPresent == 1)
        // The walk itself ends after four levels: the "PTE" is the PML4 page with PS clear.
        let walk = try translator.walk(VirtualAddress(t.kernelVirtualBase))
        #expect(walk?.physicalAddress.rawValue == t.pml4PhysicalAddress)
    }

    /// Every single-byte change of the headers and the kernel's tables opens or fails cleanly.
    @Test func flippedBytesNeverTrap() throws {
        let t = Self.dump.truth
        // The ELF header, the first two program headers and the PT_DUMP_DELTA one.
        let delta = 64 + 56 * t.segments.count
        var offsets = Array(0..<(64 + 2 * 56)) + Array(delta..<(delta + 56))
        if let pml4 = t.fileOffset(ofPhysical: t.pml4PhysicalAddress) { offsets += (0..<64).map { Int(pml4) + 511 * 8 - 32 + $0 } }
        if let k = t.fileOffset(ofPhysical: t.kernelPhysicalBase + FullDumpOfMachine.kpml4physOffset) { offsets += (0..<8).map { Int(k) + $0 } }
        for at in offsets {
            for value: UInt8 in [0, 0xff, 0x80] {
                var b = Self.dump.bytes
                b[at] = value
                guard let dump = try? Dump(contents: b, name: "flip") else { continue }
                _ = dump.readPhysical(PhysicalAddress(t.kernelPhysicalBase), count: 32)
                _ = dump.statistics()
                guard let full = try? dump.withKernelTables(kernbase: t.kernbase, kpml4physAddress: t.kpml4physAddress) else { continue }
                _ = full.read(VirtualAddress(t.kpml4physAddress), count: 16)
                _ = full.statistics()
            }
        }
    }
}
