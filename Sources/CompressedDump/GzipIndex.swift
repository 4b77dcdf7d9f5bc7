import Decompress
import MappedBytes
import Synchronization

/// Random access into a gzip dump without a decompressed copy: one sequential pass records a
/// checkpoint (deflate block boundary: bit position, the 32 KiB window before it, the member's
/// CRC so far) every `interval` bytes of output; a read then decodes only the interval holding it,
/// from the checkpoint before it, into zero-filled memory (`GzipSupplier`).
///
/// The index is two files in the cache directory beside the entry's status: `NAME.gzpoints` (48
/// bytes a checkpoint: bit offset, output offset, CRC, member output, window length) and
/// `NAME.gzwindows` (32 KiB a checkpoint, written sparse: a window of zeros is a hole). About 1/128
/// of the dump, less its zero windows.
public enum GzipIndex {
    /// Output bytes between checkpoints by default: the most one read decodes.
    public static let interval: UInt64 = 4 << 20
    static let recordSize = 48
    static let windowSlot = InflateStream.windowSize

    /// The entry's paths for `id`.
    static func paths(_ cache: DumpCache, _ id: FileIdentity) -> (points: String, windows: String, status: String) {
        let base = cache.entry(for: id).data.dropLast(".dump".count)
        return (base + ".gzpoints", base + ".gzwindows", base + ".gzstatus")
    }

    /// The existing index for `id`: checkpoints file, windows file, status; nil if there is none whole.
    static func lookup(_ cache: DumpCache, _ id: FileIdentity) -> (points: MappedFile, windows: MappedFile, status: DumpCache.Status)? {
        let (points, windows, status) = paths(cache, id)
        guard let bytes = try? readSmallFile(path: status, limit: 4096),
              let parsed = DumpCache.Status(text: String(decoding: bytes, as: UTF8.self)),
              let pointsFile = try? MappedFile(path: points), let windowsFile = try? MappedFile(path: windows),
              pointsFile.size % UInt64(recordSize) == 0,
              windowsFile.size == pointsFile.size / UInt64(recordSize) * UInt64(windowSlot)
        else { return nil }
        return (pointsFile, windowsFile, parsed)
    }

    /// Makes the index of `file` by one pass (temporary names, renamed into place; the status last).
    static func create(_ cache: DumpCache, _ id: FileIdentity, file: MappedFile,
                       progress: DecompressionProgress?) throws(CacheError) -> DumpCache.Status {
        if let failure = makeDirectories(cache.directory) {
            throw CacheError("cannot create the cache directory \(cache.directory): \(errorText(failure)) (set KVMDUMP_CACHE to a writable directory)")
        }
        let (points, windows, statusPath) = paths(cache, id)
        let suffix = ".tmp.\(processIdentifier)"
        var stream = InflateStream(source: MappedSource(file: file, progress: progress), format: .gzip, checkpointInterval: cache.gzipInterval)
        var failure: DecompressError?
        var sink: [UInt8] = []
        sink.reserveCapacity(1 << 20)
        do throws(OutputFileError) {
            let pointsOut = try OutputFile(path: points + suffix, overwrite: true)
            let windowsOut = try OutputFile(path: windows + suffix, overwrite: true)
            var slot = [UInt8](repeating: 0, count: windowSlot)
            func drain() throws(OutputFileError) {
                for checkpoint in stream.checkpoints {
                    var record: [UInt8] = []
                    for (value, width) in [(checkpoint.inputBitOffset, 8), (checkpoint.outputOffset, 8), (UInt64(checkpoint.memberCRC), 8),
                                           (checkpoint.memberOutput, 8), (UInt64(checkpoint.window.count), 8), (0, 8)] {
                        for i in 0..<width { record.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
                    }
                    try pointsOut.write(record)
                    for i in 0..<windowSlot { slot[i] = i < checkpoint.window.count ? checkpoint.window[i] : 0 }
                    try windowsOut.writeSparse(slot, 0..<windowSlot)
                }
                stream.checkpoints.removeAll(keepingCapacity: true)
            }
            while true {
                sink.removeAll(keepingCapacity: true)
                let n: Int
                do { n = try stream.read(into: &sink, maxCount: 1 << 20) } catch let error as DecompressError {
                    failure = error
                    break
                } catch {
                    failure = DecompressError(.gzip, .truncated, at: 0, "\(error)")
                    break
                }
                try drain()
                if n == 0 { break }
            }
            try drain()
            try pointsOut.finish()
            try windowsOut.finish()
            let status = DumpCache.Status(decodedBytes: stream.outputOffset, stopped: failure?.description)
            let statusFile = try OutputFile(path: statusPath + suffix, overwrite: true)
            try statusFile.write(Array(status.text.utf8))
            try statusFile.finish()
            if let code = renameFile(points + suffix, to: points) ?? renameFile(windows + suffix, to: windows)
                ?? renameFile(statusPath + suffix, to: statusPath) {
                throw OutputFileError.open(errno: code)
            }
            return status
        } catch {
            for path in [points, windows, statusPath] { removeFile(path + suffix) }
            throw CacheError("cannot write the gzip index \(points): \(error) (set KVMDUMP_CACHE to a writable directory)")
        }
    }
}

/// Decodes a gzip dump's intervals into its zero-filled memory when they are first read.
final class GzipSupplier: ByteSupplier {
    private struct State {
        weak var memory: MappedFile?
        var filled: [Bool]
        var decoded: UInt64 = 0
    }
    private let compressed: MappedFile
    private let points: MappedFile
    private let windows: MappedFile
    /// Interval k is `[starts[k], starts[k + 1])`; the last ends at `size`.
    private let starts: [UInt64]
    private let size: UInt64
    private let state: Mutex<State>

