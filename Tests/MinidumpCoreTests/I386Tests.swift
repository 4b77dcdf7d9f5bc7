import Testing
@testable import MinidumpCore
import VMCoreBuilder

/// A slow reader of i386 minidumps written from the spec (beyond-amd64-minidump.md §2), sharing
/// no code with `I386Minidump`: every value decoded from the bytes on each call, bitmap bits
/// counted one by one from bit 0.
private struct I386Model {
    let bytes: [UInt8]
    var version: UInt32 { getU32LE(bytes, at: 24) }
    var kernbase: UInt64 { UInt64(getU32LE(bytes, at: 40)) }
    var pae: Bool { getU32LE(bytes, at: 44) != 0 }
    func round(_ v: UInt32) -> Int { (Int(v) + 4095) / 4096 * 4096 }
    var dumpAvailOffset: Int { 4096 + round(getU32LE(bytes, at: 28)) }
    var bitmapOffset: Int { dumpAvailOffset + (version == 2 ? round(getU32LE(bytes, at: 48)) : 0) }
    var mapOffset: Int { bitmapOffset + round(getU32LE(bytes, at: 32)) }
    var dataOffset: Int { mapOffset + round(getU32LE(bytes, at: 36)) }

    /// The file offset of `va`, or nil.
    func fileOffset(_ va: UInt64) -> Int? {
        guard va >= kernbase else { return nil }
        let index = Int((va - kernbase) / 4096)
        let size = pae ? 8 : 4
        guard index < Int(getU32LE(bytes, at: 36)) / size else { return nil }
        let pte = pae ? getU64LE(bytes, at: mapOffset + index * 8) : UInt64(getU32LE(bytes, at: mapOffset + index * 4))
        guard pte & 1 == 1 else { return nil }
        let pa = pte & (pae ? 0x000f_ffff_ffff_f000 : 0xffff_f000)
        // The bit of pa: its page number (v1) or its position counted through dump_avail (v2).
        var bit: Int?
        if version == 1 {
            bit = Int(pa / 4096)
        } else {
            var first = 0, at = dumpAvailOffset
            while getU64LE(bytes, at: at + 8) != 0 {
                let start = getU64LE(bytes, at: at), end = getU64LE(bytes, at: at + 8)
                if pa >= start && pa < end { bit = first + Int((pa - start) / 4096) }
                first += Int((end - start) / 4096)
                at += 16
            }
        }
        guard let bit, bit < Int(getU32LE(bytes, at: 32)) * 8 else { return nil }
        func isSet(_ b: Int) -> Bool { bytes[bitmapOffset + b / 8] & (1 << (b % 8)) != 0 }
        guard isSet(bit) else { return nil }
        // Set bits below `bit`: whole bytes by their population, then the bits of the last byte.
        let whole = bytes[bitmapOffset..<(bitmapOffset + bit / 8)].reduce(0) { $0 + $1.nonzeroBitCount }
        let before = whole + (bit / 8 * 8..<bit).filter(isSet).count
        return dataOffset + before * 4096 + Int(va & 0xfff)
    }
}

private let combinations: [(UInt32, Bool)] = [(1, false), (1, true), (2, false), (2, true)]

private func fixture(_ version: UInt32, _ pae: Bool) throws -> (GeneratedI386Dump, Dump) {
    let generated = try generateI386Dump(I386Fixture.description(version: version, pae: pae))
    return (generated, try Dump(contents: generated.bytes, name: "vmcore.i386"))
}

