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

/// The lazy build (issue 15): blocks of 64 bins built on first use, in any order of lookups, from
/// many tasks at once, skipping file holes; every answer as the linear count's.
@Suite struct LazyPageIndexTests {
    /// Bitmaps of several blocks (8 KiB of bitmap each), with partial last blocks and bins.
    static let shapes: [(name: String, words: [UInt64])] = {
        var rng = SplitMix64(seed: 11)
        var result: [(String, [UInt64])] = []
        for count in [1024, 1025, 3 * 1024 - 5, 5 * 1024 + 16 * 3 + 7] {
            result.append(("random-\(count)", (0..<count).map { _ in rng.next() }))
            result.append(("sparse-\(count)", (0..<count).map { _ in rng.next() & rng.next() & rng.next() & rng.next() }))
        }
        // Zero blocks between dense ones, and a block of all ones (relative counts up to 63 × 1024).
        result.append(("zero-runs", [UInt64](repeating: 0, count: 2048) + [UInt64](repeating: .max, count: 1024)
            + [UInt64](repeating: 0, count: 1500) + (0..<600).map { _ in rng.next() }))
        return result
    }()

    /// The number of set bits below each bit, and the set bits.
    static func reference(_ words: [UInt64]) -> (below: [UInt64], set: [UInt64]) {
        var below: [UInt64] = []
        var set: [UInt64] = []
        below.reserveCapacity(words.count * 64)
        var count: UInt64 = 0
        for bit in 0..<(words.count * 64) {
            below.append(count)
            if words[bit / 64] >> UInt64(bit % 64) & 1 == 1 { count += 1; set.append(UInt64(bit)) }
        }
        return (below, set)
    }

    /// Bits whose lookup disagrees with the reference, looked up in `order`.
    static func mismatches(_ index: PageIndex, _ words: [UInt64], _ below: [UInt64], order: [Int]) -> [Int] {
        var wrong: [Int] = []
        for bit in order {
            let set = words[bit / 64] >> UInt64(bit % 64) & 1 == 1
            let lookup = index.lookup(UInt64(bit))
            let right = set ? lookup?.pagesBefore == below[bit] && lookup?.bin == bit / 1024 : lookup == nil
            if !right || index.rank(UInt64(bit)) != below[bit] { wrong.append(bit) }
        }
        return wrong
    }

    @Test(arguments: shapes.map(\.name))
    func lookupsInRandomOrderBuildOnlyWhatTheyNeedAndAgree(name: String) {
        let words = Self.shapes.first { $0.name == name }!.words
        let (below, _) = Self.reference(words)
        var rng = SplitMix64(seed: 3)
        var order = Array(0..<(words.count * 64))
        order.shuffle(using: &rng)
        withView(words) { view in
            let index = PageIndex(bitmap: view)
            #expect(index.blocksBuilt == 0)
            _ = index.lookup(5)
            _ = index.rank(100)
            #expect(index.blocksBuilt == 1, "a lookup in the first block builds that block only")
            #expect(Self.mismatches(index, words, below, order: order).isEmpty)
            #expect(index.population == below.last! + (words.last! >> 63))
            #expect(index.blocksBuilt == index.blockCount)
        }
    }

    @Test(arguments: shapes.map(\.name))
    func aFullBuildAgreesWithTheLinearCount(name: String) {
        let words = Self.shapes.first { $0.name == name }!.words
        let (below, _) = Self.reference(words)
        withView(words) { view in
            let index = PageIndex(bitmap: view)
            index.buildAll()
            #expect(index.blocksBuilt == index.blockCount)
            #expect(Self.mismatches(index, words, below, order: Array(0..<(words.count * 64)).reversed()).isEmpty)
            #expect(index.lookup(UInt64(words.count * 64)) == nil)
            #expect(index.rank(.max) == index.population)
        }
    }

    @Test func manyTasksBuildingTheIndexSeeTheSameCounts() async {
        let words = Self.shapes.first { $0.name == "sparse-\(5 * 1024 + 16 * 3 + 7)" }!.words
        let (below, set) = Self.reference(words)
        let bytes = words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        for round in 0..<4 {
            let file = MappedFile(name: "bitmap", contents: bytes)
            let index = PageIndex(bitmap: file.bytes)
            let wrong = await withTaskGroup(of: Int.self) { group in
                for task in 0..<12 {
                    group.addTask {
                        var rng = SplitMix64(seed: UInt64(round * 100 + task))
                        if task == 0 && round % 2 == 1 { index.buildAll() }
                        var order = set.map { Int($0) }
                        order.shuffle(using: &rng)
                        return Self.mismatches(index, words, below, order: Array(order.prefix(3000))).count
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(wrong == 0)
            #expect(withExtendedLifetime(file) { index.population } == UInt64(set.count))
        }
    }

    @Test func holesInTheFileCountAsZeroWithoutBeingRead() throws {
        // A bitmap file: 2 blocks of data, 5 blocks of hole (never written), 1 block of data, 3 of hole.
        var rng = SplitMix64(seed: 5)
        var words = [UInt64](repeating: 0, count: 11 * 1024)
        for index in 0..<(2 * 1024) { words[index] = rng.next() & rng.next() }
        for index in (7 * 1024)..<(8 * 1024) { words[index] = rng.next() }
        let path = "/tmp/kvmdump-pageindex-holes-\(rng.next())"
        let bytes = words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        // The generator's sparse writer: its all-zero 4 KiB blocks become holes.
        try GeneratedDump(bytes: bytes, truth: try generateDump(.standard(version: 3, seed: 0)).truth).write(to: path)
        defer { removeFile(path) }
        let file = try MappedFile(path: path)
        let (below, set) = Self.reference(words)
        let index = PageIndex(bitmap: file.bytes, file: file, offset: 0)
        var order = Array(0..<(words.count * 64))
        order.shuffle(using: &rng)
        #expect(Self.mismatches(index, words, below, order: order).isEmpty)
        #expect(index.population == UInt64(set.count))
        #expect(file.dataStart(from: 3 * 8192) == 7 * 8192 || file.dataStart(from: 3 * 8192) == 3 * 8192,
                "SEEK_DATA finds the data after the hole, or the file system does not say")
    }
}

/// The index as words (`tableWords`, `adopt`): what the tool's index cache keeps between commands.
@Suite struct PageIndexTransferTests {
    /// A file (in memory) holding `prefix` bytes, then `words` little-endian.
    static func file(_ words: [UInt64], prefix: Int = 48) -> MappedFile {
        MappedFile(name: "bins", contents: [UInt8](repeating: 0xa5, count: prefix)
            + words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } })
    }

