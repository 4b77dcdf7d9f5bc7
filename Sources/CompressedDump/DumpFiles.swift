import Decompress
import MappedBytes
import MinidumpCore

/// Opening a dump by path, plain or compressed. A compressed file (`vmcore.N.gz` from `dumpon -z` or
/// `savecore -z`, `vmcore.N.zst` from `dumpon -Z`) is recognised by its magic, never by its name,
/// and read as the dump it holds (spec beyond-amd64 §5): commands that need only the metadata
/// decode only the prefix holding it; the others need one sequential pass the first time, whose
/// result the cache directory keeps for the next command: for zstd (whose decoder state cannot be
/// checkpointed cheaply) a decompressed sparse copy (`DumpCache`), for gzip a checkpoint index
/// (`GzipIndex`) from which each read decodes at most one 4 MiB interval.

/// What a command reads of the dump, which decides how much of a compressed one is decoded.
public enum DumpAccess: Sendable {
    /// Only the header page and the sections before the data pages (header, msgbuf without a kernel,
    /// stats, info without a kernel): a compressed minidump not in the cache is decoded that far and no
    /// further (`OpenedDumpFile.metadataOnly` then says what is not known); a full dump is read whole.
    case metadata
    /// Any page (everything else).
    case pages
}

/// How a compressed dump was read.
public struct Decompression: Sendable, Equatable {
    /// The compressed stream's format.
    public let format: CompressionFormat
    /// Size of the compressed file.
    public let compressedSize: UInt64
    /// Decompressed bytes this open decoded (0 when it reused the cache).
    public let decodedBytes: UInt64
    /// The cache entry read, or nil when only a prefix was decoded into memory.
    public let cachePath: String?
    /// True if the cache entry existed already.
    public let reusedCache: Bool
    /// Why the stream stopped before its end (corrupt or truncated), with its compressed offset:
    /// what decoded before it is read as a truncated dump.
    public let stopped: String?
}

/// A dump opened by `DumpFiles.open`, and how it was decompressed if it was.
public struct OpenedDumpFile: Sendable {
    public let dump: Dump
    public let decompression: Decompression?
    /// Decodes a gzip dump's intervals as they are read, or nil.
    let supplier: GzipSupplier?

    /// Set when only the metadata of a compressed dump was decoded (`DumpAccess.metadata`, no
    /// cache entry): the data pages read as zeros, and the size may be an assumption.
    public let metadataOnly: MetadataOnlyRead?

    /// What the index cache did (`IndexCache`): nil when it was not used (a small bitmap, a
    /// compressed dump, a command that reads no pages, or no cache directory).
    public let indexCache: IndexCache.Use?

    init(dump: Dump, decompression: Decompression?, supplier: GzipSupplier? = nil, metadataOnly: MetadataOnlyRead? = nil,
         indexCache: IndexCache.Use? = nil) {
        self.dump = dump
        self.decompression = decompression
        self.supplier = supplier
        self.metadataOnly = metadataOnly
        self.indexCache = indexCache
    }

    /// Decompressed bytes decoded on demand so far (a gzip dump read through its checkpoints:
    /// at most `onDemandInterval` a read, plus the intervals holding the metadata), else 0.
    public var bytesDecodedOnDemand: UInt64 { supplier?.decodedBytes ?? 0 }
    /// The most one read decodes of a gzip dump (the checkpoint spacing).
    public static var onDemandInterval: UInt64 { GzipIndex.interval }
}

/// An outline opened by `DumpFiles.outline`, and how it was decompressed if it was.
public struct OpenedOutline: Sendable {
    public let outline: DumpOutline
    public let decompression: Decompression?
}

public enum DumpFiles {
    /// The suffixes savecore gives compressed dumps, tried in this order when a path is absent.
    public static let compressedSuffixes = [".zst", ".gz"]

    /// The largest prefix decoded into memory for the metadata; a dump whose sections before the
    /// data pages are larger (a bitmap for more than 8 TiB of RAM) is read through the cache.
    public static let prefixLimit: UInt64 = 256 << 20

    /// `path` if something is there, else `path.zst` or `path.gz` if one is (savecore's
    /// `vmcore.last.zst` beside an absent `vmcore.last`), else `path`.
    public static func resolve(_ path: String) -> String {
        if pathExists(path) { return path }
        return compressedSuffixes.map { path + $0 }.first(where: pathExists) ?? path
    }

