/// `--profile WORKLOAD`: one workload, run once, so an instruction counter sees only that loop.
///
/// valgrind --tool=callgrind --toggle-collect='*translateHits*' kvmdump-bench --profile translate-kernel --ops 200000
/// then Ir of the loop / ops = instructions per operation.
import MinidumpCore

/// The workloads `--profile` accepts.
let profileWorkloads = ["translate-kernel", "translate-dmap", "translate-miss", "read8", "lookup", "lookup-hash",
                        "translate-kernel-batch", "read8-batch", "open-lazy-read"]

/// Opens dump `options.dump`, draws `options.ops` operations, runs `workload` once and prints its checksum.
func runProfile(_ workload: String, options: BenchOptions) throws(BenchError) {
    guard profileWorkloads.contains(workload) else {
        throw BenchError("unknown workload '\(workload)' (\(profileWorkloads.joined(separator: ", ")))")
    }
    let datasets = options.smoke ? smokeDatasets() : fullDatasets()
    guard let index = datasets.firstIndex(where: { $0.key == options.dump }) else {
        throw BenchError("unknown dump '\(options.dump)' (a, b or c)")
    }
    let directory = options.smoke ? try temporaryDirectory() : options.cache
    let paths = try prepareDumps([datasets[index]], in: directory)
    defer { if options.smoke { removeDirectory(directory, files: paths) } }
    let dump: Dump
    do { dump = try Dump(path: paths[0]) } catch { throw BenchError("\(error)") }
    if workload == "open-lazy-read" {
        // What one `kvmdump read` costs the library: open, one translation and read, nothing built before.
        let va = VirtualAddress(dump.kernelPages()[0].virtualAddress.rawValue)
        let fresh: Dump
        do { fresh = try Dump(path: paths[0]) } catch { throw BenchError("\(error)") }
        print("open-lazy-read: \(fresh.read(va, count: 64).bytes.count) bytes")
        return
    }
    dump.buildIndex()
    let bitmap = try MappedBitmap(path: paths[0], dump: dump)
    let ops = options.ops
    let counts = OperationCounts(translations: ops, reads: ops, pipeAddresses: 1, physicalLookups: ops,
                                 hashLookups: ops, linearLookups: 1)
    let sets = try AddressSets(dump: dump, bitmap: bitmap, counts: counts, seed: 0x6b76_6d64_756d_70)
    var sum = Checksum()
    var failures = 0
    let clock = ContinuousClock()
    var best = Double.infinity
    for _ in 0..<options.repeats {
    let start = clock.now
    switch workload {
    case "translate-kernel": failures = translateHits(dump, sets.kernel, &sum)
    case "translate-dmap": failures = translateHits(dump, sets.directMap, &sum)
    case "translate-miss": failures = translateMisses(dump, sets.misses, &sum)
    case "read8": failures = readWords(dump, sets.reads, &sum)
    case "translate-kernel-batch": failures = translateBatch(dump, sets.kernel.map { VirtualAddress($0) }, &sum)
    case "read8-batch": failures = readWordsBatch(dump, sets.reads.map { VirtualAddress($0) }, &sum)
    case "lookup": failures = lookupPopcount(dump, sets.physical, &sum)
    default:
        let table = HashTableIndex(bitmap: bitmap, ranges: dump.physicalRanges, dataOffset: dump.layout.data.offset.rawValue)
        failures = lookupHashTable(table, sets.physical, count: ops, &sum)
    }
    best = min(best, (clock.now - start).seconds)
    }
    let seconds = best
    print("\(workload) on \(paths[0]): \(ops) operations in \(formatValue(seconds, .seconds))"
        + " (\(formatValue(Double(ops) / seconds, .rate)), cold pages included), \(failures) unexpected,"
        + " checksum \(String(sum.value, radix: 16))")
}
