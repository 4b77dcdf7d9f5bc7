// The batch interfaces on every architecture (the amd64 minidump's interleaved walk has its own test in
// DumpTests.swift): on arm64, riscv and i386 dumps they answer exactly what one address at a time does,
// hits, direct-map addresses and every kind of miss.
import Testing
@testable import MinidumpCore
import VMCoreBuilder

@Suite struct BatchArchitectureTests {
    /// Every generated non-amd64 layout, by name.
    static func dumps() throws -> [(String, [UInt8])] {
        [
            ("arm64 v3 16K", try generateARM64Dump(ARM64Fixture.description(version: 3, granule: .size16K, seed: 3)).bytes),
            ("arm64 v2 4K", try generateARM64Dump(ARM64Fixture.description(version: 2, granule: .size4K, seed: 2)).bytes),
            ("riscv v2", try generateRISCVDump(RISCVFixture.description(version: 2, seed: 5)).bytes),
            ("i386 PAE v2", try generateI386Dump(I386Fixture.description(version: 2, pae: true)).bytes),
            ("i386 v1", try generateI386Dump(I386Fixture.description(version: 1, pae: false)).bytes),
        ]
    }

    /// Addresses inside, at the edges of and beyond every kernel-map page, direct-map addresses of
    /// the dumped pages, and addresses in no map.
    static func probes(_ dump: Dump) -> [VirtualAddress] {
        var out: [UInt64] = []
        for page in dump.kernelPages().prefix(200) {
            let va = page.virtualAddress.rawValue
            out += [va, va &+ 0x123, va &+ page.size.bytes &- 8, va &+ page.size.bytes, va &- 1]
        }
        if let range = dump.directMapRange {
            for pa in dump.physicalRanges.prefix(4).map(\.start.rawValue) {
                out += [range.lowerBound &+ pa, range.lowerBound &+ pa &+ 0x2345]
            }
        }
        out += [0, 0x1000, UInt64.max &- 7, 0x7fff_ffff_f000]
        return out.map { VirtualAddress($0) }
    }

    @Test func batchTranslationsAndReadsAgreeWithSingleOnesOnEveryArchitecture() throws {
        for (name, bytes) in try Self.dumps() {
            let single = try Dump(contents: bytes, name: "vmcore.\(name)")
            let fresh = try Dump(contents: bytes, name: "vmcore.\(name)")
            let addresses = Self.probes(single)
            let hits = addresses.filter { (try? single.translate($0)) != nil }.count
            #expect(hits >= 40, "\(name): \(hits) of \(addresses.count) probes translate")
            #expect(hits < addresses.count, "\(name): no probe misses")
            let expected = addresses.map { va in Result { () throws(TranslationError) in try single.translate(va) } }
            #expect(fresh.translate(addresses) == expected, "\(name)")
            var words: [Result<UInt64, TranslationError>] = []
            fresh.readUInt64(addresses) { _, result in words.append(result) }
            #expect(words == addresses.map { va in Result { () throws(TranslationError) in try single.readUInt64(va) } }, "\(name)")
            #expect(fresh.read(addresses.map { ($0, 40) }) == addresses.map { single.read($0, count: 40) }, "\(name)")
        }
    }
}