    /// The compressed format the file at `path` has by its magic, with the mapped file; nil for
    /// anything else (including files that cannot be opened: the dump reader reports those).
    private static func compressed(_ path: String) -> (CompressionFormat, MappedFile)? {
        guard let file = try? MappedFile(path: path), let head = file.bytes.bytes(at: 0, length: min(4, file.size)),
              let format = CompressionFormat.detect(prefix: head[...]) else { return nil }
        return (format, file)
    }

    /// Opens the dump at `path` (resolved with `resolve`), decompressing it as `access` needs.
    /// - Parameters:
    ///   - cache: where the decompressed cache lives (default: `DumpCache.fromEnvironment()`).
    ///   - progress: called while a whole stream is decoded (not for a prefix, which is quick).
    ///   - indexCache: where a plain dump's page index is kept between commands when its bitmap is
    ///     large and `access` is `.pages` (`IndexCache`; default: `IndexCache.fromEnvironment()`).
    /// - Throws: `DumpError` naming the path given.
    public static func open(_ path: String, access: DumpAccess = .pages, cache: DumpCache? = DumpCache.fromEnvironment(),
                            indexCache: DumpCache? = IndexCache.fromEnvironment(),
                            progress: DecompressionProgress? = nil) throws(DumpError) -> OpenedDumpFile {
        let path = resolve(path)
        guard let (format, file) = compressed(path) else {
            let dump = try Dump(path: path)
            let use = access == .pages ? indexCache.flatMap { IndexCache.apply(to: dump, path: path, cache: $0) } : nil
            return OpenedDumpFile(dump: dump, decompression: nil, indexCache: use)
        }
        let id = FileIdentity(path: path)
        if access == .metadata, !isCached(id, format: format, cache: cache) {
            var decoder = StreamDecoder(format: format, file: file, progress: nil)
            var prefix: [UInt8] = []
            if let outline = try prefixOutline(path, &decoder, &prefix), !outline.layout.hasSegments {
                let end = outline.layout.data.offset.rawValue
                if end <= prefixLimit {
                    decoder.fill(&prefix, to: Int(end))
                    if prefix.count < Int(end), let failure = decoder.failure {
                        throw DumpError(path: path, problem: .decompression(failure.description))
                    }
                    let expected = outline.layout.expectedFileSize
                    let (stated, unknown) = statedSize(format, file: file, decoder: decoder, expected: expected)
                    let size = stated ?? expected
                    if size >= UInt64(prefix.count), size <= metadataMapLimit {
                        let decompression = Decompression(format: format, compressedSize: file.size, decodedBytes: decoder.decoded,
                                                          cachePath: nil, reusedCache: false, stopped: nil)
                        if let opened = try metadataOnly(path, prefix: prefix, size: size, sizeUnknown: unknown, decompression) {
                            return opened
                        }
                    }
                }
            }
        }
        return try openCached(path, file: file, format: format, id: id, cache: cache, progress: progress)
    }

    /// True if the cache holds what a read of the whole dump needs: the decompressed copy, or for
    /// gzip the checkpoint index.
    private static func isCached(_ id: FileIdentity?, format: CompressionFormat, cache: DumpCache?) -> Bool {
        guard let id, let cache else { return false }
        return cache.lookup(id) != nil || (format == .gzip && GzipIndex.lookup(cache, id) != nil)
    }

