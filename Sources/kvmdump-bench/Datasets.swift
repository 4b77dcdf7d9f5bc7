/// The dumps the benchmark runs on, and the cache that generates each of them once.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VMCoreBuilder

/// One benchmark dump: a short key for the table, what it models, and how to generate it.
struct BenchDataset: Sendable {
    /// "a", "b" or "c" (the names).
    let key: String
    /// What machine the dump models.
    let label: String
    /// The generator description.
    let description: DumpDescription
    /// File name inside the cache folder.
    let fileName: String
}

/// Bump when the way this target builds or names its dumps changes, to force regeneration.
let cacheFormatVersion = "kvmdump-bench-cache 1"

/// The three full-size dumps, from the generator's benchmark presets (all version 3, data pages are holes).
func fullDatasets() -> [BenchDataset] {
    [
        BenchDataset(key: "a", label: "128 GiB RAM, 8 GiB dumped (4 MiB bitmap)",
                     description: DumpDescription.preset("bench-128g")!, fileName: "vmcore.bench-128g"),
        BenchDataset(key: "b", label: "1 TiB RAM (32 MiB bitmap)",
                     description: DumpDescription.preset("bench-1t")!, fileName: "vmcore.bench-1t"),
        BenchDataset(key: "c", label: "8 TiB RAM (256 MiB bitmap)",
                     description: DumpDescription.preset("bench-8t")!, fileName: "vmcore.bench-8t"),
    ]
}

/// Three tiny dumps of the same shape (1, 4 and 16 GiB of RAM) for `--smoke`.
func smokeDatasets() -> [BenchDataset] {
    func tiny(_ key: String, gib: UInt64, large: Int, small: Int, dmapOnly: Int) -> BenchDataset {
        let top = 0x1_0000_0000 + (gib > 3 ? (gib - 3) << 30 : 0)
        let ranges: [Range<UInt64>] = gib > 3
            ? [0x1000..<0x9_f000, 0x10_0000..<0xc000_0000, 0x1_0000_0000..<top]
            : [0x1000..<0x9_f000, 0x10_0000..<(gib << 30)]
        let kb = DumpDescription.defaultKernbase(version: 3)
        let mappings = [
            KernelMapping(virtualAddress: 0xffff_ffff_8020_0000, pageSize: .size2M, count: 2, executable: true,
                          placement: .physical(0x20_0000)),
            KernelMapping(virtualAddress: kb + 0x10_0000_0000, pageSize: .size2M, count: large),
            KernelMapping(virtualAddress: kb + 0x20_0000_0000, pageSize: .size4K, count: small),
        ]
        let description = DumpDescription(version: 3, seed: 7, physicalRanges: ranges, kernelMapSlots: 2047,
                                          mappings: mappings, directMapOnlyPages: dmapOnly, stampPages: false)
        return BenchDataset(key: key, label: "smoke: \(gib) GiB RAM", description: description,
                            fileName: "vmcore.smoke-\(key)")
    }
    return [
        tiny("a", gib: 1, large: 4, small: 1024, dmapOnly: 2000),
        tiny("b", gib: 4, large: 2, small: 512, dmapOnly: 1000),
        tiny("c", gib: 16, large: 1, small: 256, dmapOnly: 500),
    ]
}

/// A failure of the benchmark itself (not a missed target): the message says what and where.
struct BenchError: Error, CustomStringConvertible {
    /// What went wrong.
    let description: String
    init(_ description: String) { self.description = description }
}

/// FNV-1a 64-bit of `text`: a stable fingerprint for the cache stamp.
func fingerprint(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}

/// The stamp line recorded for a dump: format version, description fingerprint and file size.
func stampLine(_ dataset: BenchDataset, fileSize: UInt64) -> String {
    let print = fingerprint(String(reflecting: dataset.description))
    return "\(cacheFormatVersion) \(dataset.fileName) \(String(print, radix: 16)) \(fileSize)"
}

/// Size of the file at `path`, or nil if it does not exist.
func fileSize(atPath path: String) -> UInt64? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return UInt64(info.st_size)
}

/// Reads a small text file to its end (also /proc files, whose size is 0); nil if it cannot be read.
func readText(atPath path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        if count == 0 { return String(decoding: bytes, as: UTF8.self) }
        bytes += buffer[..<count]
    }
}

/// Writes a small text file, replacing it.
func writeText(_ text: String, atPath path: String) throws(BenchError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw BenchError("cannot create \(path): errno \(errno)") }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
        throw BenchError("cannot write \(path): errno \(errno)")
    }
}

/// Makes sure every dump exists in `directory` and matches its stamp, generating what is missing or stale.
/// Returns the path of each dump, in order. Progress goes to standard error.
func prepareDumps(_ datasets: [BenchDataset], in directory: String) throws(BenchError) -> [String] {
    if mkdir(directory, 0o755) != 0 && errno != EEXIST {
        throw BenchError("cannot create cache folder \(directory): errno \(errno)")
    }
    var paths: [String] = []
    for dataset in datasets {
        let path = directory + "/" + dataset.fileName
        let stampPath = path + ".stamp"
        let stamp = readText(atPath: stampPath)
        if let size = fileSize(atPath: path), stamp == stampLine(dataset, fileSize: size) {
            paths.append(path)
            continue
        }
        note("generating \(path) (\(dataset.label))")
        unlink(stampPath)
        let elapsed: Double
        do {
            elapsed = try timeSeconds { _ = try writeDump(dataset.description, to: path) }
        } catch {
            throw BenchError("generating \(path): \(error)")
        }
        guard let size = fileSize(atPath: path) else { throw BenchError("\(path) vanished after generation") }
        try writeText(stampLine(dataset, fileSize: size), atPath: stampPath)
        note("  \(size) bytes in \(formatFixed(elapsed, 2)) s")
        paths.append(path)
    }
    return paths
}

/// Prints a progress line to standard error.
func note(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
