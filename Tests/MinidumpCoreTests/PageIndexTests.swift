import Testing
@testable import MinidumpCore
import MappedBytes
import VMCoreBuilder

/// The deliberately slow reference: count set bits one by one from bit 0.
func linearRank(_ words: [UInt64], _ bit: Int) -> UInt64 {
    var count: UInt64 = 0
    for n in 0..<bit where words[n / 64] >> UInt64(n % 64) & 1 == 1 { count += 1 }
    return count
}

/// Runs `body` with a `ByteView` over the little-endian bytes of `words`.
func withView<R>(_ words: [UInt64], _ body: (ByteView) -> R) -> R {
    let bytes = words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
    let file = MappedFile(name: "bitmap", contents: bytes)
    return withExtendedLifetime(file) { body(file.bytes) }
}

@Suite struct PageIndexTests {
    /// Bitmaps of several shapes and sizes, including partial last bins and bins with 0 or 1024 bits.
    static let shapes: [(name: String, words: [UInt64])] = {
        var rng = SplitMix64(seed: 7)
        var result: [(String, [UInt64])] = []
        for count in [1, 15, 16, 17, 31, 200, 1025, 64 * 16 + 3] {
            result.append(("random-\(count)", (0..<count).map { _ in rng.next() }))
            result.append(("sparse-\(count)", (0..<count).map { _ in rng.next() & rng.next() & rng.next() }))
        }
        result.append(("full", [UInt64](repeating: .max, count: 16 * 70 + 5)))
        result.append(("single", [UInt64](repeating: 0, count: 40) + [1 << 63] + [UInt64](repeating: 0, count: 9)))
        return result
    }()

    @Test(arguments: shapes.map(\.name))
    func everyBitAgreesWithTheLinearCount(name: String) {
        let words = Self.shapes.first { $0.name == name }!.words
        withView(words) { view in
            let index = PageIndex(bitmap: view)
            #expect(index.population == linearRank(words, words.count * 64))
            var reference: UInt64 = 0
            for bit in 0..<(words.count * 64) {
                let set = words[bit / 64] >> UInt64(bit % 64) & 1 == 1
                let lookup = index.lookup(UInt64(bit))
                #expect(index.isSet(UInt64(bit)) == set)
                if set {
                    #expect(lookup?.pagesBefore == reference, "bit \(bit)")
                    #expect(lookup?.bin == bit / 1024)
                    reference += 1
                } else {
                    #expect(lookup == nil, "bit \(bit)")
                }
            }
            #expect(index.lookup(UInt64(words.count * 64)) == nil)
            #expect(index.lookup(.max) == nil)
        }
    }

    @Test func setBitIterationMatchesTheBitmap() {
        for (_, words) in Self.shapes {
            withView(words) { view in
                let index = PageIndex(bitmap: view)
                var seen: [UInt64] = []
                index.forEachSetBit { seen.append($0); return true }
                let expected = (0..<(words.count * 64)).filter { words[$0 / 64] >> UInt64($0 % 64) & 1 == 1 }
                #expect(seen == expected.map(UInt64.init))
                var fromMiddle: [UInt64] = []
                let start = UInt64(words.count * 32 + 3)
                index.forEachSetBit(from: start) { fromMiddle.append($0); return true }
                #expect(fromMiddle == seen.filter { $0 >= start })
            }
        }
    }

    @Test func countsPastTwoToTheSixteenPerBlockAndBeyondThirtyTwoBitsStayExact() {
        // 64 full bins per block: relative counts reach 63 × 1024; absolute counts carry the rest.
        let words = [UInt64](repeating: .max, count: 16 * 64 * 3 + 16)
        withView(words) { view in
            let index = PageIndex(bitmap: view)
            for bit in stride(from: 0, to: words.count * 64, by: 997) {
                #expect(index.lookup(UInt64(bit))?.pagesBefore == UInt64(bit))
            }
            #expect(index.edgeCount(index.binCount) == UInt64(words.count * 64))
        }
    }

    @Test func memoryIsAtMostOneThirtySecondOfTheBitmap() {
        let words = [UInt64](repeating: 0x5555, count: 16 * 4096)
        withView(words) { view in
            let index = PageIndex(bitmap: view)
            #expect(index.memoryBytes * 32 <= words.count * 8)
        }
    }
}