@Suite struct I386Tests {
    @Test(arguments: combinations)
    func headerAndLayout(version: UInt32, pae: Bool) throws {
        let (g, dump) = try fixture(version, pae)
        let h = dump.header
        #expect(h.architecture == "i386" && h.version == version)
        #expect(h.kernbase.rawValue == I386Fixture.kernbase)
        #expect(h.pageTableMapSize == g.truth.pteSize && h.bitmapSize == g.truth.bitmapSize && h.msgbufSize == g.truth.msgbufSize)
        #expect(h.fields.map(\.name) == ["msgbufsize", "bitmapsize", "ptesize", "dumpavailsize", "paemode", "kernbase"])
        #expect(h.fields.first { $0.name == "paemode" }?.value == (pae ? 1 : 0))
        #expect(dump.layout.data.offset.rawValue == g.truth.dataOffset)
        #expect(dump.layout.expectedFileSize == g.truth.fileSize)
        #expect(dump.findings.isEmpty)
        #expect(dump.pointerSize == 4)
        #expect(dump.directMapRange == nil)
        #expect(dump.kernelMapRange == I386Fixture.kernbase...(I386Fixture.kernbase + 0x80_0000 - 1))
        #expect(dump.dumpedPageCount == UInt64(g.truth.dumpedPages.count))
    }

    /// Every page of the map and a byte inside it, against the ground truth and the model.
    @Test(arguments: combinations)
    func everyTranslationAgrees(version: UInt32, pae: Bool) throws {
        let (g, dump) = try fixture(version, pae)
        let model = I386Model(bytes: g.bytes)
        var translated = 0
        for page in 0..<UInt64(0x800) {
            let va = I386Fixture.kernbase + page * 4096 + 0x5a4
            let expectedPA = g.truth.physicalAddress(ofVirtual: va)
            let expectedOffset = expectedPA.flatMap { g.truth.fileOffset(ofPhysicalPage: $0) }.map { $0 + 0x5a4 }
            #expect(model.fileOffset(va).map(UInt64.init) == expectedOffset, "model at \(hex(va))")
            do {
                let t = try dump.translate(VirtualAddress(va))
                #expect(t.physicalAddress.rawValue == expectedPA && t.fileOffset.rawValue == expectedOffset, "\(hex(va))")
                #expect(t.map == .kernelMap && t.pageSize == .size4K)
                #expect(t.walk.pte == g.truth.pte(ofVirtual: va) && t.walk.mapIndex == page && t.walk.pde == nil)
                translated += 1
            } catch {
                #expect(expectedOffset == nil, "\(hex(va)): \(error)")
            }
        }
        #expect(translated == g.truth.dumpedPages.count)
    }

    @Test(arguments: combinations)
    func readsAgreeWithTheGroundTruth(version: UInt32, pae: Bool) throws {
        let (g, dump) = try fixture(version, pae)
        for page in g.truth.pages where g.truth.fileOffset(ofPhysicalPage: page.physicalAddress) != nil {
            let va = page.virtualAddress + 0xff0
            let want = g.truth.bytes(atVirtual: va, count: 0x20)
            let got = dump.read(VirtualAddress(va), count: 0x20)
            if let want {
                #expect(got.bytes == want && got.error == nil, "\(hex(va))")
            } else {
                // The next page is unreadable: the read stops at the page end with its error.
                #expect(got.bytes == g.truth.bytes(atVirtual: va, count: 0x10) && got.error != nil, "\(hex(va))")
            }
        }
        let version = try #require(g.truth.bytes(atVirtual: I386Fixture.dataBase, count: I386Fixture.version.utf8.count))
        #expect(version == Array(I386Fixture.version.utf8))
        // Pointers are 4 bytes: msgbufp reads back whole and nothing of the next variable.
        #expect(try dump.readPointer(VirtualAddress(I386Fixture.bssBase + 0x104)) == I386Fixture.msgbufPointer)
        #expect(try dump.readPointer(VirtualAddress(I386Fixture.bssBase + 0x100)) == I386Fixture.panicStringAddress)
    }

    /// PAE frames reach above 4 GiB; the non-PAE map has no such page.
    @Test func paeFramesAboveFourGiB() throws {
        let (_, dump) = try fixture(2, true)
        let t = try dump.translate(VirtualAddress(I386Fixture.highMemoryVA + 0x123))
        #expect(t.physicalAddress.rawValue == 0x1_0000_0123)
        let (_, flat) = try fixture(2, false)
        #expect(throws: TranslationError.self) { try flat.translate(VirtualAddress(I386Fixture.highMemoryVA)) }
    }

