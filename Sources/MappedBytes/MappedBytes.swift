/// Read-only file bytes and bounds-checked views of them: the one place in the package (with the
/// CBitCount and CMappingGuard C shims) that touches unsafe pointers. MinidumpCore and KernelImage read every byte of
/// a dump or kernel image through `ByteView`, whose loads check their range, with overflow in
/// mind, and return nil when it does not fit.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBitCount
import CMappingGuard

/// Why a file could not be opened and mapped.
public enum FileError: Error, Sendable, Equatable {
    /// `open` failed with this errno.
    case open(errno: Int32)
    /// `fstat` failed with this errno.
    case stat(errno: Int32)
    /// The path names a directory, device, FIFO, socket or other non-regular file; `mode` is its
    /// `st_mode` (`fileKindName(mode:)` names it). Block devices are refused too: a dump device
    /// holds a raw dump that savecore(8) extracts, not a minidump file.
    case notRegularFile(mode: UInt32)
    /// The file is larger than this host can map (bytes).
    case tooLarge(size: UInt64)
    /// `mmap` of `size` bytes failed with this errno.
    case map(errno: Int32, size: UInt64)
}

/// What kind of file a `st_mode` names, for "not a regular file" errors: "a directory", "a FIFO
/// (named pipe)", "a socket", "a character device", "a block device", "a symbolic link".
public func fileKindName(mode: UInt32) -> String {
    switch mode & 0o170000 {
    case 0o040000: "a directory"
    case 0o010000: "a FIFO (named pipe)"
    case 0o140000: "a socket"
    case 0o020000: "a character device"
    case 0o060000: "a block device"
    case 0o120000: "a symbolic link"
    case 0o100000: "a regular file"
    default: "a file of type \(String(mode & 0o170000, radix: 8))"
    }
}

/// The C library's text for an errno value, e.g. "No such file or directory".
public func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// A regular file mapped read-only (`PROT_READ`, `MAP_PRIVATE`: nothing done through it reaches
/// the file), or a private copy of bytes held in memory. Immutable; safe to share between threads.
/// Views handed out must not outlive it.
public final class MappedFile: @unchecked Sendable {
    /// The path as given (or the name of in-memory contents), for error messages.
    public let path: String
    /// Size in bytes when it was opened.
    public let size: UInt64
    /// Bounds-checked view of all the bytes.
    public let bytes: ByteView
    private let base: UnsafeMutableRawPointer?
    private let isMapped: Bool
    /// The open descriptor of a mapped file (kept to re-check its size after a fault), else -1.
    private let descriptor: Int32
    /// The SIGBUS guard slot of the mapping (see CMappingGuard), or -1.
    private let guardSlot: Int32
    /// The slot's fault counter (one that stays 0 without a slot).
    @usableFromInline let faultCounter: UnsafeRawPointer

    /// Opens and maps `path`; an empty file is not mapped (its view is empty).
    /// - Throws: `FileError` when the file cannot be opened, is not a regular file, or cannot be mapped.
    public init(path: String) throws(FileError) {
        self.path = path
        // Only regular files: `stat` first so a device or FIFO is never opened (opening one can
        // block, as a FIFO without a writer does, or have side effects), then a non-blocking open
        // and `fstat` of what was actually opened, in case the path changed in between.
        var info = stat()
        if stat(path, &info) == 0 {
            let mode = UInt32(truncatingIfNeeded: info.st_mode)
            guard mode & UInt32(S_IFMT) == UInt32(S_IFREG) else { throw .notRegularFile(mode: mode) }
        }
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .open(errno: errno) }
        var keepOpen = false
        defer { if !keepOpen { close(fd) } }
        guard fstat(fd, &info) == 0 else { throw .stat(errno: errno) }
        let mode = UInt32(truncatingIfNeeded: info.st_mode)
        guard mode & UInt32(S_IFMT) == UInt32(S_IFREG) else { throw .notRegularFile(mode: mode) }
        let size = UInt64(info.st_size)
        self.size = size
        isMapped = size > 0
        guard size > 0 else {
            base = nil
            bytes = ByteView(base: nil, count: 0)
            descriptor = -1
            guardSlot = -1
            faultCounter = kvmdump_guard_counter(-1)
            return
        }
        guard size <= UInt64(Int.max) else { throw .tooLarge(size: size) }
        let mapped = mmap(nil, Int(size), PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { throw .map(errno: errno, size: size) }
        base = mapped
        bytes = ByteView(base: UnsafeRawPointer(mapped), count: Int(size))
        keepOpen = true
        descriptor = fd
        guardSlot = kvmdump_guard_register(mapped, Int(size))
        faultCounter = kvmdump_guard_counter(guardSlot)
    }

