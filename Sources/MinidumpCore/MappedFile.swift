#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBitCount

/// A regular file mapped read-only into memory. The only owner of system calls in MinidumpCore.
///
/// The mapping is `PROT_READ` and `MAP_PRIVATE`, so nothing done through it can reach the file.
/// It lives as long as the object; views handed out must not outlive it (`Dump` keeps it alive).
final class MappedFile: @unchecked Sendable {
    /// The path as given by the caller, used in error messages.
    let path: String
    /// Size of the file in bytes when it was opened.
    let size: UInt64
    /// Bounds-checked view of the whole file.
    let bytes: ByteView
    private let base: UnsafeMutableRawPointer?
    private let isMapped: Bool

    /// Opens and maps `path`.
    /// - Throws: `DumpError` if the file cannot be opened, is not a regular file, or cannot be mapped.
    init(path: String) throws(DumpError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DumpError(path: path, problem: .cannotOpen(errno: errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DumpError(path: path, problem: .cannotOpen(errno: errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw DumpError(path: path, problem: .notRegularFile) }
        let size = UInt64(info.st_size)
        self.size = size
        isMapped = size > 0
        guard size > 0 else {
            base = nil
            bytes = ByteView(base: nil, count: 0)
            return
        }
        guard size <= UInt64(Int.max) else { throw DumpError(path: path, problem: .fileTooLarge(size: size)) }
        let mapped = mmap(nil, Int(size), PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw DumpError(path: path, problem: .cannotMap(errno: errno))
        }
        base = mapped
        bytes = ByteView(base: UnsafeRawPointer(mapped), count: Int(size))
    }

    /// Holds a private copy of `contents` in place of a mapped file; `name` stands for the path.
    init(name: String, contents: [UInt8]) {
        path = name
        size = UInt64(contents.count)
        isMapped = false
        guard !contents.isEmpty else {
            base = nil
            bytes = ByteView(base: nil, count: 0)
            return
        }
        let copy = UnsafeMutableRawPointer.allocate(byteCount: contents.count, alignment: 16)
        contents.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: contents.count) }
        base = copy
        bytes = ByteView(base: UnsafeRawPointer(copy), count: contents.count)
    }

    deinit {
        guard let base else { return }
        if isMapped { munmap(base, Int(size)) } else { base.deallocate() }
    }
}

/// A bounds-checked, read-only window on mapped bytes. Every load checks its range (with overflow in
/// mind) and returns nil when it does not fit, so no offset from a dump is ever used unchecked.
struct ByteView: @unchecked Sendable {
    private let base: UnsafeRawPointer?
    /// Number of bytes in the view.
    let count: Int

    /// Wraps `count` bytes at `base`; the caller keeps the memory alive and unchanged.
    init(base: UnsafeRawPointer?, count: Int) {
        self.base = count > 0 ? base : nil
        self.count = base == nil ? 0 : count
    }

    /// True if `[offset, offset + length)` lies inside the view.
    @inline(__always)
    func contains(offset: UInt64, length: UInt64) -> Bool {
        let (end, overflow) = offset.addingReportingOverflow(length)
        return !overflow && end <= UInt64(count)
    }

    /// The sub-view `[offset, offset + length)`, or nil if it does not fit.
    func slice(offset: UInt64, length: UInt64) -> ByteView? {
        guard contains(offset: offset, length: length), let base else {
            return length == 0 && offset <= UInt64(count) ? ByteView(base: nil, count: 0) : nil
        }
        return ByteView(base: base + Int(offset), count: Int(length))
    }

    /// The little-endian `UInt64` at `offset`, or nil if it does not fit.
    @inline(__always)
    func uint64(at offset: UInt64) -> UInt64? {
        guard contains(offset: offset, length: 8), let base else { return nil }
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: UInt64.self))
    }

    /// The little-endian `UInt32` at `offset`, or nil if it does not fit.
    @inline(__always)
    func uint32(at offset: UInt64) -> UInt32? {
        guard contains(offset: offset, length: 4), let base else { return nil }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: UInt32.self))
    }

    /// The little-endian 64-bit word number `index` (byte offset `index * 8`), or nil if out of range.
    @inline(__always)
    func word(_ index: Int) -> UInt64? {
        guard index >= 0, index < count / 8, let base else { return nil }
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
    }

    /// Set bits in the 64-bit words `words` (word `i` at byte offset `i * 8`) plus those in `extra`;
    /// words out of range count as 0. Byte order does not matter for a whole-word count.
    @inline(__always)
    func popcount(words: Range<Int>, plus extra: UInt64 = 0) -> Int {
        guard words.lowerBound >= 0, words.upperBound <= count / 8, let base else { return extra.nonzeroBitCount }
        let start = (base + words.lowerBound &* 8).assumingMemoryBound(to: UInt64.self)
        return Int(kvmdump_popcount_words(start, words.count, extra))
    }

    /// Copies `[offset, offset + length)` into a new array, or nil if it does not fit.
    func bytes(at offset: UInt64, length: Int) -> [UInt8]? {
        guard length >= 0, contains(offset: offset, length: UInt64(length)) else { return nil }
        guard length > 0, let base else { return [] }
        return Array(UnsafeRawBufferPointer(start: base + Int(offset), count: length))
    }

    /// Appends `[offset, offset + length)` to `buffer`; returns false (appending nothing) if it does not fit.
    func append(at offset: UInt64, length: Int, to buffer: inout [UInt8]) -> Bool {
        guard length >= 0, contains(offset: offset, length: UInt64(length)) else { return false }
        guard length > 0, let base else { return true }
        buffer.append(contentsOf: UnsafeRawBufferPointer(start: base + Int(offset), count: length))
        return true
    }

    /// The byte at `offset`, or nil if out of range.
    func byte(at offset: UInt64) -> UInt8? {
        guard offset < UInt64(count), let base else { return nil }
        return base.load(fromByteOffset: Int(offset), as: UInt8.self)
    }
}