    @Test(arguments: combinations)
    func kernelPagesAndStatistics(version: UInt32, pae: Bool) throws {
        let (g, dump) = try fixture(version, pae)
        let pages = dump.kernelPages()
        #expect(pages.map(\.virtualAddress.rawValue) == g.truth.pages.map(\.virtualAddress))
        #expect(pages.map(\.physicalAddress.rawValue) == g.truth.pages.map(\.physicalAddress))
        #expect(pages.map(\.writable) == g.truth.pages.map(\.writable))
        #expect(pages.map(\.executable) == g.truth.pages.map(\.executable))
        #expect(pages.map { $0.fileOffset?.rawValue } == g.truth.pages.map { g.truth.fileOffset(ofPhysicalPage: $0.physicalAddress) })
        // The expanded superpage: V|RW|A|M, executable (NX lost).
        #expect(pages[0].writable && pages[0].executable && g.truth.pages[0].pte & 0xfff == 0x63)
        let stats = dump.statistics()
        #expect(stats.kernelMap.entries == UInt64(g.truth.ptes.count))
        #expect(stats.kernelMap.validEntries == UInt64(g.truth.pages.count))
        #expect(stats.kernelMap.largePages == 0 && stats.kernelMap.smallPages == UInt64(g.truth.pages.count))
        #expect(dump.directMapOnlyPages().isEmpty)
    }

    @Test(arguments: combinations)
    func messageBuffer(version: UInt32, pae: Bool) throws {
        let (g, dump) = try fixture(version, pae)
        let buffer = dump.messageBuffer()
        guard case .structure(let s) = buffer.source else {
            Issue.record("no struct msgbuf: \(buffer.source)")
            return
        }
        #expect(s.ringAddress.rawValue == I386Fixture.msgbufVA && s.size == g.truth.msgbufSize)
        #expect(buffer.text == g.truth.messageText)
        #expect(dump.messageBufferLayout == .current)
    }

