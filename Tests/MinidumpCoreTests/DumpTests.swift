import Testing
@testable import MinidumpCore
import VMCoreBuilder

/// A generated dump opened from memory, with its ground truth and the reference model.
struct Subject {
    let generated: GeneratedDump
    let dump: Dump
    let reference: ReferenceModel
    var truth: GroundTruth { generated.truth }

    init(_ description: DumpDescription) throws {
        generated = try generateDump(description)
        dump = try Dump(contents: generated.bytes, name: "vmcore.test")
        reference = ReferenceModel(bytes: generated.bytes)
    }

    /// Addresses worth probing: every mapped page (at a random offset, and at its last byte), the
    /// pages just around each mapping, random DMAP addresses over and beyond RAM, and random junk.
    func probeAddresses(count: Int, rng: inout SplitMix64) -> [UInt64] {
        var addresses: [UInt64] = []
        for page in truth.kernelPages {
            addresses.append(page.va &+ rng.next(below: page.size))
            addresses.append(page.va &+ page.size &- 1)
            addresses.append(page.va &- 1)
            addresses.append(page.va &+ page.size)
        }
        let ramEnd = truth.physicalRanges.last!.upperBound
        for _ in 0..<count {
            switch rng.next(below: 4) {
            case 0: addresses.append(truth.dmapBase &+ rng.next(below: ramEnd + 0x40_0000))
            case 1: addresses.append(truth.dmapBase &+ (truth.dumpedPages.randomElement(using: &rng) ?? 0) &+ rng.next(below: 4096))
            case 2: addresses.append(truth.kernbase &+ rng.next(below: 0x1_0000_0000))
            default: addresses.append(rng.next())
            }
        }
        addresses.append(contentsOf: [0, .max, truth.kernbase, truth.kernbase &- 1, truth.dmapBase, truth.dmapBase &- 1,
                                      truth.dmapEnd, truth.dmapEnd &- 1])
        return addresses
    }
}

let allVersions: [UInt32] = [1, 2, 3]

@Suite struct DumpTests {
    @Test(arguments: allVersions)
    func headerAndLayoutMatchTheGenerator(version: UInt32) throws {
        let subject = try Subject(.standard(version: version, seed: 11))
        let dump = subject.dump, truth = subject.truth
        #expect(dump.header.architecture == "amd64")
        #expect(dump.header.version == version)
        #expect(dump.header.kernbase.rawValue == truth.kernbase)
        #expect(dump.header.directMapBase.rawValue == truth.dmapBase)
        #expect(dump.header.directMapEnd.rawValue == truth.dmapEnd)
        #expect(dump.layout.messageBuffer.offset.rawValue == truth.msgbufOffset)
        #expect(dump.layout.bitmap.offset.rawValue == truth.bitmapOffset)
        #expect(dump.layout.pageTableMap.offset.rawValue == truth.pageTableMapOffset)
        #expect(dump.layout.data.offset.rawValue == truth.dataOffset)
        #expect(dump.layout.expectedFileSize == truth.fileSize)
        #expect(dump.fileSize == truth.fileSize)
        #expect(!dump.isTruncated)
        #expect(dump.findings.isEmpty)
        #expect(dump.dumpedPageCount == UInt64(truth.dumpedPages.count))
        if version == 3 {
            #expect(dump.layout.dumpAvail.offset.rawValue == truth.dumpAvailOffset)
            #expect(dump.physicalRanges.map { $0.start.rawValue..<$0.end.rawValue } == truth.physicalRanges)
        } else {
            #expect(dump.physicalRanges.count == 1)
            #expect(dump.physicalRanges[0].start.rawValue == 0)
        }
    }

