import Decompress
import MappedBytes
import Synchronization

/// A compressed minidump read from the decoded prefix of its stream only (`DumpAccess.metadata`):
/// the header page and the sections before the data pages are the stream's own bytes; the data
/// pages are not decoded and read as zeros. The dump is given the size the stream states (gzip's
/// ISIZE when it agrees with the header's expected size, a zstd Frame_Content_Size), or else its
/// expected size, with `sizeUnknown` saying why the real one is not known.
public struct MetadataOnlyRead: Sendable {
    /// Decompressed bytes decoded: the header through the last section before the data pages.
    public let prefixBytes: UInt64
    /// Why the dump's size is not known without decoding the whole stream, or nil when it is the
    /// size the stream states.
    public let sizeUnknown: String?
    let probe: PrefixSupplier

    /// True once something asked for bytes past the prefix (data pages): they read as zeros, so
    /// figures made from them are not the dump's.
    public var readPastPrefix: Bool { probe.readPastPrefix }
}

/// The supplier of a metadata-only read: puts the prefix back if its memory was released, and
/// records any read past it (which it does not decode).
final class PrefixSupplier: ByteSupplier {
    private struct State {
        weak var memory: MappedFile?
        var released = false
        var pastPrefix = false
    }
    private let prefix: [UInt8]
    private let state = Mutex(State())

    init(prefix: [UInt8]) { self.prefix = prefix }

    /// The memory holding the prefix (set once, right after it is made and filled).
    func attach(_ memory: MappedFile) { state.withLock { $0.memory = memory } }

    var readPastPrefix: Bool { state.withLock { $0.pastPrefix } }

    func supply(offset: UInt64, length: UInt64) {
        guard length > 0 else { return }
        let count = UInt64(prefix.count)
        state.withLock { s in
            let (end, overflow) = offset.addingReportingOverflow(length)
            if overflow || end > count { s.pastPrefix = true }
            if s.released, offset < count, let memory = s.memory {
                memory.store(prefix, 0..<prefix.count, at: 0)
                s.released = false
            }
        }
    }

    func released(offset: UInt64, length: UInt64) {
        guard offset < UInt64(prefix.count) else { return }
        state.withLock { $0.released = true }
    }
}

extension DumpFiles {
    /// The largest dump a metadata-only read maps (zero-filled, `MAP_NORESERVE`): 64 TiB; a header
    /// implying more is read through the cache instead.
    static let metadataMapLimit: UInt64 = 1 << 46

    /// The dump's size as the compressed stream states it, or why it is not known. gzip: the
    /// trailer's ISIZE (the size modulo 2^32), taken as the header's expected size when the two agree
    /// (a cut or damaged stream's last 4 bytes almost never do). zstd: the frame's Frame_Content_Size,
    /// which neither the kernel nor `zstd` reading a pipe writes.
    static func statedSize(_ format: CompressionFormat, file: MappedFile, decoder: StreamDecoder,
                           expected: UInt64) -> (size: UInt64?, unknown: String?) {
        switch format {
        case .zstd:
            if let size = decoder.statedSize { return (size, nil) }
            return (nil, "the zstd frame states no content size")
        case .gzip, .deflate:
            guard format == .gzip, file.size >= 18, let isize = file.bytes.uint32(at: file.size - 4) else {
                return (nil, "the stream has no gzip trailer")
            }
            if isize == UInt32(truncatingIfNeeded: expected) { return (expected, nil) }
            return (nil, "the gzip trailer's ISIZE 0x\(String(isize, radix: 16)) is not the expected size 0x\(String(expected, radix: 16)) modulo 2^32 (a cut or damaged stream?)")
        }
    }
}