    /// `words`'s `IndexChecksum`.
    static func checksum(_ words: [UInt64]) -> UInt64 {
        var sum = IndexChecksum()
        for word in words { sum.add(word) }
        return sum.value
    }

    @Test(arguments: LazyPageIndexTests.shapes.map(\.name) + PageIndexTests.shapes.map(\.name))
    func anAdoptedIndexAnswersAsTheCountedOne(name: String) {
        let words = (LazyPageIndexTests.shapes + PageIndexTests.shapes).first { $0.name == name }!.words
        let (below, _) = LazyPageIndexTests.reference(words)
        withView(words) { view in
            let counted = PageIndex(bitmap: view)
            let (table, checksum) = counted.tableWords()
            #expect(table.count == counted.tableWordCount)
            #expect(checksum == Self.checksum(table))
            let adopted = PageIndex(bitmap: view)
            // The table is read in place: the file is all that holds the words afterwards.
            #expect(adopted.adopt(Self.file(table), offset: 48, checksum: checksum))
            #expect(adopted.blocksBuilt == adopted.blockCount)
            #expect(LazyPageIndexTests.mismatches(adopted, words, below, order: Array(0..<(words.count * 64))).isEmpty)
            #expect(adopted.population == counted.population)
        }
    }

    @Test func damagedMisplacedOrLateWordsAreRefusedAndTheIndexStillCounts() {
        let words = LazyPageIndexTests.shapes.first { $0.name == "random-3067" }!.words
        let (below, _) = LazyPageIndexTests.reference(words)
        withView(words) { view in
            let (table, checksum) = PageIndex(bitmap: view).tableWords()
            #expect(table.count > 17 * 2)
            func refused(_ candidate: [UInt64], _ sum: UInt64, _ why: Comment) {
                let index = PageIndex(bitmap: view)
                #expect(!index.adopt(Self.file(candidate), offset: 48, checksum: sum), why)
                #expect(index.blocksBuilt == 0, why)
                #expect(LazyPageIndexTests.mismatches(index, words, below, order: Array(0..<(words.count * 64)).reversed()).isEmpty, why)
            }
            refused(table, checksum ^ 1, "a wrong checksum")
            var changed = table
            changed[17] &+= 1  // the second block's absolute count, off by one
            refused(changed, checksum, "a changed word under the old checksum")
            // Well-formed checksums over malformed counts: each structural rule on its own.
            var decreasing = table
            decreasing[17] = table[0]
            if table[17] > table[0] { refused(decreasing, Self.checksum(decreasing), "an absolute count below the last edge") }
            var relative = table
            relative[1] |= 5  // edge 0 of block 0 must be 0
            refused(relative, Self.checksum(relative), "a first relative count that is not 0")
            var jump = table
            jump[2] = (jump[2] & ~0xffff) | 0xffff  // edge 4: more than a bin's bits after edge 3
            refused(jump, Self.checksum(jump), "a relative count jumping by more than a bin")
            var beyond = table
            beyond[beyond.count - 1] = .max  // the last edge past the bitmap's bits
            refused(beyond, Self.checksum(beyond), "a last edge past the bitmap")
            refused(Array(table.dropLast()), Self.checksum(Array(table.dropLast())), "a word short")
            refused(table + [0], Self.checksum(table + [0]), "a word too many")
            // Any block built already: the table is not replaced.
            let started = PageIndex(bitmap: view)
            _ = started.lookup(3)
            #expect(!started.adopt(Self.file(table), offset: 48, checksum: checksum))
            // Words not 8-aligned in the file are not read in place.
            let misaligned = PageIndex(bitmap: view)
            #expect(!misaligned.adopt(Self.file(table, prefix: 44), offset: 44, checksum: checksum))
            #expect(misaligned.blocksBuilt == 0)
            #expect(started.blocksBuilt == 1)
        }
    }
}