    @Test(arguments: allVersions, [1, 2, 3, 4] as [UInt64])
    func translationsAgreeWithGroundTruthAndTheSlowModel(version: UInt32, seed: UInt64) throws {
        let subject = try Subject(.standard(version: version, seed: seed))
        var rng = SplitMix64(seed: seed &* 31 &+ UInt64(version))
        var hits = 0, misses = 0
        for va in subject.probeAddresses(count: 1500, rng: &rng) {
            let expectedPA = subject.truth.physicalAddress(ofVirtual: va)
            let expectedOffset = expectedPA.flatMap { pa in subject.truth.fileOffset(ofPhysicalPage: pa & ~0xfff).map { $0 + pa & 0xfff } }
            #expect(subject.reference.physicalAddress(of: va) == expectedPA, "reference PA for \(hex(va))")
            #expect(subject.reference.fileOffset(of: va).map(UInt64.init) == expectedOffset, "reference offset for \(hex(va))")
            do {
                let translation = try subject.dump.translate(VirtualAddress(va))
                #expect(translation.physicalAddress.rawValue == expectedPA, "PA for \(hex(va))")
                #expect(translation.fileOffset.rawValue == expectedOffset, "offset for \(hex(va))")
                #expect(translation.walk.pagesBefore == (translation.fileOffset.rawValue - subject.truth.dataOffset) / 4096)
                hits += 1
            } catch {
                #expect(expectedOffset == nil, "\(error) but ground truth has \(expectedOffset.map { hex($0) } ?? "-")")
                misses += 1
            }
        }
        #expect(hits > 100)
        #expect(misses > 100)
    }

    @Test(arguments: allVersions)
    func readsAcrossPagesReturnTheStampedBytes(version: UInt32) throws {
        let subject = try Subject(.standard(version: version, seed: 5))
        var rng = SplitMix64(seed: 99)
        var checked = 0
        for _ in 0..<300 {
            guard let page = subject.truth.kernelPages.randomElement(using: &rng) else { break }
            let start = page.va &+ rng.next(below: page.size) &- 2048
            let count = Int(rng.next(below: 9000)) + 1
            let result = subject.dump.read(VirtualAddress(start), count: count)
            // Ground truth: bytes up to the first address whose page is not dumped.
            var expected: [UInt8] = []
            var firstBad: UInt64?
            for i in 0..<UInt64(count) {
                guard let pa = subject.truth.physicalAddress(ofVirtual: start &+ i),
                      let byte = subject.truth.byte(atPhysical: pa) else { firstBad = start &+ i; break }
                expected.append(byte)
            }
            #expect(result.bytes == expected)
            #expect(result.error?.virtualAddress.rawValue == firstBad)
            checked += result.bytes.count
        }
        #expect(checked > 20_000)
    }

    @Test(arguments: allVersions)
    func kernelPagesMatchTheGeneratorsMappings(version: UInt32) throws {
        let subject = try Subject(.standard(version: version, seed: 3))
        let pages = subject.dump.kernelPages()
        let expected = subject.truth.kernelPages
        #expect(pages.count == expected.count)
        for (page, truth) in zip(pages, expected) {
            #expect(page.virtualAddress.rawValue == truth.va)
            #expect(page.physicalAddress.rawValue == truth.pa)
            #expect(page.size.bytes == truth.size)
            #expect(page.writable == truth.writable)
            #expect(page.executable == truth.executable)
            #expect(page.fileOffset?.rawValue == subject.truth.fileOffset(ofPhysicalPage: truth.pa))
        }
    }

    @Test(arguments: allVersions)
    func directMapOnlyPagesAreTheDumpedPagesTheKernelMapDoesNotReach(version: UInt32) throws {
        let subject = try Subject(.standard(version: version, seed: 8))
        var reached = Set<UInt64>()
        for page in subject.truth.kernelPages {
            for piece in stride(from: 0, to: page.size, by: 4096) { reached.insert(page.pa + piece) }
        }
        let expected = subject.truth.dumpedPages.filter { !reached.contains($0) }
        let found = subject.dump.directMapOnlyPages().map(\.rawValue)
        #expect(found == expected)
        #expect(!found.isEmpty)
    }

    @Test(arguments: allVersions)
    func messageBufferMatchesTheGenerator(version: UInt32) throws {
        let subject = try Subject(.standard(version: version, seed: 2))
        let buffer = subject.dump.messageBuffer()
        guard case .structure = buffer.source else {
            Issue.record("expected a valid struct msgbuf, got \(buffer.source)")
            return
        }
        #expect(buffer.text == subject.truth.messageText)
        #expect(buffer.unread == subject.truth.unreadText)
        #expect(String(decoding: buffer.dmesg(), as: UTF8.self).contains("panic: "))
        // The ring is also reachable through msg_ptr, as dmesg -M reads it.
        if case .structure(let structure) = buffer.source {
            #expect(structure.ringAddress.rawValue == subject.truth.msgbufVirtualAddress)
            let viaPointer = subject.dump.read(structure.ringAddress, count: buffer.ring.count)
            #expect(viaPointer.error == nil)
            #expect(viaPointer.bytes == buffer.ring)
        }
    }