    /// The outline (`kvmdump header`) of the dump at `path`: for a compressed dump, from the decoded
    /// prefix through the bitmap, or from the cache if it exists.
    public static func outline(_ path: String, cache: DumpCache? = DumpCache.fromEnvironment(),
                               progress: DecompressionProgress? = nil) throws(DumpError) -> OpenedOutline {
        let path = resolve(path)
        guard let (format, file) = compressed(path) else {
            return OpenedOutline(outline: try DumpOutline(path: path), decompression: nil)
        }
        if let id = FileIdentity(path: path), let (entry, status) = cache?.lookup(id) {
            let bytes = try prefixOfEntry(entry, path: path)
            let outline = try DumpOutline(prefix: bytes, name: path, fileSize: status.decodedBytes)
            return OpenedOutline(outline: outline, decompression: Decompression(
                format: format, compressedSize: file.size, decodedBytes: 0, cachePath: entry, reusedCache: true,
                stopped: status.stopped))
        }
        var decoder = StreamDecoder(format: format, file: file, progress: nil)
        var prefix: [UInt8] = []
        if let outline = try prefixOutline(path, &decoder, &prefix) {
            return OpenedOutline(outline: outline, decompression: Decompression(
                format: format, compressedSize: file.size, decodedBytes: decoder.decoded, cachePath: nil,
                reusedCache: false, stopped: nil))
        }
        // Metadata larger than the prefix limit: the cache holds it.
        let opened = try openCached(path, file: file, format: format, id: FileIdentity(path: path), cache: cache, progress: progress)
        let bytes = try prefixOfEntry(opened.decompression?.cachePath ?? path, path: path)
        let outline = try DumpOutline(prefix: bytes, name: path, fileSize: opened.dump.fileSize)
        return OpenedOutline(outline: outline, decompression: opened.decompression)
    }

    /// Decodes just enough of the stream for an outline: the header page, then up to the end of
    /// whichever section the outline finds cut off, until it opens. Nil if it needs more than
    /// `prefixLimit` bytes.
    /// - Throws: the outline's error, or the stream's fault if the stream stopped before the prefix ended.
    private static func prefixOutline(_ path: String, _ decoder: inout StreamDecoder,
                                      _ prefix: inout [UInt8]) throws(DumpError) -> DumpOutline? {
        var target: UInt64 = 4096
        while true {
            decoder.fill(&prefix, to: Int(target))
            // An ELF full dump's segments are checked against the file's size, which only a whole pass knows.
            if isFullDump(prefix) { return nil }
            do {
                return try DumpOutline(prefix: prefix, name: path, fileSize: nil)
            } catch {
                var needed: UInt64?
                if case .sectionPastEndOfFile(_, let end, _) = error.problem { needed = end }
                guard let needed, needed > UInt64(prefix.count), !decoder.ended else {
                    if let failure = decoder.failure { throw DumpError(path: path, problem: .decompression(failure.description)) }
                    throw error
                }
                guard needed <= prefixLimit else { return nil }
                target = needed
            }
        }
    }

    /// The dump over zero-filled memory of `size` bytes holding `prefix` (the header through the
    /// sections before the data pages), its data pages not decoded; nil if that much address space
    /// cannot be had (the dump is then read through the cache).
    private static func metadataOnly(_ path: String, prefix: [UInt8], size: UInt64, sizeUnknown: String?,
                                     _ decompression: Decompression) throws(DumpError) -> OpenedDumpFile? {
        let supplier = PrefixSupplier(prefix: prefix)
        guard let memory = try? MappedFile(zeroFilled: size, name: path, supplier: supplier) else { return nil }
        memory.store(prefix, 0..<prefix.count, at: 0)
        supplier.attach(memory)
        let dump = try Dump(file: memory, name: path, notes: [])
        return OpenedDumpFile(dump: dump, decompression: decompression, metadataOnly: MetadataOnlyRead(
            prefixBytes: UInt64(prefix.count), sizeUnknown: sizeUnknown, probe: supplier))
    }

    /// True if `prefix` starts as an ELF full dump does (ELF magic, OSABI 255).
    private static func isFullDump(_ prefix: [UInt8]) -> Bool {
        prefix.count >= 8 && prefix[0..<4].elementsEqual([0x7f, 0x45, 0x4c, 0x46]) && prefix[7] == 255
    }

    /// True if the stream of `file` decodes to an ELF full dump (its first 8 bytes decoded).
    private static func holdsFullDump(_ file: MappedFile, format: CompressionFormat) -> Bool {
        var decoder = StreamDecoder(format: format, file: file, progress: nil)
        var head: [UInt8] = []
        decoder.fill(&head, to: 8)
        return isFullDump(head)
    }

    /// The sections before the data pages of a cache entry, read into memory (bounded by `prefixLimit`).
    private static func prefixOfEntry(_ entry: String, path: String) throws(DumpError) -> [UInt8] {
        do {
            let file = try MappedFile(path: entry)
            return file.bytes.bytes(at: 0, length: min(file.size, prefixLimit)) ?? []
        } catch {
            throw DumpError(path: path, problem: DumpError.Problem(error))
        }
    }

