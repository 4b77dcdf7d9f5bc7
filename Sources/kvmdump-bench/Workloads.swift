/// The in-process workloads: address sets drawn before timing, and the loops that are timed.
import MinidumpCore
import VMCoreBuilder

/// How many operations each timed loop performs per run.
struct OperationCounts: Sendable {
    /// Random translations per run (each kind).
    var translations: Int
    /// Random 8-byte reads per run.
    var reads: Int
    /// Addresses piped through `kvmdump translate -`.
    var pipeAddresses: Int
    /// Physical-page lookups per run with the popcount-bin index.
    var physicalLookups: Int
    /// Lookups per run with the hash-table baseline (it is slow, so fewer).
    var hashLookups: Int
    /// Lookups per run with the linear-count baseline (far slower, so a small sample).
    var linearLookups: Int

    /// The full benchmark's counts on a dump whose bitmap has `bitmapBits` bits and `pages` set bits.
    static func full(bitmapBits: UInt64, pages: UInt64) -> OperationCounts {
        OperationCounts(
            translations: 2_000_000, reads: 2_000_000, pipeAddresses: 1_000_000, physicalLookups: 2_000_000,
            hashLookups: Int(min(100_000, max(1_000, 4_000_000_000 / max(pages, 1)))),
            linearLookups: Int(min(2_000, max(8, (UInt64(1) << 34) / max(bitmapBits, 1)))))
    }

    /// A few thousand of everything, for `--smoke`.
    static let smoke = OperationCounts(translations: 5_000, reads: 5_000, pipeAddresses: 5_000,
                                       physicalLookups: 5_000, hashLookups: 2_000, linearLookups: 200)
}

/// A virtually contiguous stretch of the kernel map whose pages are all in the dump.
struct VirtualRun: Sendable {
    /// First address.
    var start: UInt64
    /// Length in bytes.
    var length: UInt64
}

/// Everything the timed loops consume, drawn from a seeded `SplitMix64` before any timing.
struct AddressSets {
    /// Random addresses inside fully dumped kernel-map pages: a random valid leaf (4 KiB PTE or
    /// 2 MiB PDE), then a random byte in it.
    var kernel: [UInt64] = []
    /// Random addresses in dumped pages reachable only through the direct map (UMA-like pages).
    var directMap: [UInt64] = []
    /// Addresses that do not translate: a third each in the direct map over RAM (page not dumped),
    /// in the kernel map's span (invalid entry) and below both maps.
    var misses: [UInt64] = []
    /// 8-byte-aligned addresses in fully dumped kernel-map pages.
    var reads: [UInt64] = []
    /// Page-aligned physical addresses of random dumped pages.
    var physical: [UInt64] = []
    /// The kernel map's dumped stretches, in address order (the sequential read covers all of them).
    var runs: [VirtualRun] = []
    /// `0x%016x\n` lines of random kernel addresses, for `kvmdump translate -`.
    var pipeText: [UInt8] = []
    /// `0x%016x 8\n` lines: 8-byte reads at random kernel addresses (8-aligned, so inside one page),
    /// for `kvmdump read -`.
    var readPipeText: [UInt8] = []
    /// One dumped kernel address for `kvmdump read`.
    var probeAddress: UInt64 = 0

    /// Draws every set for `dump`, with `counts` operations per run.
    init(dump: Dump, bitmap: MappedBitmap, counts: OperationCounts, seed: UInt64) throws(BenchError) {
        var rng = SplitMix64(seed: seed)
        var leaves: [VirtualRun] = []
        var stretches: [VirtualRun] = []
        dump.forEachKernelPage { page in
            let size = page.size.bytes
            guard UInt64(page.presentPages) == size >> 12 else { return true }
            leaves.append(VirtualRun(start: page.virtualAddress.rawValue, length: size))
            if let last = stretches.last, last.start &+ last.length == page.virtualAddress.rawValue {
                stretches[stretches.count - 1].length += size
            } else {
                stretches.append(VirtualRun(start: page.virtualAddress.rawValue, length: size))
            }
            return true
        }
        guard !leaves.isEmpty else { throw BenchError("\(dump.path): no dumped kernel-map page") }
        runs = stretches
        func kernelAddress() -> UInt64 {
            let leaf = leaves[Int(rng.next(below: UInt64(leaves.count)))]
            return leaf.start + rng.next(below: leaf.length)
        }
        kernel = (0..<counts.translations).map { _ in kernelAddress() }
        reads = (0..<counts.reads).map { _ in kernelAddress() & ~7 }
        probeAddress = leaves[leaves.count / 2].start + 0x100

        var dmapPages: [UInt64] = []
        dump.forEachDirectMapOnlyPage { pa, offset in
            if offset != nil { dmapPages.append(pa.rawValue) }
            return true
        }
        guard !dmapPages.isEmpty else { throw BenchError("\(dump.path): no direct-map-only page") }
        let dmapBase = dump.header.directMapBase.rawValue
        directMap = (0..<counts.translations).map { _ in
            dmapBase + dmapPages[Int(rng.next(below: UInt64(dmapPages.count)))] + rng.next(below: 4096)
        }

        let ramTop = dump.physicalRanges.last!.end.rawValue
        let kernbase = dump.header.kernbase.rawValue
        let kernelSpan = dump.kernelMapRange.map { $0.upperBound - $0.lowerBound } ?? 1
        var attempts = 0
        while misses.count < counts.translations {
            attempts += 1
            guard attempts < counts.translations * 100 else { throw BenchError("\(dump.path): cannot draw misses") }
            let va: UInt64
            switch misses.count % 3 {
            case 0: va = dmapBase + rng.next(below: ramTop)
            case 1: va = kernbase + rng.next(below: kernelSpan)
            default: va = rng.next(below: 1 << 47)
            }
            if (try? dump.translate(VirtualAddress(va))) == nil { misses.append(va) }
        }

        var dumped: [UInt64] = []
        dumped.reserveCapacity(Int(dump.dumpedPageCount))
        bitmap.forEachDumpedPage(ranges: dump.physicalRanges) { dumped.append($0) }
        physical = (0..<counts.physicalLookups).map { _ in dumped[Int(rng.next(below: UInt64(dumped.count)))] }

        pipeText.reserveCapacity(counts.pipeAddresses * 19)
        let digits = Array("0123456789abcdef".utf8)
        for _ in 0..<counts.pipeAddresses {
            let va = kernelAddress()
            pipeText.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: "x")])
            for shift in stride(from: 60, through: 0, by: -4) { pipeText.append(digits[Int(va >> UInt64(shift) & 15)]) }
            pipeText.append(UInt8(ascii: "\n"))
        }
        readPipeText.reserveCapacity(counts.pipeAddresses * 21)
        for _ in 0..<counts.pipeAddresses {
            let va = kernelAddress() & ~7
            readPipeText.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: "x")])
            for shift in stride(from: 60, through: 0, by: -4) { readPipeText.append(digits[Int(va >> UInt64(shift) & 15)]) }
            readPipeText.append(contentsOf: [UInt8(ascii: " "), UInt8(ascii: "8"), UInt8(ascii: "\n")])
        }
    }
}

