import Testing
@testable import MinidumpCore
import VMCoreBuilder

/// The standard riscv dump of each version, generated once for this file.
private let riscvOriginals: [UInt32: RISCVGeneratedDump] = {
    var dumps: [UInt32: RISCVGeneratedDump] = [:]
    for version in riscvVersions { dumps[version] = try! generateRISCVDump(RISCVFixture.description(version: version)) }
    return dumps
}()

/// What a damaged riscv dump must give.
private enum RISCVOutcome {
    case error(DumpError.Problem)
    case errorMatching((DumpError.Problem) -> Bool)
    case opens((Dump) throws -> Void)
}

/// Calls every reader of `dump` a bounded number of times; the point is that none traps.
private func exerciseRISCV(_ dump: Dump, probes: [UInt64]) {
    _ = dump.findings.map(\.description)
    _ = dump.messageBuffer().dmesg(all: true)
    _ = dump.statistics()
    var budget = 64
    dump.forEachKernelPage { page in
        _ = dump.read(VirtualAddress(page.virtualAddress.rawValue &+ 4092), count: 8)
        budget -= 1
        return budget > 0
    }
    _ = dump.pageRanges(includeDirectMap: true).count
    for va in probes {
        _ = try? dump.translate(VirtualAddress(va))
        _ = dump.read(VirtualAddress(va), count: 16)
    }
}