    /// The dump read through its cache entry, made now if there is none.
    private static func openCached(_ path: String, file: MappedFile, format: CompressionFormat, id: FileIdentity?,
                                   cache: DumpCache?, progress: DecompressionProgress?) throws(DumpError) -> OpenedDumpFile {
        guard let cache else {
            throw DumpError(path: path, problem: .decompression(
                "\(format)-compressed: no cache directory for the decompressed dump (set KVMDUMP_CACHE, XDG_CACHE_HOME or HOME)"))
        }
        guard let id else { throw DumpError(path: path, problem: .cannotOpen(errno: 2)) }
        // A gzip minidump is read through checkpoints; a gzip full dump, whose segment container
        // reads its bytes directly, through a decompressed copy as zstd dumps are.
        if format == .gzip, cache.lookup(id) == nil, !holdsFullDump(file, format: format) {
            return try openIndexed(path, file: file, id: id, cache: cache, progress: progress)
        }
        let entry: (path: String, status: DumpCache.Status)
        var reused = true
        if let found = cache.lookup(id) {
            entry = found
        } else {
            do throws(CacheError) {
                entry = try cache.create(id, file: file, format: format, progress: progress)
            } catch {
                throw DumpError(path: path, problem: .decompression(error.message))
            }
            reused = false
        }
        let notes: [IntegrityFinding] = entry.status.stopped.map {
            [.compressedStreamStopped(reason: $0, decodedBytes: entry.status.decodedBytes)]
        } ?? []
        let dump: Dump
        do {
            dump = try Dump(path: entry.path, shownAs: path, notes: notes)
        } catch {
            if let stopped = entry.status.stopped {
                throw DumpError(path: path, problem: .decompression("\(error.problem); the stream stopped after \(entry.status.decodedBytes) bytes: \(stopped)"))
            }
            throw error
        }
        return OpenedDumpFile(dump: dump, decompression: Decompression(
            format: format, compressedSize: file.size, decodedBytes: reused ? 0 : entry.status.decodedBytes,
            cachePath: entry.path, reusedCache: reused, stopped: entry.status.stopped))
    }

    /// A gzip dump read through its checkpoint index (`GzipIndex`), made now if there is none: the
    /// bytes are decoded an interval at a time into zero-filled memory as they are read.
    private static func openIndexed(_ path: String, file: MappedFile, id: FileIdentity, cache: DumpCache,
                                    progress: DecompressionProgress?) throws(DumpError) -> OpenedDumpFile {
        var reused = true
        if GzipIndex.lookup(cache, id) == nil {
            do throws(CacheError) {
                _ = try GzipIndex.create(cache, id, file: file, progress: progress)
            } catch {
                throw DumpError(path: path, problem: .decompression(error.message))
            }
            reused = false
        }
        guard let (points, windows, status) = GzipIndex.lookup(cache, id) else {
            throw DumpError(path: path, problem: .decompression("the gzip index in \(cache.directory) could not be read back"))
        }
        let supplier = GzipSupplier(compressed: file, points: points, windows: windows, size: status.decodedBytes)
        let memory: MappedFile
        do {
            memory = try MappedFile(zeroFilled: status.decodedBytes, name: path, supplier: supplier)
        } catch {
            throw DumpError(path: path, problem: DumpError.Problem(error))
        }
        supplier.attach(memory)
        let notes: [IntegrityFinding] = status.stopped.map {
            [.compressedStreamStopped(reason: $0, decodedBytes: status.decodedBytes)]
        } ?? []
        let dump: Dump
        do {
            dump = try Dump(file: memory, name: path, notes: notes)
        } catch {
            if let stopped = status.stopped {
                throw DumpError(path: path, problem: .decompression("\(error.problem); the stream stopped after \(status.decodedBytes) bytes: \(stopped)"))
            }
            throw error
        }
        return OpenedDumpFile(dump: dump, decompression: Decompression(
            format: .gzip, compressedSize: file.size, decodedBytes: reused ? 0 : status.decodedBytes,
            cachePath: GzipIndex.paths(cache, id).points, reusedCache: reused, stopped: status.stopped), supplier: supplier)
    }
}
