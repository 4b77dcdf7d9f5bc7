// The only file in KernelImage that touches unsafe pointers: it owns the image bytes
// (a read-only private mapping, or a private copy for in-memory images) and exposes
// them through `ByteView`, whose every load is bounds-checked.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owner of the image bytes; immutable after init, released in deinit.
final class ImageStorage: @unchecked Sendable {
    // @unchecked: the bytes are never written after init (PROT_READ mapping or a private
    // copy nobody else can reach), so sharing the pointer across threads is safe.
    private let base: UnsafeRawPointer?
    private let count: Int
    private let mapped: Bool

    /// Maps `path` read-only (MAP_PRIVATE). Empty files are not mapped.
    init(path: String, label: String) throws(KernelImageError) {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .openFailed(file: label, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .statFailed(file: label, errno: errno) }
        let mode = UInt32(truncatingIfNeeded: st.st_mode)
        guard mode & 0o170000 == 0o100000 else { throw .notARegularFile(file: label, mode: mode) }
        let size = Int(st.st_size)
        guard size > 0 else {
            base = nil; count = 0; mapped = false
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw .mapFailed(file: label, size: UInt64(size), errno: errno)
        }
        base = UnsafeRawPointer(p); count = size; mapped = true
    }

    /// Copies `bytes` into storage owned by this object.
    init(copying bytes: [UInt8]) {
        count = bytes.count
        mapped = false
        if bytes.isEmpty {
            base = nil
        } else {
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 16)
            bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            base = UnsafeRawPointer(p)
        }
    }

    deinit {
        guard let base else { return }
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            base.deallocate()
        }
    }

    /// A bounds-checked view of all the bytes; valid while `self` is alive.
    var view: ByteView { ByteView(base: base, count: count) }
}

/// A bounds-checked little-endian view of `count` bytes at `base`.
///
/// Offsets are file offsets as read from ELF fields (UInt64); every access checks
/// `offset + size <= count` without overflowing and returns nil when it does not hold.
struct ByteView {
    private let base: UnsafeRawPointer?
    /// Number of bytes in the view.
    let count: Int

    fileprivate init(base: UnsafeRawPointer?, count: Int) {
        self.base = base
        self.count = count
    }

    /// Whether `[offset, offset + length)` lies inside the view.
    func contains(offset: UInt64, length: UInt64) -> Bool {
        let (end, overflow) = offset.addingReportingOverflow(length)
        return !overflow && end <= UInt64(count)
    }

    private func load<T: FixedWidthInteger>(_ offset: UInt64, as: T.Type) -> T? {
        guard let base, contains(offset: offset, length: UInt64(MemoryLayout<T>.size)) else { return nil }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: T.self))
    }

    /// The byte at `offset`, or nil if out of bounds.
    func u8(_ offset: UInt64) -> UInt8? { load(offset, as: UInt8.self) }
    /// The little-endian UInt16 at `offset`, or nil if out of bounds.
    func u16(_ offset: UInt64) -> UInt16? { load(offset, as: UInt16.self) }
    /// The little-endian UInt32 at `offset`, or nil if out of bounds.
    func u32(_ offset: UInt64) -> UInt32? { load(offset, as: UInt32.self) }
    /// The little-endian UInt64 at `offset`, or nil if out of bounds.
    func u64(_ offset: UInt64) -> UInt64? { load(offset, as: UInt64.self) }

    /// A copy of `[offset, offset + length)`, or nil if out of bounds.
    func bytes(_ offset: UInt64, _ length: UInt64) -> [UInt8]? {
        guard contains(offset: offset, length: length) else { return nil }
        guard length > 0, let base else { return [] }
        let buffer = UnsafeRawBufferPointer(start: base + Int(offset), count: Int(length))
        return Array(buffer)
    }

    /// The offset of the first NUL in `[offset, offset + length)`, or nil if there is none
    /// or the range is out of bounds.
    func firstNUL(_ offset: UInt64, _ length: UInt64) -> UInt64? {
        guard contains(offset: offset, length: length), length > 0, let base else { return nil }
        let buffer = UnsafeRawBufferPointer(start: base + Int(offset), count: Int(length))
        guard let i = buffer.firstIndex(of: 0) else { return nil }
        return offset + UInt64(i)
    }

    /// `[offset, offset + length)` decoded as UTF-8 (invalid sequences repaired), or nil if
    /// out of bounds.
    func string(_ offset: UInt64, _ length: UInt64) -> String? {
        guard contains(offset: offset, length: length) else { return nil }
        guard length > 0, let base else { return "" }
        let buffer = UnsafeRawBufferPointer(start: base + Int(offset), count: Int(length))
        return String(decoding: buffer, as: UTF8.self)
    }
}