/// Translates every address, which must all succeed; mixes each file offset into `sum`.
/// Returns the number of failures.
@inline(never)
func translateHits(_ dump: Dump, _ addresses: [UInt64], _ sum: inout Checksum) -> Int {
    var failures = 0
    for va in addresses {
        do {
            sum.add(try dump.translate(VirtualAddress(va)).fileOffset.rawValue)
        } catch {
            failures += 1
        }
    }
    return failures
}

/// Translates every address, which must all fail; mixes each failure's address into `sum`.
/// Returns the number that unexpectedly succeeded.
@inline(never)
func translateMisses(_ dump: Dump, _ addresses: [UInt64], _ sum: inout Checksum) -> Int {
    var successes = 0
    for va in addresses {
        do {
            sum.add(try dump.translate(VirtualAddress(va)).fileOffset.rawValue)
            successes += 1
        } catch {
            sum.add(error.virtualAddress.rawValue)
        }
    }
    return successes
}

/// Reads the 64-bit word at every address; returns the number of failures.
@inline(never)
func readWords(_ dump: Dump, _ addresses: [UInt64], _ sum: inout Checksum) -> Int {
    var failures = 0
    for va in addresses {
        do {
            sum.add(try dump.readUInt64(VirtualAddress(va)) &+ va)
        } catch {
            failures += 1
        }
    }
    return failures
}

/// Translates every address with the batch interface, which must all succeed; mixes each file
/// offset into `sum`. Returns the number of failures.
@inline(never)
func translateBatch(_ dump: Dump, _ addresses: [VirtualAddress], _ sum: inout Checksum) -> Int {
    var failures = 0
    dump.translate(addresses) { _, result in
        switch result {
        case .success(let translation): sum.add(translation.fileOffset.rawValue)
        case .failure: failures += 1
        }
    }
    return failures
}

/// Reads the 64-bit word at every address with the batch interface; returns the number of failures.
@inline(never)
func readWordsBatch(_ dump: Dump, _ addresses: [VirtualAddress], _ sum: inout Checksum) -> Int {
    var failures = 0
    dump.readUInt64(addresses) { position, result in
        switch result {
        case .success(let word): sum.add(word &+ addresses[position].rawValue)
        case .failure: failures += 1
        }
    }
    return failures
}

/// Reads every run front to back in `chunk`-byte `Dump.read` calls; returns the bytes read.
@inline(never)
func readSequentially(_ dump: Dump, _ runs: [VirtualRun], chunk: UInt64, _ sum: inout Checksum) -> UInt64 {
    var total: UInt64 = 0
    for run in runs {
        var va = run.start
        let end = run.start + run.length
        while va < end {
            let result = dump.read(VirtualAddress(va), count: Int(min(chunk, end - va)))
            total += UInt64(result.bytes.count)
            sum.add(UInt64(result.bytes.last ?? 0) &+ UInt64(result.bytes.count))
            if result.error != nil { return total }
            va += chunk
        }
    }
    return total
}

/// Looks up every physical page with the popcount-bin index (`Dump.fileOffset(ofPhysical:)`).
@inline(never)
func lookupPopcount(_ dump: Dump, _ pages: [UInt64], _ sum: inout Checksum) -> Int {
    var misses = 0
    for pa in pages {
        if let offset = dump.fileOffset(ofPhysical: PhysicalAddress(pa)) {
            sum.add(offset.rawValue)
        } else {
            misses += 1
        }
    }
    return misses
}

/// Looks up the first `count` physical pages with the hash-table baseline.
@inline(never)
func lookupHashTable(_ table: HashTableIndex, _ pages: [UInt64], count: Int, _ sum: inout Checksum) -> Int {
    var misses = 0
    for pa in pages.prefix(count) {
        let offset = table.offset(of: pa)
        if offset < 0 { misses += 1 } else { sum.add(UInt64(offset)) }
    }
    return misses
}

/// Looks up the first `count` physical pages by counting bits from bit 0.
@inline(never)
func lookupLinear(_ index: LinearCountIndex, _ pages: [UInt64], count: Int, _ sum: inout Checksum) -> Int {
    var misses = 0
    for pa in pages.prefix(count) {
        let offset = index.offset(of: pa)
        if offset < 0 { misses += 1 } else { sum.add(UInt64(offset)) }
    }
    return misses
}