    @Test(arguments: allVersions)
    func statisticsCountWhatTheGeneratorWrote(version: UInt32) throws {
        let subject = try Subject(.standard(version: version, seed: 4))
        let stats = subject.dump.statistics()
        #expect(stats.dumpedPages == UInt64(subject.truth.dumpedPages.count))
        #expect(stats.pagesInFile == stats.dumpedPages)
        #expect(stats.physicalBytesDumped == stats.dumpedPages * 4096)
        // v1/v2 have no dump_avail: the bitmap implies one range from 0 over all its bits.
        let covered = version == 3 ? subject.truth.physicalRanges.reduce(UInt64(0)) { $0 + ($1.upperBound - $1.lowerBound) } : stats.bitmapBits * 4096
        #expect(stats.physicalBytesCovered == covered)
        #expect(stats.fileSize == subject.truth.fileSize)
        #expect(stats.expectedFileSize == subject.truth.fileSize)
        let large = subject.truth.kernelPages.filter { $0.size == 0x20_0000 }.count
        #expect(stats.kernelMap.largePages == UInt64(version == 1 ? 0 : large))
        #expect(stats.kernelMap.pageTablePagesMissing == 0)
        #expect(stats.indexMemoryBytes > 0)
    }

    @Test func oneGigabytePagesReadAsFiveHundredTwelveTwoMegabytePages() throws {
        var description = DumpDescription.standard(version: 3, seed: 21)
        // A 1 GiB page whose physical memory is mostly outside RAM: only its first 6 MiB are in dump_avail.
        let ramEnd = description.physicalRanges.last!.upperBound
        let gigabyte: UInt64 = 0x4000_0000
        let base = (ramEnd + gigabyte - 1) / gigabyte * gigabyte
        description.physicalRanges.append(base..<(base + 0x60_0000))
        let va = description.effectiveKernbase + 3 * gigabyte
        description.mappings.append(KernelMapping(virtualAddress: va, pageSize: .size1G, placement: .physical(base)))
        let subject = try Subject(description)
        let inside = try subject.dump.translate(VirtualAddress(va + 0x40_1234))
        #expect(inside.physicalAddress.rawValue == base + 0x40_1234)
        #expect(inside.pageSize == .size2M)
        #expect(inside.walk.mapIndex == (va - description.effectiveKernbase) / 0x20_0000 + 2)
        #expect(throws: TranslationError.self) { try subject.dump.translate(VirtualAddress(va + 0x60_0000)) }
        do {
            _ = try subject.dump.translate(VirtualAddress(va + 0x3fff_ffff))
            Issue.record("the last byte of the 1 GiB page is outside RAM")
        } catch {
            #expect(error.reason == .physicalAddressOutsideRanges(PhysicalAddress(base + 0x3fff_ffff)))
        }
        #expect(subject.dump.kernelPages().filter { $0.virtualAddress.rawValue >= va && $0.virtualAddress.rawValue < va + gigabyte }.count == 512)
    }

