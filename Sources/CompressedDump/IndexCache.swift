import MappedBytes
import MinidumpCore

/// The page index of a dump with a large bitmap, kept in the cache directory (`DumpCache`) between
/// commands. A data page's file offset is the number of set bitmap bits below its bit, so the first
/// lookup in a fresh process counts the bitmap up to it: on a dump of an 8 TiB machine (256 MiB of
/// bitmap) that is most of the cost of one `kvmdump read`. The first command that reads pages builds
/// the whole index and writes it here; later ones check it and read it in place (mapped) instead of
/// counting.
///
/// Entry `NAME.bins` (NAME from the dump file's identity, as `DumpCache` names entries: a changed or
/// replaced file gets a new one), little-endian: the 16-byte magic, the index's word count, the
/// bitmap's size in bytes, the words' checksum, a hash of the dump's first page, then the words.
/// Written under a temporary name and renamed into place.
public enum IndexCache {
    /// Dumps whose bitmap is smaller than this (256 GiB of RAM at 4 KiB pages) count it at every
    /// open: that costs less than reading an entry back.
    public static let minimumBitmapBytes: UInt64 = 8 << 20
    static let magic = Array("KVMDUMP-BINS-V2\n".utf8)
    static let headerBytes = 48

    /// What the index cache did for one open.
    public enum Use: Sendable, Equatable {
        /// The index was read back from the entry at `path`.
        case reused(path: String)
        /// The index was built and written to `path`.
        case written(path: String)
        /// The entry could not be written to `path`, for `reason` (the command goes on without it: where
        /// the directory or the temporary file cannot be made, the index is not built whole either).
        case notWritten(path: String, reason: String)
    }

    /// The cache directory the environment names (`DumpCache.fromEnvironment()`), or nil if
    /// `KVMDUMP_INDEX_CACHE` is `0`, `no` or `off`.
    public static func fromEnvironment() -> DumpCache? {
        if let setting = environmentValue("KVMDUMP_INDEX_CACHE"), ["0", "no", "off"].contains(setting.lowercased()) { return nil }
        return DumpCache.fromEnvironment()
    }

    /// The entry's path for a dump of identity `id`.
    static func path(_ cache: DumpCache, _ id: FileIdentity) -> String {
        String(cache.entry(for: id).data.dropLast(".dump".count)) + ".bins"
    }

    /// Reads `dump`'s index back from `cache`, or builds it and writes it there; nil when the dump's
    /// bitmap is below `minimumBitmapBytes`, or `dump` is not the mapped file at `path`.
    public static func apply(to dump: Dump, path: String, cache: DumpCache,
                             minimumBitmapBytes: UInt64 = minimumBitmapBytes) -> Use? {
        guard dump.isFileMapped, dump.pageIndexBitmapBytes >= minimumBitmapBytes,
              let id = FileIdentity(path: path), id.size == dump.fileSize else { return nil }
        let entry = Self.path(cache, id)
        let expected = header(of: dump, checksum: nil)
        if let file = try? MappedFile(path: entry), file.size == UInt64(headerBytes + dump.pageIndexWordCount * 8),
           let stored = file.bytes.bytes(at: 0, length: UInt64(headerBytes)),
           stored[..<32] == expected[..<32], stored[40..<48] == expected[40..<48],
           let checksum = file.bytes.uint64(at: 32),
           dump.adoptPageIndex(from: file, offset: UInt64(headerBytes), checksum: checksum) {
            return .reused(path: entry)
        }
        // The entry's file first: where it cannot be written, the index is left to be built as lookups
        // need it (a one-shot command then counts only part of the bitmap), not built whole for nothing.
        if let failure = makeDirectories(cache.directory) {
            return .notWritten(path: entry, reason: "cannot create the cache directory \(cache.directory): \(errorText(failure))")
        }
        let temporary = entry + ".tmp.\(processIdentifier)"
        let out: OutputFile
        do throws(OutputFileError) {
            out = try OutputFile(path: temporary, overwrite: true)
        } catch {
            return .notWritten(path: entry, reason: "cannot write \(temporary): \(error)")
        }
        guard let (words, checksum) = dump.pageIndexWords() else {
            removeFile(temporary)
            return nil
        }
        if let reason = write(words, header: header(of: dump, checksum: checksum), to: out, temporary: temporary, entry: entry) {
            return .notWritten(path: entry, reason: reason)
        }
        return .written(path: entry)
    }

    /// The entry's header for `dump`: magic, word count, bitmap bytes, `checksum` (0 if nil), page hash.
    private static func header(of dump: Dump, checksum: UInt64?) -> [UInt8] {
        var bytes = magic
        var pageHash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in dump.fileBytes.bytes(at: 0, length: min(4096, dump.fileSize)) ?? [] {
            pageHash = (pageHash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        for value in [UInt64(dump.pageIndexWordCount), dump.pageIndexBitmapBytes, checksum ?? 0, pageHash] {
            for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
        }
        return bytes
    }

    /// Writes the entry to `out` (the file `temporary`) and renames it to `entry`; the reason it failed, or nil.
    private static func write(_ words: [UInt64], header: [UInt8], to out: OutputFile, temporary: String, entry: String) -> String? {
        do throws(OutputFileError) {
            try out.write(header)
            var chunk: [UInt8] = []
            chunk.reserveCapacity(1 << 16)
            for word in words {
                for i in 0..<8 { chunk.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(i)))) }
                if chunk.count >= 1 << 16 {
                    try out.write(chunk)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            try out.write(chunk)
            try out.finish()
        } catch {
            removeFile(temporary)
            return "cannot write \(temporary): \(error)"
        }
        if let failure = renameFile(temporary, to: entry) {
            removeFile(temporary)
            return "cannot rename \(temporary) to \(entry): \(errorText(failure))"
        }
        return nil
    }
}
