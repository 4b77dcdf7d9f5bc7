/// Read-only file bytes and bounds-checked views of them: the one place in the package (with the
/// CBitCount C shim) that touches unsafe pointers. MinidumpCore and KernelImage read every byte of
/// a dump or kernel image through `ByteView`, whose loads check their range, with overflow in
/// mind, and return nil when it does not fit.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBitCount

/// Why a file could not be opened and mapped.
public enum FileError: Error, Sendable, Equatable {
    /// `open` failed with this errno.
    case open(errno: Int32)
    /// `fstat` failed with this errno.
    case stat(errno: Int32)
    /// The path names a directory, device or other non-regular file; `mode` is its `st_mode`.
    case notRegularFile(mode: UInt32)
    /// The file is larger than this host can map (bytes).
    case tooLarge(size: UInt64)
    /// `mmap` of `size` bytes failed with this errno.
    case map(errno: Int32, size: UInt64)
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

    /// Opens and maps `path`; an empty file is not mapped (its view is empty).
    /// - Throws: `FileError` when the file cannot be opened, is not a regular file, or cannot be mapped.
    public init(path: String) throws(FileError) {
        self.path = path
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .open(errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .stat(errno: errno) }
        let mode = UInt32(truncatingIfNeeded: info.st_mode)
        guard mode & UInt32(S_IFMT) == UInt32(S_IFREG) else { throw .notRegularFile(mode: mode) }
        let size = UInt64(info.st_size)
        self.size = size
        isMapped = size > 0
        guard size > 0 else {
            base = nil
            bytes = ByteView(base: nil, count: 0)
            return
        }
        guard size <= UInt64(Int.max) else { throw .tooLarge(size: size) }
        let mapped = mmap(nil, Int(size), PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { throw .map(errno: errno, size: size) }
        base = mapped
        bytes = ByteView(base: UnsafeRawPointer(mapped), count: Int(size))
    }

    /// Holds a private copy of `contents`; `name` stands for the path.
    public init(name: String, contents: [UInt8]) {
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

// MARK: - Core export: an output file written in order, with holes (issue 11, `kvmdump export`)

/// Why the export's output could not be opened or written.
public enum OutputFileError: Error, Sendable, Equatable {
    /// The file exists and overwriting was not asked for.
    case exists
    /// `open(2)` failed.
    case open(errno: Int32)
    /// `write(2)` failed after `offset` bytes.
    case write(errno: Int32, offset: UInt64)
    /// `ftruncate(2)` failed when ending the file with a hole.
    case truncate(errno: Int32, size: UInt64)
}

/// A file (or standard output) written front to back. Runs of zero bytes can be skipped with
/// `lseek` so a regular file stays sparse; on a pipe or a device they are written as zeros.
public final class OutputFile {
    /// The path as given ("-" for standard output).
    public let path: String
    /// Bytes written so far (holes included): the offset of the next byte.
    public private(set) var offset: UInt64 = 0
    /// True if holes are made with `lseek` (a regular file).
    public let canSeek: Bool
    private let fd: Int32
    private let owned: Bool
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private var pendingHole: UInt64 = 0
    private var zeroBlock: [UInt8] = []

    /// Opens `path` for writing ("-" is standard output). Without `overwrite`, an existing file is
    /// refused (O_EXCL); with it, it is truncated.
    public init(path: String, overwrite: Bool) throws(OutputFileError) {
        self.path = path
        if path == "-" {
            fd = 1
            owned = false
        } else {
            let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL)
            var result: Int32
            repeat { result = open(path, flags, 0o644) } while result < 0 && errno == EINTR
            guard result >= 0 else { throw errno == EEXIST ? .exists : .open(errno: errno) }
            fd = result
            owned = true
        }
        var info = stat()
        let regular = fstat(fd, &info) == 0 && UInt32(truncatingIfNeeded: info.st_mode) & UInt32(S_IFMT) == UInt32(S_IFREG)
        canSeek = regular && lseek(fd, 0, SEEK_CUR) >= 0
        buffer.reserveCapacity(bufferLimit)
    }

    deinit { if owned { close(fd) } }

    /// Appends `bytes`.
    public func write(_ bytes: [UInt8]) throws(OutputFileError) {
        try settleHole()
        buffer.append(contentsOf: bytes)
        offset += UInt64(bytes.count)
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Appends `[at, at + length)` of `view`, writing straight from the mapped bytes; zero bytes
    /// only in whole 4 KiB pages become holes when `sparse` is set and the file can seek.
    /// Returns the number of bytes left as holes. A range outside the view writes nothing.
    @discardableResult
    public func write(_ view: ByteView, at start: UInt64, length: UInt64, sparse: Bool) throws(OutputFileError) -> UInt64 {
        guard view.contains(offset: start, length: length), length > 0, let base = view.base else { return 0 }
        var holes: UInt64 = 0
        var done: UInt64 = 0
        let page: UInt64 = 4096
        var runStart: UInt64 = 0
        var runLength: UInt64 = 0
        while done < length {
            let piece = min(page, length - done)
            let pointer = base + Int(start + done)
            if sparse && canSeek && piece == page && Self.isZero(pointer, Int(page)) {
                if runLength > 0 { try writeRaw(base + Int(start + runStart), runLength); runLength = 0 }
                pendingHole += page
                offset += page
                holes += page
            } else {
                if runLength == 0 { runStart = done }
                runLength += piece
                if runLength >= 8 << 20 { try writeRaw(base + Int(start + runStart), runLength); runLength = 0 }
            }
            done += piece
        }
        if runLength > 0 { try writeRaw(base + Int(start + runStart), runLength) }
        return holes
    }

    /// Appends `count` zero bytes: a hole on a seekable file, zeros otherwise.
    public func zeros(_ count: UInt64) throws(OutputFileError) {
        guard count > 0 else { return }
        if canSeek {
            pendingHole += count
            offset += count
        } else {
            try flush()
            if zeroBlock.isEmpty { zeroBlock = [UInt8](repeating: 0, count: 1 << 20) }
            var left = count
            var failure: OutputFileError?
            zeroBlock.withUnsafeBytes { raw in
                while left > 0 && failure == nil {
                    let piece = Int(min(left, UInt64(raw.count)))
                    do throws(OutputFileError) { try writeAll(raw.baseAddress!, piece) } catch { failure = error }
                    left -= UInt64(piece)
                }
            }
            if let failure { throw failure }
            offset += count
        }
    }

    /// Writes what is buffered and gives a trailing hole its size. Call once at the end.
    public func finish() throws(OutputFileError) {
        try flush()
        if pendingHole > 0 {
            guard ftruncate(fd, off_t(offset)) == 0 else { throw .truncate(errno: errno, size: offset) }
            _ = lseek(fd, off_t(offset), SEEK_SET)
            pendingHole = 0
        }
    }

    private func writeRaw(_ pointer: UnsafeRawPointer, _ length: UInt64) throws(OutputFileError) {
        try settleHole()
        let count = Int(length)
        if buffer.count + count <= bufferLimit {
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: count))
        } else {
            try flush()
            try writeAll(pointer, count)
        }
        offset += length
    }

    private func settleHole() throws(OutputFileError) {
        guard pendingHole > 0 else { return }
        try flush()
        guard lseek(fd, off_t(pendingHole), SEEK_CUR) >= 0 else { throw .write(errno: errno, offset: offset) }
        pendingHole = 0
    }

    private func flush() throws(OutputFileError) {
        guard !buffer.isEmpty else { return }
        var failure: OutputFileError?
        buffer.withUnsafeBytes { raw in
            do throws(OutputFileError) { try writeAll(raw.baseAddress!, raw.count) } catch { failure = error }
        }
        buffer.removeAll(keepingCapacity: true)
        if let failure { throw failure }
    }

    private func writeAll(_ pointer: UnsafeRawPointer, _ count: Int) throws(OutputFileError) {
        var done = 0
        while done < count {
            let written = systemWriteBytes(fd, pointer + done, count - done)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw .write(errno: errno, offset: offset) }
            done += written
        }
    }