    /// Holds a private copy of `contents`; `name` stands for the path.
    public init(name: String, contents: [UInt8]) {
        path = name
        size = UInt64(contents.count)
        isMapped = false
        descriptor = -1
        guardSlot = -1
        faultCounter = kvmdump_guard_counter(-1)
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
        if guardSlot >= 0 {
            if let current = shrunkSize() { ShrunkFiles.record(ShrunkFile(path: path, openedSize: size, size: current)) }
            kvmdump_guard_unregister(guardSlot)
        }
        if descriptor >= 0 { close(descriptor) }
        guard let base else { return }
        if isMapped { munmap(base, Int(size)) } else { base.deallocate() }
    }

    /// True once a read through the mapping has touched a page the file no longer has (it shrank
    /// after it was mapped). The read did not die of SIGBUS: it saw zeros, which must not be used.
    /// A load of one counter; cheap enough to check after every operation.
    @inlinable @inline(__always)
    public var hasShrunk: Bool { kvmdump_guard_read(faultCounter) != 0 }

    /// The file's size now (by `fstat` of the open file) if it has shrunk under the mapping, else nil.
    public func shrunkSize() -> UInt64? {
        guard hasShrunk else { return nil }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return 0 }
        return UInt64(max(0, info.st_size))
    }
}

/// A read-only window on bytes owned by a `MappedFile`. Every access checks its range and returns
/// nil (or nothing) when it does not fit; multi-byte integers are little-endian.
public struct ByteView: @unchecked Sendable {
    @usableFromInline let base: UnsafeRawPointer?
    /// Number of bytes in the view.
    public let count: Int

    /// A view of no bytes.
    public static let empty = ByteView(base: nil, count: 0)

    @usableFromInline
    init(base: UnsafeRawPointer?, count: Int) {
        self.base = count > 0 ? base : nil
        self.count = base == nil ? 0 : count
    }

    /// True if `[offset, offset + length)` lies inside the view.
    @inlinable @inline(__always)
    public func contains(offset: UInt64, length: UInt64) -> Bool {
        let (end, overflow) = offset.addingReportingOverflow(length)
        return !overflow && end <= UInt64(count)
    }

    /// The sub-view `[offset, offset + length)`, or nil if it does not fit.
    public func slice(offset: UInt64, length: UInt64) -> ByteView? {
        guard contains(offset: offset, length: length) else { return nil }
        guard length > 0, let base else { return ByteView(base: nil, count: 0) }
        return ByteView(base: base + Int(offset), count: Int(length))
    }

