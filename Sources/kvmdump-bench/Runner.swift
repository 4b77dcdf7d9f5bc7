/// Runs every measurement on one dump and turns the results into table rows.
import MinidumpCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Settings shared by every dump of one benchmark run.
struct RunSettings {
    /// Runs per figure.
    var runs: Int
    /// Smoke mode: tiny dumps and counts; targets are shown but do not apply.
    var smoke: Bool
    /// The `kvmdump` executable.
    var kvmdump: String
}

/// The rows for one dump, plus what the summary needs.
struct DumpResults {
    /// Table rows.
    var figures: [Figure]
    /// The probe's own peak RSS: the floor of the child peak-RSS figure.
    var probeFloorBytes: Int
}

/// Collects the rows of one dump.
private struct FigureList {
    let dump: String
    var rows: [Figure] = []

    mutating func add(_ name: String, _ unit: FigureUnit, _ samples: Samples, _ target: Target? = nil) {
        rows.append(Figure(name: name, dump: dump, unit: unit, samples: samples, target: target))
    }
}

/// Operations per second of `count` operations timed by `body`, over `runs` runs.
/// One untimed run first brings the pages it touches into this process's page tables.
private func rate(_ runs: Int, count: Int, _ body: () throws(BenchError) -> Void) throws(BenchError) -> Samples {
    try body()
    return try repeated(runs) { () throws(BenchError) -> Double in
        Double(count) / (try timeSeconds(body))
    }
}

/// Fails unless `count` is zero.
private func expectNone(_ count: Int, _ what: String, _ path: String) throws(BenchError) {
    guard count == 0 else { throw BenchError("\(path): \(count) \(what)") }
}

/// Checks on a sample that the three indexes agree page for page, and that translations land where
/// the hash table says their physical page is.
private func crossCheck(dump: Dump, sets: AddressSets, hash: HashTableIndex, linear: LinearCountIndex,
                        linearCount: Int) throws(BenchError) {
    for (number, pa) in sets.physical.prefix(1000).enumerated() {
        let ours = dump.fileOffset(ofPhysical: PhysicalAddress(pa)).map { Int64($0.rawValue) } ?? -1
        let chained = hash.offset(of: pa)
        let counted = number < min(linearCount, 50) ? linear.offset(of: pa) : chained
        guard ours >= 0, ours == chained, ours == counted else {
            throw BenchError("\(dump.path): pa \(pa): popcount bins \(ours), hash table \(chained), linear \(counted)")
        }
    }
    for va in sets.kernel.prefix(1000) + sets.directMap.prefix(1000) {
        guard let translation = try? dump.translate(VirtualAddress(va)) else {
            throw BenchError("\(dump.path): \(VirtualAddress(va)) does not translate")
        }
        let pa = translation.physicalAddress.rawValue
        let expected = hash.offset(of: pa & ~0xfff) + Int64(pa & 0xfff)
        guard Int64(translation.fileOffset.rawValue) == expected else {
            throw BenchError("\(dump.path): \(VirtualAddress(va)) -> offset \(translation.fileOffset), hash table says \(expected)")
        }
    }
}