    @Test func manyTasksReadingOneDumpSeeTheSameBytes() async throws {
        let subject = try Subject(.standard(version: 3, seed: 6))
        let dump = subject.dump
        var rng = SplitMix64(seed: 1)
        let addresses = subject.probeAddresses(count: 400, rng: &rng)
        let expected = addresses.map { dump.read(VirtualAddress($0), count: 64) }
        let results = await withTaskGroup(of: [ReadResult].self) { group in
            for _ in 0..<16 {
                group.addTask { addresses.map { dump.read(VirtualAddress($0), count: 64) } }
            }
            var all: [[ReadResult]] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 16)
        for result in results { #expect(result == expected) }
    }

    /// The lazy index and the page-table page table are built by whichever task needs them first.
    @Test func manyTasksTranslatingAFreshDumpSeeTheSameAnswers() async throws {
        let subject = try Subject(.standard(version: 3, seed: 8))
        var rng = SplitMix64(seed: 2)
        let addresses = subject.probeAddresses(count: 300, rng: &rng)
        let expected = addresses.map { subject.dump.read(VirtualAddress($0), count: 16) }
        for round in 0..<3 {
            let dump = try Dump(contents: subject.generated.bytes, name: "vmcore.test")
            let results = await withTaskGroup(of: [ReadResult].self) { group in
                for task in 0..<12 {
                    group.addTask {
                        if task % 4 == round { dump.buildIndex() }
                        return task % 2 == 0
                            ? addresses.map { dump.read(VirtualAddress($0), count: 16) }
                            : dump.read(addresses.map { (VirtualAddress($0), 16) })
                    }
                }
                var all: [[ReadResult]] = []
                for await result in group { all.append(result) }
                return all
            }
            #expect(results.count == 12)
            for result in results { #expect(result == expected) }
        }
    }

    /// The batch interfaces give what one address at a time gives, hits and every kind of miss.
    @Test(arguments: allVersions)
    func batchTranslationsAndReadsAgreeWithSingleOnes(version: UInt32) throws {
        let subject = try Subject(.standard(version: version, seed: 9))
        var rng = SplitMix64(seed: 4)
        let addresses = subject.probeAddresses(count: 500, rng: &rng).map { VirtualAddress($0) }
        let fresh = try Dump(contents: subject.generated.bytes, name: "vmcore.test")
        let single = addresses.map { va in Result { () throws(TranslationError) in try subject.dump.translate(va) } }
        let batch = fresh.translate(addresses)
        #expect(batch.count == addresses.count)
        for (one, many) in zip(single, batch) { #expect(one == many) }
        var seen: [Int] = []
        fresh.readUInt64(addresses.map { VirtualAddress($0.rawValue & ~7) }) { position, result in
            seen.append(position)
            let va = VirtualAddress(addresses[position].rawValue & ~7)
            let expected = Result { () throws(TranslationError) in try subject.dump.readUInt64(va) }
            #expect(result == expected, "\(va)")
            if case .success(let word) = result {
                let offset = subject.reference.fileOffset(of: va.rawValue)
                #expect(offset != nil)
                if let offset, offset + 8 <= subject.generated.bytes.count {
                    let bytes = subject.generated.bytes[offset..<(offset + 8)]
                    #expect(bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) } == word)
                }
            }
        }
        #expect(seen == Array(addresses.indices))
        let reads = fresh.read(addresses.map { ($0, 100) })
        #expect(reads == addresses.map { subject.dump.read($0, count: 100) })
    }
}


@Suite struct OpenErrorTests {
    func problem(_ bytes: [UInt8]) -> DumpError.Problem? {
        do {
            _ = try Dump(contents: bytes, name: "vmcore.x")
            return nil
        } catch {
            return error.problem
        }
    }

    @Test func otherKindsOfCrashDumpAreNamed() throws {
        var page = [UInt8](repeating: 0, count: 8192)
        page.replaceSubrange(0..<4, with: [0x7f, 0x45, 0x4c, 0x46])
        #expect(problem(page) == .unsupportedFormat("an ELF file but not a FreeBSD full dump (its OSABI byte is not 255): a kernel image, or a core of another kind"))
        page.replaceSubrange(0..<4, with: [0x1f, 0x8b, 8, 0])
        #expect(problem(page) == .unsupportedFormat("gzip-compressed: decompress it first (gunzip, or savecore -u)"))
        page.replaceSubrange(0..<4, with: [0x28, 0xb5, 0x2f, 0xfd])
        #expect(problem(page) == .unsupportedFormat("zstd-compressed: decompress it first (zstd -d, or savecore -u)"))
        let text = Array("minidump FreeBSD/mips".utf8) + [0]
        page.replaceSubrange(0..<text.count, with: text)
        #expect(problem(page) == .unsupportedArchitecture("mips"))
        #expect(problem([1, 2, 3]) == .fileTooSmall(size: 3))
        #expect(problem([]) == .fileTooSmall(size: 0))
    }

    @Test func errorsNameTheFileTheFieldAndTheValue() throws {
        var bytes = try generateDump(.standard(version: 3, seed: 1)).bytes
        let size = bytes.count
        setU32LE(&bytes, at: 32, 0x10_0000)
        do {
            _ = try Dump(contents: bytes, name: "vmcore.0")
            Issue.record("a bitmap past the end of the file must not open")
        } catch {
            #expect(error.description == "vmcore.0: bitmap section ends at 0x104000, past the end of the file (\(hex(UInt64(size))))")
        }
    }

    @Test func openingAFileThatIsNotThereSaysWhy() {
        #expect(throws: DumpError.self) { try Dump(path: "/nonexistent/vmcore.9") }
        do {
            _ = try Dump(path: "/nonexistent/vmcore.9")
        } catch {
            #expect(error.description == "/nonexistent/vmcore.9: cannot open: No such file or directory")
        }
        do {
            _ = try Dump(path: "/")
        } catch {
            #expect(error.problem == .notRegularFile(kind: "a directory"))
        }
    }
}

@Suite struct TruncationTests {
    /// A v3 dump cut 2000 bytes into its last data page: the bytes before the cut read, the rest do not.
    @Test func aPageCutByTruncationServesTheBytesBeforeTheCut() throws {
        let full = try generateDump(.standard(version: 3, seed: 0))
        let truth = full.truth
        let pa = try #require(truth.dumpedPages.last)
        let pageOffset = try #require(truth.fileOffset(ofPhysicalPage: pa))
        let va = truth.dmapBase + pa
        let cut = Int(pageOffset) + 2000
        let dump = try Dump(contents: Array(full.bytes[..<cut]), name: "vmcore.cut")
        #expect(dump.isTruncated)
        let inside = try dump.translate(VirtualAddress(va + 1999))
        #expect(inside.fileOffset.rawValue == pageOffset + 1999)
        do {
            _ = try dump.translate(VirtualAddress(va + 2000))
            Issue.record("byte 2000 of the page is past the end of the file")
        } catch {
            #expect(error.reason == .pagePastEndOfFile(PhysicalAddress(pa + 2000), offset: FileOffset(UInt64(cut)), fileSize: UInt64(cut)))
            #expect(error.description.hasSuffix("at file offset \(hex(UInt64(cut))) is past the end of the truncated file (\(hex(UInt64(cut))))"))
        }
        let read = dump.read(VirtualAddress(va + 1000), count: 3000)
        #expect(read.bytes == Array(full.bytes[(Int(pageOffset) + 1000)..<cut]))
        #expect(read.error?.virtualAddress.rawValue == va + 2000)
        #expect(dump.physicalPage(PhysicalAddress(pa)) == nil)
    }
}

@Suite struct LargeKernelMapTests {
    /// Page-table pages are located at open only in the first 4096 1 GiB slots of the map; a 4 KiB
    /// mapping beyond them translates through the index lookup, with the same answer.
    @Test func fourKilobytePagesBeyondThePrecomputedSlotsTranslateToo() throws {
        let kernbase: UInt64 = 0xffff_8000_0000_0000  // 4100 GiB of map must fit below 2^64 and the direct map
        let gigabyte: UInt64 = 0x4000_0000
        let inside = kernbase + 5 * gigabyte
        let beyond = kernbase + 4098 * gigabyte
        let description = DumpDescription(
            version: 3, seed: 9, physicalRanges: DumpDescription.standardRanges, kernbase: kernbase,
            kernelMapSlots: 4100,
            mappings: [KernelMapping(virtualAddress: inside, pageSize: .size4K, count: 3),
                       KernelMapping(virtualAddress: beyond, pageSize: .size4K, count: 3)])
        let subject = try Subject(description)
        for va in [inside, inside + 0x1fff, beyond, beyond + 0x2abc] {
            let translation = try subject.dump.translate(VirtualAddress(va))
            #expect(translation.physicalAddress.rawValue == subject.truth.physicalAddress(ofVirtual: va))
            #expect(subject.reference.fileOffset(of: va).map(UInt64.init) == translation.fileOffset.rawValue)
            #expect(translation.walk.pageTablePage != nil)
        }
        #expect(throws: TranslationError.self) { try subject.dump.translate(VirtualAddress(beyond + 0x3000)) }
    }
}
