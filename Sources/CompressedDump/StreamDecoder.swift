import Decompress
import MappedBytes

/// One compressed stream read front to back: the gzip or zstd decoder over a mapped file, with a
/// progress report every `progressStep` compressed bytes.

/// The compressed file's bytes as a `ByteSource`, from the start.
struct MappedSource: ByteSource {
    let file: MappedFile
    private(set) var position: UInt64 = 0
    let progress: DecompressionProgress?
    private var nextReport: UInt64 = 0

    /// Compressed bytes between two progress reports.
    static let progressStep: UInt64 = 8 << 20

    init(file: MappedFile, progress: DecompressionProgress?, from start: UInt64 = 0) {
        self.file = file
        self.progress = progress
        position = min(start, file.size)
    }

    mutating func read(into buffer: inout [UInt8], maxCount: Int) throws -> Int {
        guard position < file.size, maxCount > 0 else { return 0 }
        let n = min(UInt64(maxCount), file.size - position)
        guard file.bytes.append(at: position, length: n, to: &buffer) else { return 0 }
        position += n
        if let progress, position >= nextReport || position == file.size {
            progress(position, file.size)
            nextReport = position + Self.progressStep
        }
        return Int(n)
    }
}

/// Called with the compressed bytes read so far and the compressed file's size while a stream is
/// decoded; last with both equal.
public typealias DecompressionProgress = @Sendable (_ compressedRead: UInt64, _ compressedSize: UInt64) -> Void

/// The decoder for a file's format.
struct StreamDecoder {
    let format: CompressionFormat
    // One of the two is set; kept as optionals so that reads mutate the decoder in place.
    private var inflate: InflateStream?
    private var zstd: ZstdStream?
    /// Decompressed bytes handed out so far.
    private(set) var decoded: UInt64 = 0
    /// Set once the stream ended (cleanly or not).
    private(set) var ended = false
    /// Why the stream stopped before its proper end, if it did.
    private(set) var failure: DecompressError?

    init(format: CompressionFormat, file: MappedFile, progress: DecompressionProgress?) {
        self.format = format
        let source = MappedSource(file: file, progress: progress)
        switch format {
        case .zstd: zstd = ZstdStream(source: source)
        case .gzip, .deflate: inflate = InflateStream(source: source, format: format)
        }
    }

    /// Appends up to `maxCount` next decompressed bytes to `buffer`; 0 once the stream has ended
    /// (`failure` then says whether it ended early). Never throws: a fault ends the stream.
    mutating func read(into buffer: inout [UInt8], maxCount: Int) -> Int {
        guard !ended, maxCount > 0 else { return 0 }
        do {
            let n = inflate != nil ? try inflate!.read(into: &buffer, maxCount: maxCount)
                : try zstd!.read(into: &buffer, maxCount: maxCount)
            if n == 0 { ended = true }
            decoded += UInt64(n)
            return n
        } catch let error as DecompressError {
            ended = true
            failure = error
        } catch {
            ended = true
            failure = DecompressError(format, .truncated, at: 0, "\(error)")
        }
        return 0
    }

    /// The decompressed size the stream's header states, if it states one (a zstd frame's
    /// Frame_Content_Size, once the frame header is decoded); nil for gzip, whose ISIZE is in its trailer.
    var statedSize: UInt64? { zstd?.frameContentSize }

    /// Decodes until `buffer` holds `count` bytes or the stream ends.
    mutating func fill(_ buffer: inout [UInt8], to count: Int) {
        while buffer.count < count, read(into: &buffer, maxCount: count - buffer.count) > 0 {}
    }
}