/// Measures everything on the dump at `path`.
func benchmarkDump(_ dataset: BenchDataset, path: String, settings: RunSettings,
                   checksum: inout Checksum) throws(BenchError) -> DumpResults {
    let runs = settings.runs
    let full = !settings.smoke
    var list = FigureList(dump: dataset.key)
    func open() throws(BenchError) -> Dump {
        do { return try Dump(path: path) } catch { throw BenchError("\(error)") }
    }

    note("[\(dataset.key)] \(dataset.label): open")
    _ = try open()
    var opened: [Dump] = []
    let lazyTimes = try repeated(runs) { () throws(BenchError) -> Double in
        defer { opened.removeAll() }
        return try timeSeconds { () throws(BenchError) in opened.append(try open()) }
    }
    let openTimes = try repeated(runs) { () throws(BenchError) -> Double in
        defer { opened.removeAll() }
        return try timeSeconds { () throws(BenchError) in
            let dump = try open()
            dump.buildIndex()
            opened.append(dump)
        }
    }
    let openTarget: Target? = full ? (dataset.key == "b" ? .atMost(0.050) : dataset.key == "c" ? .atMost(0.400) : nil) : nil
    list.add("open, lazy (header; bins built on use)", .seconds, lazyTimes)
    list.add("open (header + index build)", .seconds, openTimes, openTarget)

    let dump = try open()
    dump.buildIndex()
    let bitmapBytes = Double(dump.layout.bitmap.length)
    let indexBytes = Double(dump.indexMemoryBytes)
    list.add("index memory (bins)", .bytes, .exact(indexBytes))
    list.add("index memory / bitmap size", .fraction, .exact(indexBytes / bitmapBytes), .atMost(1.0 / 32))

    note("[\(dataset.key)] drawing addresses")
    let bitmap = try MappedBitmap(path: path, dump: dump)
    let counts = settings.smoke
        ? OperationCounts.smoke : OperationCounts.full(bitmapBits: UInt64(bitmapBytes) * 8, pages: dump.dumpedPageCount)
    let sets = try AddressSets(dump: dump, bitmap: bitmap, counts: counts, seed: 0x6b76_6d64_756d_70)

    note("[\(dataset.key)] building the hash-table baseline")
    var hashTable: HashTableIndex?
    let dataOffset = dump.layout.data.offset.rawValue
    let buildTimes = repeated(runs) { () -> Double in
        hashTable = nil
        return timeSeconds {
            hashTable = HashTableIndex(bitmap: bitmap, ranges: dump.physicalRanges, dataOffset: dataOffset)
        }
    }
    let hash = hashTable!
    let hashBytes = hash.memoryBytes
    guard UInt64(hash.nodeCount) == dump.dumpedPageCount else {
        throw BenchError("\(path): hash table has \(hash.nodeCount) nodes, the dump \(dump.dumpedPageCount) pages")
    }
    let linear = LinearCountIndex(bitmap: bitmap, ranges: dump.physicalRanges, dataOffset: dataOffset)
    try crossCheck(dump: dump, sets: sets, hash: hash, linear: linear, linearCount: counts.linearLookups)

    note("[\(dataset.key)] translations and reads")
    var failures = 0
    let kernel = try rate(runs, count: sets.kernel.count) { failures += translateHits(dump, sets.kernel, &checksum) }
    let direct = try rate(runs, count: sets.directMap.count) { failures += translateHits(dump, sets.directMap, &checksum) }
    let misses = try rate(runs, count: sets.misses.count) { failures += translateMisses(dump, sets.misses, &checksum) }
    let reads = try rate(runs, count: sets.reads.count) { failures += readWords(dump, sets.reads, &checksum) }
    let kernelVAs = sets.kernel.map { VirtualAddress($0) }, readVAs = sets.reads.map { VirtualAddress($0) }
    let kernelBatch = try rate(runs, count: kernelVAs.count) { failures += translateBatch(dump, kernelVAs, &checksum) }
    let readBatch = try rate(runs, count: readVAs.count) { failures += readWordsBatch(dump, readVAs, &checksum) }
    try expectNone(failures, "unexpected translation results", path)
    list.add("translate, kernel map (random)", .rate, kernel)
    list.add("translate, kernel map (batch of \(Dump.batchGroup))", .rate, kernelBatch, full ? .atLeast(20e6) : nil)
    list.add("ratio translate (batch) / probe limit \(formatValue(Reference.probeTranslations, .rate))", .ratio,
             kernelBatch.scaled(by: 1 / Reference.probeTranslations))
    list.add("translate, direct map (random)", .rate, direct)
    list.add("translate, misses (random)", .rate, misses)
    list.add("read 8 bytes (random, kernel map)", .rate, reads)
    list.add("read 8 bytes (batch of \(Dump.batchGroup))", .rate, readBatch)
    let readTarget: Target? = full && dataset.key != "c" ? .atLeast(10) : nil
    list.add("ratio read 8 bytes (batch) / C reference \(formatValue(Reference.cReads, .rate))", .ratio,
             readBatch.scaled(by: 1 / Reference.cReads), readTarget)
    list.add("ratio read 8 bytes (batch) / probe limit \(formatValue(Reference.probeReads, .rate))", .ratio,
             readBatch.scaled(by: 1 / Reference.probeReads))

    note("[\(dataset.key)] sequential read of the kernel map")
    let chunk: UInt64 = 1 << 20
    let mapBytes = readSequentially(dump, sets.runs, chunk: chunk, &checksum)
    guard mapBytes == sets.runs.reduce(0, { $0 + $1.length }) else {
        throw BenchError("\(path): sequential read stopped after \(mapBytes) bytes")
    }
    let sequential = repeated(runs) { () -> Double in
        var bytes: UInt64 = 0
        let seconds = timeSeconds { bytes = readSequentially(dump, sets.runs, chunk: chunk, &checksum) }
        return Double(bytes) / seconds
    }
    list.add("sequential read, kernel map (\(formatValue(Double(mapBytes), .bytes)))", .bytesPerSecond, sequential,
             full ? .atLeast(2e9) : nil)

    note("[\(dataset.key)] physical-page lookups: popcount bins, hash table, linear count")
    let ours = try rate(runs, count: sets.physical.count) { failures += lookupPopcount(dump, sets.physical, &checksum) }
    let chained = try rate(runs, count: counts.hashLookups) {
        failures += lookupHashTable(hash, sets.physical, count: counts.hashLookups, &checksum)
    }
    let counted = try rate(runs, count: counts.linearLookups) {
        failures += lookupLinear(linear, sets.physical, count: counts.linearLookups, &checksum)
    }
    try expectNone(failures, "physical pages not found", path)
    list.add("pa lookup: popcount bins (ours)", .rate, ours)
    list.add("pa lookup: hash table, \(counts.hashLookups) lookups", .rate, chained)
    list.add("pa lookup: linear count, \(counts.linearLookups) lookups", .rate, counted)
    list.add("hash table build", .seconds, buildTimes)
    list.add("hash table memory (\(hash.bytesPerNode) B/node)", .bytes, .exact(Double(hashBytes)))
    let isA = full && dataset.key == "a"
    list.add("ratio lookup speed: bins / hash table", .ratio, ours.dividedBy(chained), isA ? .atLeast(50) : nil)
    list.add("ratio memory: hash table / (bins + bitmap)", .ratio,
             .exact(Double(hashBytes) / (indexBytes + bitmapBytes)), isA ? .atLeast(10) : nil)
    list.add("ratio lookup speed: bins / linear count", .ratio, ours.dividedBy(counted))
    hashTable = nil

    note("[\(dataset.key)] kvmdump translate - through a pipe")
    let pipeRuns = try repeated(runs) { () throws(BenchError) -> Double in
        let outcome = try pipeThroughTranslate(kvmdump: settings.kvmdump, dump: path, input: sets.pipeText)
        guard outcome.status == 0, outcome.lines == counts.pipeAddresses, outcome.errors == 0 else {
            throw BenchError("\(path): translate - answered \(outcome.lines) lines (\(outcome.errors) errors), status \(outcome.status)")
        }
        return Double(counts.pipeAddresses) / outcome.seconds
    }
    list.add("kvmdump translate - (\(counts.pipeAddresses) addresses, pipe)", .rate, pipeRuns,
             full ? .atLeast(2e6) : nil)

    note("[\(dataset.key)] kvmdump read - through a pipe")
    let readPipeRuns = try repeated(runs) { () throws(BenchError) -> Double in
        let outcome = try pipeThroughTranslate(kvmdump: settings.kvmdump, dump: path, input: sets.readPipeText, subcommand: "read")
        guard outcome.status == 0, outcome.lines == counts.pipeAddresses, outcome.errors == 0 else {
            throw BenchError("\(path): read - answered \(outcome.lines) lines (\(outcome.errors) errors), status \(outcome.status)")
        }
        return Double(counts.pipeAddresses) / outcome.seconds
    }
    list.add("kvmdump read - (\(counts.pipeAddresses) 8-byte reads, pipe)", .rate, readPipeRuns)

    note("[\(dataset.key)] single kvmdump read")
    let argv = [settings.kvmdump, "read", "-M", path, "0x" + String(sets.probeAddress, radix: 16), "--len", "64"]
    // As a user sees it from the second command on: the first run (dropped) writes the index cache
    // of a large bitmap, the measured ones read it back.
    clearCache(benchCacheDirectory())
    let probe = try probeChild(argv, runs: runs + 1)
    let measured = probe.runs.dropFirst()
    if let bad = measured.first(where: { $0.status != 0 }) {
        throw BenchError("\(argv.joined(separator: " ")) exited with status \(bad.status)")
    }
    list.add("kvmdump read --len 64: wall", .seconds, Samples(values: measured.map(\.seconds)),
             full && dataset.key == "a" ? .atMost(0.010) : nil)
    list.add("kvmdump read --len 64: peak RSS", .bytes, Samples(values: measured.map { Double($0.peakRSSBytes) }))
    let first = try repeated(runs) { () throws(BenchError) -> Double in
        clearCache(benchCacheDirectory())
        let outcome = try measureChild(argv)
        guard outcome.status == 0 else { throw BenchError("\(argv.joined(separator: " ")) exited with status \(outcome.status)") }
        return outcome.seconds
    }
    list.add("kvmdump read --len 64, first (an empty cache): wall", .seconds, first)
    setenv("KVMDUMP_INDEX_CACHE", "0", 1)
    let uncached = try probeChild(argv, runs: runs + 1)
    unsetenv("KVMDUMP_INDEX_CACHE")
    let withoutCache = uncached.runs.dropFirst()
    if let bad = withoutCache.first(where: { $0.status != 0 }) {
        throw BenchError("KVMDUMP_INDEX_CACHE=0 \(argv.joined(separator: " ")) exited with status \(bad.status)")
    }
    list.add("kvmdump read --len 64, KVMDUMP_INDEX_CACHE=0: wall", .seconds, Samples(values: withoutCache.map(\.seconds)))
    list.add("kvmdump read --len 64, KVMDUMP_INDEX_CACHE=0: peak RSS", .bytes,
             Samples(values: withoutCache.map { Double($0.peakRSSBytes) }))
    if dataset.key == "a" {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        list.rows += try benchmarkCompressed(path: path, address: sets.probeAddress, directory: directory.isEmpty ? "/" : directory,
                                             settings: settings)
    }
    return DumpResults(figures: list.rows, probeFloorBytes: probe.probeRSSBytes)
}
