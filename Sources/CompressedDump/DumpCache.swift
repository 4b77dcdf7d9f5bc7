import Decompress
import MappedBytes

/// The cache directory of compressed dumps: for a zstd dump one decompressed sparse file (its zero
/// pages are holes), for a gzip dump its checkpoint index (`GzipIndex`); in `$KVMDUMP_CACHE`, else `$XDG_CACHE_HOME/kvmdump`, else `~/.cache/kvmdump`; never
/// beside the dump. An entry is named by the compressed file's identity (device, inode, size,
/// modification time), so a changed or replaced file gets a new one; it is written under a
/// temporary name and renamed into place, so a reader sees a whole entry or none.
///
/// Entry `NAME.dump` is the decompressed bytes; `NAME.status` says whether the stream ended
/// cleanly, or where it stopped (the dump is then read as truncated). The status is renamed into
/// place first and the data last, so a `.dump` always has its status.
public struct DumpCache: Sendable {
    /// The directory holding the entries.
    public let directory: String
    /// Output bytes between a gzip index's checkpoints: the most one read decodes.
    public let gzipInterval: UInt64

    public init(directory: String, gzipInterval: UInt64 = GzipIndex.interval) {
        self.directory = directory
        self.gzipInterval = max(1, gzipInterval)
    }

    /// The directory the environment names: `$KVMDUMP_CACHE`, else `$XDG_CACHE_HOME/kvmdump`, else
    /// `$HOME/.cache/kvmdump`; nil if none of them is set.
    public static func fromEnvironment() -> DumpCache? {
        func set(_ name: String) -> String? { environmentValue(name).flatMap { $0.isEmpty ? nil : $0 } }
        if let dir = set("KVMDUMP_CACHE") { return DumpCache(directory: dir) }
        if let xdg = set("XDG_CACHE_HOME") { return DumpCache(directory: xdg + "/kvmdump") }
        if let home = set("HOME") { return DumpCache(directory: home + "/.cache/kvmdump") }
        return nil
    }

    /// The entry's paths for a compressed file of identity `id`.
    func entry(for id: FileIdentity) -> (data: String, status: String) {
        let name = "\(directory)/vmcore-\(id.device)-\(id.inode)-\(id.size)-\(id.modifiedSeconds).\(id.modifiedNanoseconds)"
        return (name + ".dump", name + ".status")
    }

    /// What an entry's status file says.
    struct Status: Equatable {
        /// Decompressed bytes in the entry.
        let decodedBytes: UInt64
        /// Why the stream stopped early, or nil if it ended cleanly.
        let stopped: String?

        var text: String {
            stopped.map { "stopped \(decodedBytes)\n\($0)\n" } ?? "complete \(decodedBytes)\n"
        }

        init(decodedBytes: UInt64, stopped: String?) {
            self.decodedBytes = decodedBytes
            self.stopped = stopped
        }

        /// Parses a status file; nil if it is not one.
        init?(text: String) {
            let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            let words = lines.first?.split(separator: " ") ?? []
            guard words.count == 2, let count = UInt64(words[1]) else { return nil }
            switch words[0] {
            case "complete": stopped = nil
            case "stopped" where lines.count == 2: stopped = String(lines[1].prefix { $0 != "\n" })
            default: return nil
            }
            decodedBytes = count
        }
    }

    /// The existing entry for `id` and its status, or nil if there is none (or it is damaged).
    func lookup(_ id: FileIdentity) -> (path: String, status: Status)? {
        let (data, status) = entry(for: id)
        guard let bytes = try? readSmallFile(path: status, limit: 4096),
              let parsed = Status(text: String(decoding: bytes, as: UTF8.self)),
              let dataID = FileIdentity(path: data), dataID.size == parsed.decodedBytes
        else { return nil }
        return (data, parsed)
    }

    /// Decodes the whole stream of `file` (format `format`, identity `id`) into a new entry.
    /// Returns its path and status. Writes only whole zero pages as holes.
    /// - Throws: a message naming the directory or file that could not be made or written.
    func create(_ id: FileIdentity, file: MappedFile, format: CompressionFormat, progress: DecompressionProgress?) throws(CacheError) -> (path: String, status: Status) {
        if let failure = makeDirectories(directory) {
            throw CacheError("cannot create the cache directory \(directory): \(errorText(failure)) (set KVMDUMP_CACHE to a writable directory)")
        }
        let (data, statusPath) = entry(for: id)
        let suffix = ".tmp.\(processIdentifier)"
        let dataTemp = data + suffix
        let statusTemp = statusPath + suffix
        var decoder = StreamDecoder(format: format, file: file, progress: progress)
        let chunk = 1 << 20
        var buffer: [UInt8] = []
        buffer.reserveCapacity(chunk)
        do throws(OutputFileError) {
            let output = try OutputFile(path: dataTemp, overwrite: true)
            while !decoder.ended {
                decoder.fill(&buffer, to: chunk)
                try output.writeSparse(buffer, 0..<buffer.count)
                buffer.removeAll(keepingCapacity: true)
            }
            try output.finish()
            let status = Status(decodedBytes: decoder.decoded, stopped: decoder.failure?.description)
            let statusFile = try OutputFile(path: statusTemp, overwrite: true)
            try statusFile.write(Array(status.text.utf8))
            try statusFile.finish()
            if let failure = renameFile(statusTemp, to: statusPath) ?? renameFile(dataTemp, to: data) {
                throw OutputFileError.open(errno: failure)
            }
            return (data, status)
        } catch {
            removeFile(dataTemp)
            removeFile(statusTemp)
            throw CacheError("cannot write the decompressed cache \(data): \(Self.text(error)) (its size is the dump's, less its zero pages; set KVMDUMP_CACHE to a directory with room)")
        }
    }

    private static func text(_ error: OutputFileError) -> String {
        switch error {
        case .exists: "file exists"
        case .open(let code): errorText(code)
        case .write(let code, let offset): "write failed at offset \(offset): \(errorText(code))"
        case .truncate(let code, let size): "cannot set the size to \(size): \(errorText(code))"
        }
    }
}

/// The cache could not be used; `message` says which path and why.
struct CacheError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