    init(compressed: MappedFile, points: MappedFile, windows: MappedFile, size: UInt64) {
        self.compressed = compressed
        self.points = points
        self.windows = windows
        self.size = size
        let count = Int(points.size / UInt64(GzipIndex.recordSize))
        var starts: [UInt64] = [0]
        for k in 0..<count {
            let output = points.bytes.uint64(at: UInt64(k * GzipIndex.recordSize + 8)) ?? size
            // Checkpoints must ascend inside the stream; a damaged index stops being used there.
            guard output > starts.last!, output < size else { break }
            starts.append(output)
        }
        self.starts = starts
        state = Mutex(State(memory: nil, filled: [Bool](repeating: false, count: starts.count)))
    }

    /// The memory to fill (set once, right after it is made).
    func attach(_ memory: MappedFile) {
        state.withLock { $0.memory = memory }
    }

    /// The interval holding `offset`.
    private func interval(of offset: UInt64) -> Int {
        var low = 0, high = starts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if starts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return low
    }

    func supply(offset: UInt64, length: UInt64) {
        guard length > 0, offset < size else { return }
        let first = interval(of: offset)
        let last = interval(of: min(size - 1, offset &+ (length - 1)))
        state.withLock { state in
            guard let memory = state.memory else { return }
            for k in first...last where !state.filled[k] {
                state.decoded &+= decode(k, into: memory)
                state.filled[k] = true
            }
        }
    }

    func released(offset: UInt64, length: UInt64) {
        guard length > 0, offset < size else { return }
        let first = interval(of: offset)
        let last = interval(of: min(size - 1, offset &+ (length - 1)))
        state.withLock { state in
            for k in first...last { state.filled[k] = false }
        }
    }

    /// Decompressed bytes decoded so far (every interval, each time it was decoded).
    var decodedBytes: UInt64 { state.withLock { $0.decoded } }

    /// Decodes interval `k` from its checkpoint (the stream's start for the first) into `memory`;
    /// returns the bytes decoded.
    private func decode(_ k: Int, into memory: MappedFile) -> UInt64 {
        let start = starts[k]
        let end = k + 1 < starts.count ? starts[k + 1] : size
        var stream: InflateStream
        if k == 0 {
            stream = InflateStream(source: MappedSource(file: compressed, progress: nil), format: .gzip)
        } else {
            let record = UInt64((k - 1) * GzipIndex.recordSize)
            let field = { (i: UInt64) in self.points.bytes.uint64(at: record + 8 * i) ?? 0 }
            let windowLength = min(field(4), UInt64(GzipIndex.windowSlot))
            let window = windows.bytes.bytes(at: UInt64(k - 1) * UInt64(GzipIndex.windowSlot), length: windowLength) ?? []
            let checkpoint = InflateCheckpoint.restored(inputBitOffset: field(0), outputOffset: field(1), window: window,
                                                        memberCRC: UInt32(truncatingIfNeeded: field(2)), memberOutput: field(3))
            do {
                stream = try InflateStream(source: MappedSource(file: compressed, progress: nil, from: checkpoint.inputByteOffset),
                                           resumingAt: checkpoint)
            } catch {
                return 0
            }
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var at = start
        while at < end {
            buffer.removeAll(keepingCapacity: true)
            guard let n = try? stream.read(into: &buffer, maxCount: Int(min(1 << 20, end - at))), n > 0 else { break }
            memory.store(buffer, 0..<n, at: at)
            at += UInt64(n)
        }
        return at - start
    }
}