    /// i386 has no direct map: an amd64 direct-map address, or a low one, says so.
    @Test func noDirectMap() throws {
        let (_, dump) = try fixture(2, true)
        for (va, beyond) in [(UInt64(0xffff_f800_0000_1000), true), (0x1000, false), (0x1_0000_0000, true)] {
            do {
                _ = try dump.translate(VirtualAddress(va))
                Issue.record("\(hex(va)) translated")
            } catch {
                #expect(error.reason == .outsideKernelMap(kernelMap: dump.kernelMapRange, architecture: "i386",
                                                          addressBits: 32, beyondAddressSpace: beyond))
                #expect(error.description.contains("i386 has no direct map"))
                #expect(error.description.contains("not a 32-bit address") == beyond)
            }
        }
        #expect(dump.directMapAddress(ofPhysical: PhysicalAddress(0x1000)) == nil)
    }

    /// Every corrupt variant of every combination gives an error naming the field and value.
    @Test(arguments: combinations)
    func corruptVariants(version: UInt32, pae: Bool) throws {
        for description in [I386Fixture.description(version: version, pae: pae), I386Fixture.smallDescription(version: version, pae: pae)] {
        let variants = i386CorruptVariants(of: try generateI386Dump(description))
        #expect(variants.count == (version == 2 ? 12 : 11))
        for variant in variants {
            let message: String
            if let address = variant.address {
                let dump = try Dump(contents: variant.bytes, name: variant.name)
                do {
                    _ = try dump.translate(VirtualAddress(address))
                    Issue.record("\(variant.name): \(hex(address)) translated")
                    continue
                } catch { message = error.description }
            } else {
                do {
                    _ = try Dump(contents: variant.bytes, name: variant.name)
                    Issue.record("\(variant.name) opened")
                    continue
                } catch { message = error.description }
            }
            for fragment in variant.mentions {
                #expect(message.contains(fragment), "\(variant.name): '\(message)' should mention '\(fragment)'")
            }
        }
        }
    }

    /// A truncated map is a finding, counted in entries of the dump's size (4 bytes without PAE).
    @Test func truncatedMapCountsEntriesOfTheRightSize() throws {
        let g = try generateI386Dump(I386Fixture.description(version: 1, pae: false))
        let mapOffset = Int(g.truth.dataOffset - UInt64(g.truth.pteSize))
        let dump = try Dump(contents: Array(g.bytes[..<(mapOffset + 0x1000)]), name: "cut")
        #expect(dump.findings.contains(.pageTableMapTruncated(entriesPresent: 1024, entries: 2048)))
        #expect(dump.statistics().kernelMap.entriesPastEndOfFile == 1024)
    }

    /// Seeded random machines: every mapped page's first and last byte, against the model.
    @Test(arguments: [UInt64(1), 2, 3])
    func randomMachines(seed: UInt64) throws {
        for (version, pae) in combinations {
            var rng = SplitMix64(seed: seed)
            var mappings: [I386Mapping] = []
            for k in 0..<40 {
                mappings.append(I386Mapping(virtualAddress: 0xc040_0000 + UInt64(k) * 0x3000, count: 1 + Int(rng.next(below: 2)),
                                            writable: rng.next(below: 2) == 0, executable: rng.next(below: 2) == 0,
                                            dumped: rng.next(below: 5) != 0))
            }
            let d = I386DumpDescription(version: version, pae: pae, seed: seed, kernbase: 0xc000_0000, mapPages: 4,
                                        mappings: mappings, messageText: Array("seed \(seed)\n".utf8))
            let g = try generateI386Dump(d)
            let dump = try Dump(contents: g.bytes, name: "random")
            let model = I386Model(bytes: g.bytes)
            for page in g.truth.pages {
                for offset: UInt64 in [0, 0xfff] {
                    let va = page.virtualAddress + offset
                    #expect((try? dump.translate(VirtualAddress(va)))?.fileOffset.rawValue == model.fileOffset(va).map(UInt64.init),
                            "v\(version) pae \(pae) \(hex(va))")
                    #expect(dump.read(VirtualAddress(va), count: 1).bytes == (g.truth.bytes(atVirtual: va, count: 1) ?? []))
                }
            }
        }
    }

    /// Every byte of the header set to a few values: the dump opens or fails with an error.
    @Test func everyHeaderByteIsSurvived() throws {
        let g = try generateI386Dump(I386Fixture.description(version: 2, pae: true))
        for offset in 24..<52 {
            for value: UInt8 in [0, 1, 0x7f, 0xff] {
                var b = g.bytes
                b[offset] = value
                if let dump = try? Dump(contents: b, name: "flip") {
                    _ = dump.statistics()
                    _ = dump.messageBuffer().text.count
                    _ = dump.read(VirtualAddress(I386Fixture.dataBase), count: 64)
                }
            }
        }
    }
}

/// `Fixtures/` at the package root, found from this file's path.
private let fixtures: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/Fixtures"
}()

@Suite struct I386FixtureTests {
    /// The committed i386 fixtures are the generator's bytes, small, and listed in Fixtures/README.md.
    @Test func committedFilesMatchTheGenerator() throws {
        let readme = String(decoding: try readFileBytes(atPath: fixtures + "/README.md"), as: UTF8.self)
        for file in try I386Fixture.goldenFiles() {
            let onDisk = try readFileBytes(atPath: fixtures + "/" + file.fileName)
            #expect(onDisk == file.bytes, "\(file.fileName): regenerate with `make fixtures`")
            #expect(onDisk.count <= 1 << 20)
        }
        for (name, version, pae) in [("vmcore.i386.pae", UInt32(2), true), ("vmcore.i386.nopae", 1, false)] {
            #expect(readme.contains("== \(name)\n" + (try I386Fixture.summary(version: version, pae: pae))),
                    "README listing for \(name) is stale: run `make fixtures`")
        }
    }
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