    private static func isZero(_ pointer: UnsafeRawPointer, _ count: Int) -> Bool {
        let words = pointer.assumingMemoryBound(to: UInt64.self)
        // Most pages that are not zero have a non-zero word early: test in blocks of 8 words.
        var index = 0
        let total = count / 8
        while index < total {
            var accumulated: UInt64 = 0
            for j in index..<min(index + 8, total) { accumulated |= words[j] }
            if accumulated != 0 { return false }
            index += 8
        }
        return true
    }
}

private func systemWriteBytes(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, pointer, count)
    #else
    return Darwin.write(fd, pointer, count)
    #endif
}

extension MappedFile {
    /// True if the bytes are a mapping of the file (not a private copy of in-memory contents).
    public var isFileMapped: Bool { isMapped }

    /// Tells the kernel the mapped bytes `[offset, offset + length)` will not be read again soon, so
    /// their pages leave this process's resident set (they are read again from the file if needed).
    /// Does nothing for in-memory contents.
    public func release(offset: UInt64, length: UInt64) {
        guard isMapped, let base, bytes.contains(offset: offset, length: length) else { return }
        let page: UInt64 = 4096
        let start = (offset + page - 1) & ~(page - 1)
        let end = (offset + length) & ~(page - 1)
        guard end > start else { return }
        _ = madvise(base + Int(start), Int(end - start), MADV_DONTNEED)
    }
}

/// Where a file has data and where it has holes (`SEEK_DATA` / `SEEK_HOLE`), for copying a sparse
/// file without reading its holes.
public final class FileHoles {
    private let fd: Int32
    #if os(Linux)
    /// <unistd.h> defines these only with _GNU_SOURCE, which Swift's Glibc module does not see.
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4
    #else
    private static let seekData: Int32 = SEEK_DATA
    private static let seekHole: Int32 = SEEK_HOLE
    #endif

    /// Opens `path` read-only; nil if it cannot be opened or its size is not `size` (not the file
    /// that was mapped).
    public init?(path: String, size: UInt64) {
        var result: Int32
        repeat { result = open(path, O_RDONLY | O_CLOEXEC) } while result < 0 && errno == EINTR
        guard result >= 0 else { return nil }
        var info = stat()
        guard fstat(result, &info) == 0, UInt64(info.st_size) == size else {
            close(result)
            return nil
        }
        fd = result
    }

    deinit { close(fd) }

    /// The first offset at or after `offset` that holds data, or nil if only a hole follows (or the
    /// file system cannot say: then everything is data, and `offset` is returned).
    public func dataStart(from offset: UInt64) -> UInt64? {
        let result = lseek(fd, off_t(offset), Self.seekData)
        if result >= 0 { return UInt64(result) }
        return errno == ENXIO ? nil : offset
    }

    /// The first offset at or after `offset` in a hole (the end of the file counts as one).
    public func holeStart(from offset: UInt64) -> UInt64 {
        let result = lseek(fd, off_t(offset), Self.seekHole)
        return result >= 0 ? UInt64(result) : UInt64.max
    }
}