    @inlinable @inline(__always)
    func load<T: FixedWidthInteger>(_ offset: UInt64, as type: T.Type) -> T? {
        guard contains(offset: offset, length: UInt64(MemoryLayout<T>.size)), let base else { return nil }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: T.self))
    }

    /// The byte at `offset`, or nil if out of range.
    @inlinable public func uint8(at offset: UInt64) -> UInt8? { load(offset, as: UInt8.self) }
    /// The little-endian `UInt16` at `offset`, or nil if it does not fit.
    @inlinable public func uint16(at offset: UInt64) -> UInt16? { load(offset, as: UInt16.self) }
    /// The little-endian `UInt32` at `offset`, or nil if it does not fit.
    @inlinable public func uint32(at offset: UInt64) -> UInt32? { load(offset, as: UInt32.self) }
    /// The little-endian `UInt64` at `offset`, or nil if it does not fit.
    @inlinable public func uint64(at offset: UInt64) -> UInt64? { load(offset, as: UInt64.self) }

    /// The little-endian 64-bit word number `index` (byte offset `index * 8`), or nil if out of range.
    @inlinable @inline(__always)
    public func word(_ index: Int) -> UInt64? {
        guard index >= 0, index < count / 8, let base else { return nil }
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
    }

    /// Set bits in the 64-bit words `words` (word `i` at byte offset `i * 8`) plus those in `extra`;
    /// a range that does not fit counts only `extra`. Byte order does not matter for a whole-word count.
    /// Uses the POPCNT instruction where the CPU has it (see CBitCount).
    @inlinable @inline(__always)
    public func popcount(words: Range<Int>, plus extra: UInt64 = 0) -> Int {
        guard words.lowerBound >= 0, words.upperBound <= count / 8, let base else { return extra.nonzeroBitCount }
        let start = (base + words.lowerBound &* 8).assumingMemoryBound(to: UInt64.self)
        return Int(kvmdump_popcount_words(start, words.count, extra))
    }

    /// A copy of `[offset, offset + length)`, or nil if it does not fit.
    public func bytes(at offset: UInt64, length: UInt64) -> [UInt8]? {
        guard contains(offset: offset, length: length) else { return nil }
        guard length > 0, let base else { return [] }
        return Array(UnsafeRawBufferPointer(start: base + Int(offset), count: Int(length)))
    }

    /// Appends `[offset, offset + length)` to `buffer`; returns false (appending nothing) if it does not fit.
    public func append(at offset: UInt64, length: UInt64, to buffer: inout [UInt8]) -> Bool {
        guard contains(offset: offset, length: length) else { return false }
        guard length > 0, let base else { return true }
        buffer.append(contentsOf: UnsafeRawBufferPointer(start: base + Int(offset), count: Int(length)))
        return true
    }

    /// The offset of the first `byte` in `[offset, offset + length)`, or nil if there is none or
    /// the range does not fit.
    public func firstOffset(of byte: UInt8, at offset: UInt64, length: UInt64) -> UInt64? {
        guard contains(offset: offset, length: length), length > 0, let base else { return nil }
        let buffer = UnsafeRawBufferPointer(start: base + Int(offset), count: Int(length))
        return buffer.firstIndex(of: byte).map { offset + UInt64($0) }
    }

    /// `[offset, offset + length)` decoded as UTF-8 (invalid sequences repaired), or nil if it does not fit.
    public func string(at offset: UInt64, length: UInt64) -> String? {
        guard contains(offset: offset, length: length) else { return nil }
        guard length > 0, let base else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: base + Int(offset), count: Int(length)), as: UTF8.self)
    }
}

// MARK: Files that shrink while mapped (SIGBUS guard)

/// A mapped file that was found shorter than when it was opened, after a read touched a page past its new end.
public struct ShrunkFile: Sendable, Equatable {
    /// The path it was opened with.
    public let path: String
    /// Its size when it was mapped.
    public let openedSize: UInt64
    /// Its size when the fault was noticed.
    public let size: UInt64
}

/// The files that shrank under a mapping that has since been closed, for a report at exit
/// (`MappedFile.shrunkSize()` answers for the ones still open). Guarded by a mutex.
public enum ShrunkFiles {
    nonisolated(unsafe) private static var files: [ShrunkFile] = []
    nonisolated(unsafe) private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        return lock
    }()

    static func record(_ file: ShrunkFile) {
        pthread_mutex_lock(lock)
        if files.count < 64 { files.append(file) }
        pthread_mutex_unlock(lock)
    }

    /// Every file recorded so far, oldest first.
    public static func closed() -> [ShrunkFile] {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return files
    }
}