@Suite struct RISCVHostileTests {
    private static func expectedOutcome(_ c: RISCVCorruption, _ t: RISCVGroundTruth) -> RISCVOutcome {
        let firstLeaf = t.pmap.firstIndex { $0 & 1 != 0 && $0 & 0xe != 0 }!
        let firstLeafVA = t.kernbase + UInt64(firstLeaf) << 12
        switch c {
        case .badMagic: return .error(.badMagic(found: "Minidump FreeBSD/riscv"))
        // "riscv" fills the magic up to its NUL: an 'X' there names another architecture.
        case .unterminatedMagic: return .error(.unsupportedArchitecture("riscvX"))
        case .version0: return .error(.unsupportedVersion(0, supported: 1...2))
        case .version3: return .error(.unsupportedVersion(3, supported: 1...2))
        case .msgbufSizeTooLarge:
            return .errorMatching { if case .sectionPastEndOfFile(section: "msgbuf", _, _) = $0 { true } else { false } }
        case .bitmapSizeTooLarge:
            return .errorMatching { if case .sectionPastEndOfFile(section: "bitmap", _, _) = $0 { true } else { false } }
        case .bitmapSizeMisaligned: return .error(.misaligned(field: "bitmapsize", value: UInt64(t.bitmapSize - 8), alignment: 4096))
        case .pmapSizeTooLarge:
            return .opens { dump throws in
                #expect(dump.findings.contains { if case .pageTableMapTruncated = $0 { true } else { false } })
                #expect(dump.isTruncated)
            }
        case .pmapSizeMisaligned: return .error(.misaligned(field: "pmapsize", value: UInt64(t.pmapSize - 8), alignment: 4096))
        case .pmapSizeZero: return .error(.invalidField(field: "pmapsize", value: 0, reason: "the kernel map is empty"))
        case .dumpAvailSizeZero:
            return .error(.invalidField(field: "dumpavailsize", value: 0, reason: "version 2 needs a dump_avail section"))
        case .dumpAvailSizeMisaligned: return .error(.misaligned(field: "dumpavailsize", value: 4100, alignment: 16))
        case .kernbaseMisaligned: return .error(.misaligned(field: "kernbase", value: t.kernbase + 0x1000, alignment: 0x20_0000))
        case .dmapPhysMisaligned: return .error(.misaligned(field: "dmapphys", value: t.dmapPhys + 0x123, alignment: 0x1000))
        case .dmapPhysBeyondRAM:
            let end = t.version == 2 ? t.physicalRanges.last!.upperBound : UInt64(t.bitmapSize) * 8 * 4096
            return .error(.invalidField(field: "dmapphys", value: 0x1_0000_0000,
                                        reason: "at or beyond the end of the physical memory the dump describes (\(hex(end)))"))
        case .directMapInverted:
            return .error(.invalidField(field: "dmapend", value: t.dmapBase, reason: "not above dmapbase (\(VirtualAddress(t.dmapEnd)))"))
        case .mapShorterThanKernelVMEnd:
            return .opens { dump throws in
                #expect(dump.findings.isEmpty)
                #expect(dump.kernelMapRange == t.kernbase...(RISCVFixture.kernelVMEnd - 0x20_0000 - 1))
                #expect(riscvFailure(dump, RISCVFixture.VA.lastRegion) == .outsideMaps(
                    kernelMap: dump.kernelMapRange, directMap: dump.directMapRange))
                #expect(try dump.translate(VirtualAddress(RISCVFixture.VA.threadName)).physicalAddress.rawValue
                        == t.physicalAddress(ofVirtual: RISCVFixture.VA.threadName))
                #expect(dump.read(VirtualAddress(RISCVFixture.VA.panicString), count: 11).bytes == Array("page fault\0".utf8))
            }
        case .leafInvalid:
            return .opens { dump throws in
                #expect(riscvFailure(dump, firstLeafVA) == .mapEntryInvalid(
                    index: UInt64(firstLeaf), entry: t.pmap[firstLeaf] & ~1, kind: "PTE"))
            }
        case .leafNotALeaf:
            return .opens { dump throws in
                #expect(riscvFailure(dump, firstLeafVA) == .mapEntryInvalid(
                    index: UInt64(firstLeaf), entry: t.pmap[firstLeaf] & ~0xe, kind: "non-leaf PTE (V set, R, W and X clear)"))
            }
        case .reservedBitsSet:
            return .opens { dump throws in
                let translation = try dump.translate(VirtualAddress(firstLeafVA + 0x123))
                #expect(translation.physicalAddress.rawValue == t.physicalAddress(ofVirtual: firstLeafVA + 0x123))
                #expect(translation.walk.pte == t.pmap[firstLeaf] | RISCVEntryBits.reservedHigh)
            }
        case .dumpAvailOverlapping:
            return .error(.dumpAvailOverlap(index: 1, start: t.physicalRanges[0].upperBound - 0x1000,
                                            previousEnd: t.physicalRanges[0].upperBound))
        case .dumpAvailEmpty: return .error(.dumpAvailEmpty)
        case .emptyFile: return .error(.fileTooSmall(size: 0))
        case .truncatedInHeader: return .error(.fileTooSmall(size: 2048))
        case .truncatedInBitmap:
            return .errorMatching { if case .sectionPastEndOfFile(section: "bitmap", _, _) = $0 { true } else { false } }
        case .truncatedInPmap:
            return .opens { dump throws in
                #expect(dump.findings.contains(.pageTableMapTruncated(entriesPresent: 3, entries: UInt64(t.pmap.count))))
                #expect(riscvFailure(dump, t.kernbase + 0x20_0000) == .mapEntryPastEndOfFile(
                    index: 512, offset: FileOffset(t.pmapOffset + 512 * 8)))
            }
        case .truncatedInsideDataPage:
            return .opens { dump throws in #expect(dump.isTruncated && dump.findings.contains { if case .truncated = $0 { true } else { false } }) }
        case .trailingGarbage:
            return .opens { dump throws in #expect(dump.findings == [.trailingBytes(expectedSize: t.fileSize, fileSize: t.fileSize + 4096)]) }
        }
    }

    @Test(arguments: riscvVersions)
    func everyCorruptionGetsItsOutcome(version: UInt32) throws {
        let original = try #require(riscvOriginals[version])
        var applied = 0
        for corruption in RISCVCorruption.allCases {
            guard let bytes = corrupt(original, with: corruption) else {
                // Only the v2-only fields have no v1 variant.
                #expect(version == 1 && [.bitmapSizeMisaligned, .dumpAvailSizeZero, .dumpAvailSizeMisaligned,
                                          .dumpAvailOverlapping, .dumpAvailEmpty].contains(corruption), "\(corruption)")
                continue
            }
            applied += 1
            let label = "vmcore.riscv.v\(version).\(corruption.rawValue)"
            let result: Result<Dump, DumpError>
            do {
                let dump = try Dump(contents: bytes, name: label)
                exerciseRISCV(dump, probes: original.truth.kernelPages.prefix(40).map(\.va) + [RISCVFixture.VA.lastRegion])
                result = .success(dump)
            } catch {
                result = .failure(error)
            }
            switch (Self.expectedOutcome(corruption, original.truth), result) {
            case (.error(let expected), .failure(let error)):
                #expect(error.problem == expected, "\(label)")
                #expect(error.description.hasPrefix(label + ": "))
            case (.errorMatching(let accepts), .failure(let error)):
                #expect(accepts(error.problem), "\(label): \(error)")
            case (.opens(let check), .success(let dump)):
                try check(dump)
            case (_, .success):
                Issue.record("\(label) opened")
            case (_, .failure(let error)):
                Issue.record("\(label): \(error)")
            }
        }
        #expect(applied == (version == 2 ? RISCVCorruption.allCases.count : RISCVCorruption.allCases.count - 5))
    }

    @Test func headerErrorsNameTheFieldAndTheValue() throws {
        let original = try #require(riscvOriginals[2])
        let cases: [(RISCVCorruption, [String])] = [
            (.dmapPhysBeyondRAM, ["dmapphys", "0x100000000", "0x80a10000"]),
            (.dmapPhysMisaligned, ["dmapphys", "0x80000123"]),
            (.kernbaseMisaligned, ["kernbase", "0xffffffc000001000"]),
            (.pmapSizeMisaligned, ["pmapsize", "0x7ff8"]),
            (.version3, ["version is 3", "1 to 2"]),
        ]
        for (corruption, words) in cases {
            let bytes = try #require(corrupt(original, with: corruption))
            #expect(throws: DumpError.self) { try Dump(contents: bytes, name: "v") }
            do {
                _ = try Dump(contents: bytes, name: "v")
            } catch {
                for word in words { #expect(error.description.contains(word), "\(error) lacks \(word)") }
            }
        }
    }

    @Test(arguments: riscvVersions)
    func mutatedHeadersAndMapsNeverTrap(version: UInt32) throws {
        let original = try #require(riscvOriginals[version])
        let t = original.truth
        var rng = SplitMix64(seed: 0x7269_7363 ^ UInt64(version))
        let extremes: [UInt64] = [0, 1, 0xfff, 0x1000, 0x20_0000, 0xffff_f000, 0xffff_ffff, 0x8000_0000_0000_0000,
                                  0xffff_ffff_ffe0_0000, 0xffff_ffff_ffff_f000, .max]
        var opened = 0, refused = 0
        for round in 0..<240 {
            var bytes = original.bytes
            for _ in 0..<(1 + round % 3) {
                switch rng.next(below: 4) {
                case 0:  // a 32-bit size field
                    let at = [24, 28, 32, 36, 72][Int(rng.next(below: 5))]
                    setU32LE(&bytes, at: at, UInt32(truncatingIfNeeded: extremes[Int(rng.next(below: UInt64(extremes.count)))]))
                case 1:  // an address field: kernbase, dmapphys, dmapbase, dmapend
                    let at = [40, 48, 56, 64][Int(rng.next(below: 4))]
                    let value = rng.next(below: 2) == 0 ? extremes[Int(rng.next(below: UInt64(extremes.count)))] : rng.next() & ~0xfff
                    setU64LE(&bytes, at: at, value)
                case 2:  // a map entry
                    let i = Int(rng.next(below: UInt64(t.pmap.count)))
                    setU64LE(&bytes, at: Int(t.pmapOffset) + 8 * i, rng.next())
                default:  // a bitmap or dump_avail word
                    let at = Int(t.dumpAvailOffset) + 8 * Int(rng.next(below: UInt64(t.dataOffset - t.dumpAvailOffset) / 8))
                    setU64LE(&bytes, at: at, rng.next() & (rng.next(below: 2) == 0 ? 0xffff_ffff_ffff_f000 : .max))
                }
            }
            do {
                let dump = try Dump(contents: bytes, name: "mutant")
                var probes = (0..<24).map { _ in rng.next() }
                probes += [dump.header.kernbase.rawValue, dump.header.directMapBase.rawValue, .max, 0,
                           dump.header.directMapEnd.rawValue &- 1, RISCVFixture.VA.text]
                exerciseRISCV(dump, probes: probes)
                opened += 1
            } catch {
                _ = error.description
                refused += 1
            }
        }
        #expect(opened > 20 && refused > 20)
    }

    @Test func aDirectMapWhosePhysicalAddressesWouldPassTwoToTheSixtyFourIsCut() throws {
        var bytes = try #require(riscvOriginals[2]).bytes
        let t = try #require(riscvOriginals[2]).truth
        // dump_avail: one range of 255 pages just below 2^64; dmapphys at its start; dmapend 2^64 - 1.
        let start: UInt64 = 0xffff_ffff_fff0_0000
        setU64LE(&bytes, at: Int(t.dumpAvailOffset), start)
        setU64LE(&bytes, at: Int(t.dumpAvailOffset) + 8, 0xffff_ffff_ffff_f000)
        setU64LE(&bytes, at: Int(t.dumpAvailOffset) + 16, 0)
        setU64LE(&bytes, at: Int(t.dumpAvailOffset) + 24, 0)
        setU64LE(&bytes, at: 48, start)
        setU64LE(&bytes, at: 64, .max)
        let dump = try Dump(contents: bytes, name: "top")
        let last = t.dmapBase + (UInt64.max - start)
        #expect(dump.directMapRange == t.dmapBase...last)
        #expect(riscvFailure(dump, t.dmapBase) == .pageNotDumped(PhysicalAddress(start), bit: 0))
        #expect(riscvFailure(dump, last + 1) == .outsideMaps(kernelMap: dump.kernelMapRange, directMap: dump.directMapRange))
        #expect(riscvFailure(dump, .max) != nil)
        #expect(dump.directMapAddress(ofPhysical: PhysicalAddress(0xffff_ffff_ffff_f000))?.rawValue == t.dmapBase + 0xf_f000)
        #expect(dump.directMapAddress(ofPhysical: PhysicalAddress(start - 0x1000)) == nil)
        exerciseRISCV(dump, probes: [last, last - 0xfff, .max, t.dmapBase + 0x1000])
    }

    @Test func aKernelMapPastTheTopOfTheAddressSpaceIsCut() throws {
        var bytes = try #require(riscvOriginals[2]).bytes
        let t = try #require(riscvOriginals[2]).truth
        setU64LE(&bytes, at: 40, 0xffff_ffff_ffe0_0000)
        let dump = try Dump(contents: bytes, name: "top")
        #expect(dump.kernelMapRange == 0xffff_ffff_ffe0_0000...UInt64.max)
        #expect(dump.findings.contains(.kernelMapPastTopOfAddressSpace(
            kernbase: 0xffff_ffff_ffe0_0000, entries: UInt64(t.pmap.count), entriesCut: UInt64(t.pmap.count) - 512)))
        #expect(dump.statistics().kernelMap.entries == UInt64(t.pmap.count))
        exerciseRISCV(dump, probes: [.max, .max - 0xfff, 0xffff_ffff_ffe0_0000])
    }
}
