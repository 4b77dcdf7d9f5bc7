/// Read-only file bytes and bounds-checked views of them, and the command-line tool's buffers: the one
/// place in the product (with the CBitCount and CMappingGuard C shims) that touches unsafe pointers.
/// MinidumpCore and KernelImage read every byte of a dump or kernel image through `ByteView`, whose
/// loads check their range, with overflow in mind, and return nil when it does not fit.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBitCount
import CMappingGuard
import Synchronization

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
    /// True for zero-filled anonymous memory (`init(zeroFilled:name:supplier:)`).
    let isAnonymous: Bool
    /// Fills a zero-filled file's bytes on demand; nil for files and in-memory contents.
    public let supplier: (any ByteSupplier)?
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
        isAnonymous = false
        supplier = nil
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
        isAnonymous = false
        supplier = nil
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

    /// Anonymous zero-filled memory of `size` bytes (see `init(zeroFilled:name:supplier:)`).
    init(anonymous size: UInt64, name: String, supplier: any ByteSupplier) throws(FileError) {
        path = name
        self.size = size
        isMapped = false
        isAnonymous = true
        self.supplier = supplier
        descriptor = -1
        guardSlot = -1
        faultCounter = kvmdump_guard_counter(-1)
        guard size > 0 else {
            base = nil
            bytes = ByteView(base: nil, count: 0)
            return
        }
        guard size <= UInt64(Int.max) else { throw .tooLarge(size: size) }
        let mapped = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapped, mapped != MAP_FAILED else { throw .map(errno: errno, size: size) }
        base = mapped
        bytes = ByteView(base: UnsafeRawPointer(mapped), count: Int(size))
    }

    deinit {
        if guardSlot >= 0 {
            if let current = shrunkSize() { ShrunkFiles.record(ShrunkFile(path: path, openedSize: size, size: current)) }
            kvmdump_guard_unregister(guardSlot)
        }
        if descriptor >= 0 { close(descriptor) }
        guard let base else { return }
        if isMapped || isAnonymous { munmap(base, Int(size)) } else { base.deallocate() }
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

// MARK: - Output and input buffers of the command-line tool, small files, the environment (issue 9)
//
// The rest of the product's unsafe pointer code, moved here from kvmdump (Output, Formats,
// LineReader, Arguments, TranslateCommand) and CrashInfo (SavecoreInfo). Every write into an
// output buffer goes through `OutputBuffer.byte` or `OutputSpan.put`, which check the position
// against the capacity and flush first when it is full: an append past the capacity never writes
// out of bounds, whatever size the caller reserved.

/// A fixed-size buffer in front of a file descriptor.
///
/// Writes never throw. When the reader goes away (EPIPE) the buffer closes quietly: later writes are
/// dropped and `isClosed` is true, so long loops can stop early. Other write errors are kept in `failure`.
public final class OutputBuffer {
    @usableFromInline let fd: Int32
    @usableFromInline let storage: UnsafeMutablePointer<UInt8>
    /// The buffer's size in bytes.
    public let capacity: Int
    /// Bytes buffered and not yet written; always in `0...capacity`. Only this class and its span
    /// touch it, never across a call that could reach it again, so it needs no dynamic exclusivity
    /// check (which cost about 150 instructions per `translate -` line: swift_beginAccess and its TLS).
    @exclusivity(unchecked) @usableFromInline var count = 0
    /// True once the reader has closed the pipe or a write failed.
    @exclusivity(unchecked) public private(set) var isClosed = false
    /// The errno of a failed write other than EPIPE.
    public private(set) var failure: Int32?

    /// Buffers writes to `fd` in a buffer of `capacity` bytes (at least 1).
    public init(fd: Int32, capacity: Int = 1 << 16) {
        self.fd = fd
        self.capacity = max(1, capacity)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// Bytes buffered and not yet written.
    public var pending: Int { count }

    private func write(_ bytes: UnsafeRawBufferPointer) {
        guard !isClosed, let base = bytes.baseAddress, bytes.count > 0 else { return }
        if bytes.count > capacity - count { flush() }
        if bytes.count >= capacity {
            writeAll(bytes)
        } else {
            (storage + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
            count += bytes.count
        }
    }

    /// Appends bytes.
    public func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { write($0) } }

    /// Appends bytes.
    public func write(_ bytes: ArraySlice<UInt8>) { bytes.withUnsafeBytes { write($0) } }

    /// Appends the bytes of a line (see `LineReader`).
    public func write(_ bytes: ByteLine) { write(UnsafeRawBufferPointer(start: bytes.base, count: bytes.count)) }

    /// Appends the UTF-8 form of `text`.
    public func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// Appends `text` and a newline.
    public func line(_ text: String = "") {
        write(text)
        byte(0x0a)
    }

    /// Appends one byte.
    @inlinable @inline(__always)
    public func byte(_ value: UInt8) {
        if count >= capacity { flush() }
        storage[count] = value
        count &+= 1
    }

    /// Lets `body` append about `expected` bytes through a bounds-checked span; `expected` is only a hint
    /// (the buffer is flushed first if less is free, so a short run of bytes stays in one write), and a
    /// body that writes more is still safe: the span flushes when the buffer is full.
    @inlinable @inline(__always)
    public func withSpace(_ expected: Int, _ body: (inout OutputSpan) -> Void) {
        if capacity &- count < expected { flush() }
        var span = OutputSpan(buffer: self, position: count)
        body(&span)
        count = span.position
    }

    /// Writes out everything buffered.
    public func flush() {
        guard count > 0 else { return }
        let pending = count
        count = 0
        if !isClosed { writeAll(UnsafeRawBufferPointer(start: storage, count: pending)) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        if let failure = writeFully(fd, bytes) {
            isClosed = true
            if failure != EPIPE { self.failure = failure }
        }
    }
}

/// A cursor into an `OutputBuffer`'s free space, handed out by `withSpace`. Every `put` checks that
/// what it writes fits between the position and the capacity (one check per run of bytes, not per
/// byte) and flushes the buffer first when it does not.
public struct OutputSpan {
    @usableFromInline unowned(unsafe) let buffer: OutputBuffer
    @usableFromInline var position: Int
    /// The buffer's storage and size, copied so that the checks need no load through `buffer`.
    @usableFromInline let storage: UnsafeMutablePointer<UInt8>
    @usableFromInline let capacity: Int

    @usableFromInline
    init(buffer: OutputBuffer, position: Int) {
        self.buffer = buffer
        self.position = position
        storage = buffer.storage
        capacity = buffer.capacity
    }

    @usableFromInline
    mutating func spill() {
        buffer.count = position
        buffer.flush()
        position = buffer.count
    }

    /// True when `count` more bytes fit, after a flush if needed; false only when `count` exceeds
    /// the whole capacity (the caller then writes byte by byte).
    @inlinable @inline(__always)
    mutating func makeRoom(_ count: Int) -> Bool {
        if count > capacity &- position { spill() }
        return count <= capacity &- position
    }

    /// Appends one byte.
    @inlinable @inline(__always)
    public mutating func put(_ value: UInt8) {
        if position >= capacity { spill() }
        storage[position] = value
        position &+= 1
    }

    /// Appends the bytes of `text`.
    @inlinable @inline(__always)
    public mutating func put(_ text: StaticString) {
        let start = text.utf8Start
        let count = text.utf8CodeUnitCount
        if makeRoom(count) {
            (storage + position).update(from: start, count: count)
            position &+= count
        } else {
            for index in 0..<count { put(start[index]) }
        }
    }

    /// Appends the low `width` lowercase hex digits of `value` (most significant first; `width` is
    /// clamped to 0...16).
    @inlinable @inline(__always)
    public mutating func put(hex value: UInt64, width: Int) {
        let digits = min(max(width, 0), 16)
        guard makeRoom(16) else {
            for index in stride(from: digits &- 1, through: 0, by: -1) { put(hexDigit(value, index)) }
            return
        }
        // All 16 digits at once (two words), then the last `digits` of them moved to the position.
        let raw = UnsafeMutableRawPointer(storage + position)
        raw.storeBytes(of: hexDigits8(UInt32(truncatingIfNeeded: value >> 32)), as: UInt64.self)
        raw.storeBytes(of: hexDigits8(UInt32(truncatingIfNeeded: value)), toByteOffset: 8, as: UInt64.self)
        if digits < 16 { (storage + position).update(from: storage + position + (16 &- digits), count: digits) }  // may overlap
        position &+= digits
    }

    /// Appends `0x` and the lowercase hex digits of `value` without padding.
    @inlinable @inline(__always)
    public mutating func put(shortHex value: UInt64) {
        let digits = max(1, (64 &- value.leadingZeroBitCount &+ 3) / 4)
        guard makeRoom(digits &+ 2) else {
            put(UInt8(ascii: "0"))
            put(UInt8(ascii: "x"))
            return put(hex: value, width: digits)
        }
        storage[position] = UInt8(ascii: "0")
        storage[position &+ 1] = UInt8(ascii: "x")
        position &+= 2
        put(hex: value, width: digits)
    }

    /// Appends `value` in decimal, with a minus sign when negative.
    @inlinable
    public mutating func put(decimal value: Int) {
        if value < 0 { put(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var divisor: UInt = 1
        while magnitude / divisor >= 10 { divisor &*= 10 }
        while divisor > 0 {
            put(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: (magnitude / divisor) % 10))
            divisor /= 10
        }
    }
}

/// The 8 lowercase hex digits of `value`, most significant first, as the bytes of a word in memory
/// order (for an unaligned store): nibbles spread one to a byte, then `'0'` or `'a' - 10` added
/// to each byte without a branch.
@inlinable @inline(__always)
func hexDigits8(_ value: UInt32) -> UInt64 {
    var x = UInt64(value)
    x = (x | x << 16) & 0x0000_ffff_0000_ffff
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff
    x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f          // byte k = nibble k
    let letters = ((x &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101   // 1 where nibble >= 10
    let ascii = x &+ 0x3030_3030_3030_3030 &+ letters &* 39   // '0' + n, or 'a' + n - 10
    return ascii.byteSwapped.littleEndian     // numeric byte 7 - k = nibble k, stored most significant first
}

/// The lowercase hex digit `index` (0 = least significant) of `value`.
@inlinable @inline(__always)
func hexDigit(_ value: UInt64, _ index: Int) -> UInt8 {
    let digit = UInt8(truncatingIfNeeded: (value >> UInt64(truncatingIfNeeded: index &* 4)) & 0xf)
    return digit &+ (digit < 10 ? UInt8(ascii: "0") : UInt8(ascii: "a") &- 10)
}

/// `write(2)` of all of `bytes`, retried on EINTR; the errno of a failure, or nil.
private func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
    guard let base = bytes.baseAddress else { return nil }
    var offset = 0
    while offset < bytes.count {
        let written = write(fd, base + offset, bytes.count - offset)
        if written > 0 {
            offset += written
            continue
        }
        if written < 0 && errno == EINTR { continue }
        return written < 0 ? errno : EIO
    }
    return nil
}

/// Writes `text` to `fd` unbuffered (standard error); false if it could not all be written.
@discardableResult
public func writeUnbuffered(_ fd: Int32, _ text: String) -> Bool {
    var text = text
    return text.withUTF8 { writeFully(fd, UnsafeRawBufferPointer($0)) == nil }
}

/// The environment variable `name`, if set.
public func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// One line handed out by `LineReader`: a bounds-checked view of bytes in its buffer, valid only
/// during the call that received it. Indexing outside `0..<count` stops the program (like an Array).
public struct ByteLine: RandomAccessCollection, @unchecked Sendable {
    @usableFromInline let base: UnsafePointer<UInt8>?
    /// Number of bytes.
    public let count: Int

    @usableFromInline
    init(base: UnsafePointer<UInt8>?, count: Int) {
        self.base = count > 0 ? base : nil
        self.count = base == nil ? 0 : count
    }

    /// A line of no bytes.
    public static let empty = ByteLine(base: nil, count: 0)

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    /// The byte at `index`.
    @inlinable @inline(__always)
    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count, "ByteLine index out of range")
        return base.unsafelyUnwrapped[index]
    }

    /// The bytes `range` (clamped to the line) as a line.
    public func cut(_ range: Range<Int>) -> ByteLine {
        let lower = Swift.min(Swift.max(0, range.lowerBound), count)
        let upper = Swift.min(Swift.max(lower, range.upperBound), count)
        guard let base, upper > lower else { return .empty }
        return ByteLine(base: base + lower, count: upper - lower)
    }

    /// The line without leading and trailing blanks (space, tab, carriage return).
    public func trimmed() -> ByteLine {
        var lower = 0
        var upper = count
        func blank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0d }
        while lower < upper, blank(self[lower]) { lower += 1 }
        while upper > lower, blank(self[upper - 1]) { upper -= 1 }
        return cut(lower..<upper)
    }

    /// The first index of `byte` at or after `from`, or nil.
    public func firstIndex(of byte: UInt8, from: Int = 0) -> Int? {
        var index = Swift.max(0, from)
        while index < count {
            if self[index] == byte { return index }
            index += 1
        }
        return nil
    }

    /// The bytes decoded as UTF-8 (invalid sequences repaired).
    public var text: String {
        guard let base else { return "" }
        return String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self)
    }
}

/// Splits the input of a file descriptor into lines, using one fixed buffer however long the input is.
///
/// Before a `read` that would block (no input immediately available) it calls `idle`, so a caller can flush
/// its answers: a program on the other end of a pipe gets each answer before it sends the next question.
public final class LineReader {
    private let fd: Int32
    private let storage: UnsafeMutablePointer<UInt8>
    private let capacity: Int

    /// Reads from `fd` through a buffer of `capacity` bytes; that is also the longest line delivered whole.
    public init(fd: Int32, capacity: Int = 1 << 16) {
        self.fd = fd
        self.capacity = max(1, capacity)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// Calls `body` with each line, without its newline. A line longer than the buffer is delivered once,
    /// cut to the buffer's size, with `overlong` set; the rest of it is skipped. `body` returns false to stop.
    /// Returns the errno of a failed read, or nil at end of input or when stopped.
    public func forEachLine(idle: () -> Void, _ body: (_ line: ByteLine, _ overlong: Bool) -> Bool) -> Int32? {
        var start = 0
        var end = 0
        var skipping = false
        while true {
            while start < end {
                guard let found = memchr(storage + start, 0x0a, end - start) else { break }
                let newline = found.assumingMemoryBound(to: UInt8.self) - storage
                if skipping {
                    skipping = false
                } else if !body(ByteLine(base: UnsafePointer(storage + start), count: newline - start), false) {
                    return nil
                }
                start = newline + 1
            }
            if start > 0 {
                if end > start { storage.update(from: storage + start, count: end - start) }
                end -= start
                start = 0
            }
            if end == capacity {
                if !skipping && !body(ByteLine(base: UnsafePointer(storage), count: end), true) { return nil }
                skipping = true
                end = 0
            }
            if !inputReady() { idle() }
            let count = read(fd, storage + end, capacity - end)
            if count < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if count == 0 {
                if end > 0 && !skipping {
                    _ = body(ByteLine(base: UnsafePointer(storage), count: end), false)
                }
                return nil
            }
            end += count
        }
    }

    /// Whether a `read` would return at once.
    private func inputReady() -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }
}

/// Why `readSmallFile` failed.
public enum SmallFileError: Error, Sendable, Equatable {
    /// `open` failed with this errno.
    case open(errno: Int32)
    /// `fstat` or `read` failed with this errno.
    case read(errno: Int32)
    /// Not a regular file.
    case notRegularFile
    /// Longer than the limit.
    case tooLarge(limit: Int)
}

/// The whole regular file at `path`, refusing more than `limit` bytes.
public func readSmallFile(path: String, limit: Int) throws(SmallFileError) -> [UInt8] {
    var fd: Int32
    repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
    guard fd >= 0 else { throw .open(errno: errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw .read(errno: errno) }
    guard UInt32(truncatingIfNeeded: st.st_mode) & UInt32(S_IFMT) == UInt32(S_IFREG) else { throw .notRegularFile }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 8192)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw .read(errno: errno)
        }
        if n == 0 { return bytes }
        bytes += chunk[..<n]
        guard bytes.count <= limit else { throw .tooLarge(limit: limit) }
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

    /// Asks the kernel to map the file in 2 MiB pages where it can (`MADV_HUGEPAGE`): pages the page
    /// cache does not hold yet are then read in 2 MiB folios, each mapped by one TLB entry (and read,
    /// and counted resident, whole). A hint; nothing for in-memory contents or off Linux.
    public func adviseHugePages() {
        #if os(Linux)
        guard isMapped, let base else { return }
        _ = madvise(base, Int(size), 14)  // MADV_HUGEPAGE
        #endif
    }

    /// Tells the kernel the mapped bytes `[offset, offset + length)` will not be read again soon, so
    /// their pages leave this process's resident set (they are read again from the file if needed).
    /// Does nothing for in-memory contents.
    public func release(offset: UInt64, length: UInt64) {
        guard isMapped || isAnonymous, let base, bytes.contains(offset: offset, length: length) else { return }
        let page: UInt64 = 4096
        let start = (offset + page - 1) & ~(page - 1)
        let end = (offset + length) & ~(page - 1)
        guard end > start else { return }
        // Anonymous memory reads as zeros after this: its supplier is told, to fill it again on demand.
        _ = madvise(base + Int(start), Int(end - start), MADV_DONTNEED)
        supplier?.released(offset: start, length: end - start)
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

// MARK: - Compressed dumps: the decompressed cache file (issue 13)

/// What identifies a file's contents without reading them: device, inode, size and modification time
/// (of the file a symbolic link names). A compressed dump's cache entry is keyed by it.
public struct FileIdentity: Sendable, Equatable {
    public let device: UInt64
    public let inode: UInt64
    public let size: UInt64
    public let modifiedSeconds: Int64
    public let modifiedNanoseconds: Int64

    /// The identity of the file at `path` (following symbolic links), or nil if it cannot be stat'ed.
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(truncatingIfNeeded: info.st_dev)
        inode = UInt64(truncatingIfNeeded: info.st_ino)
        size = UInt64(max(0, info.st_size))
        #if canImport(Darwin)
        modifiedSeconds = Int64(info.st_mtimespec.tv_sec)
        modifiedNanoseconds = Int64(info.st_mtimespec.tv_nsec)
        #else
        modifiedSeconds = Int64(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int64(info.st_mtim.tv_nsec)
        #endif
    }
}

/// True if something (file, directory, link target) exists at `path`.
public func pathExists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}

/// Creates the directory `path` and its missing parents (mode 0700: a cache of kernel memory is
/// private). Returns nil on success (or if it exists as a directory), else the errno.
public func makeDirectories(_ path: String) -> Int32? {
    var info = stat()
    if stat(path, &info) == 0 {
        return UInt32(truncatingIfNeeded: info.st_mode) & UInt32(S_IFMT) == UInt32(S_IFDIR) ? nil : ENOTDIR
    }
    if let slash = path.lastIndex(of: "/"), slash > path.startIndex {
        if let failure = makeDirectories(String(path[..<slash])) { return failure }
    }
    if mkdir(path, 0o700) == 0 || errno == EEXIST { return nil }
    return errno
}

/// Renames `from` to `to` (atomically replacing `to`); nil on success, else the errno.
public func renameFile(_ from: String, to: String) -> Int32? {
    rename(from, to) == 0 ? nil : errno
}

/// Removes the file at `path`, if any.
public func removeFile(_ path: String) {
    _ = unlink(path)
}

/// The process id, for names of temporary files.
public var processIdentifier: Int32 { getpid() }

/// True if standard error is a terminal (progress indicators go there only then).
public var standardErrorIsTerminal: Bool { isatty(2) == 1 }

extension OutputFile {
    /// Appends `bytes[range]`; every whole 4 KiB page of zeros (counted from the file's current
    /// offset being page-aligned) becomes a hole, so a decompressed dump's zero pages take no disk.
    public func writeSparse(_ bytes: [UInt8], _ range: Range<Int>) throws(OutputFileError) {
        guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= bytes.count else { return }
        var failure: OutputFileError?
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            let view = ByteView(base: base + range.lowerBound, count: range.count)
            do throws(OutputFileError) {
                try write(view, at: 0, length: UInt64(range.count), sparse: true)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }
}

/// Fills the bytes of a zero-filled `MappedFile` on demand: called with the range about to be read,
/// before the read (a compressed dump's decoder, which decodes the intervals holding it).
public protocol ByteSupplier: AnyObject, Sendable {
    /// Makes `[offset, offset + length)` hold their bytes (what can be decoded of them).
    func supply(offset: UInt64, length: UInt64)
    /// The bytes `[offset, offset + length)` were dropped from memory (zero again): supply them anew.
    func released(offset: UInt64, length: UInt64)
}

extension MappedFile {
    /// `size` bytes of private anonymous memory, zero until written with `store` (pages are
    /// allocated only when written: `MAP_NORESERVE`), called `name`; `supplier` fills them on demand
    /// (the container asks it before a read).
    public convenience init(zeroFilled size: UInt64, name: String, supplier: any ByteSupplier) throws(FileError) {
        try self.init(anonymous: size, name: name, supplier: supplier)
    }

    /// Copies `bytes[range]` to `offset` of a zero-filled file; false (nothing copied) if it is not
    /// one or the range does not fit.
    @discardableResult
    public func store(_ bytes: [UInt8], _ range: Range<Int>, at offset: UInt64) -> Bool {
        guard isAnonymous, let base, range.lowerBound >= 0, range.upperBound <= bytes.count,
              self.bytes.contains(offset: offset, length: UInt64(range.count)) else { return false }
        bytes.withUnsafeBytes { raw in
            guard let source = raw.baseAddress else { return }
            (base + Int(offset)).copyMemory(from: source + range.lowerBound, byteCount: range.count)
        }
        return true
    }
}

// MARK: - Lazily filled tables and prefetch hints (issue 15: lazy page index, batch translation)

/// A table of 64-bit words filled in ascending order, on demand, by whichever thread first needs an
/// entry; read by any thread without a lock. Entries below `filled` are final: a reader checks the
/// index against `filled` (one acquiring load, a plain load on x86-64) and reads; a filler takes the
/// lock, appends, and publishes the new count with a releasing store. Memory is reserved at creation
/// but only the pages written become resident.
public final class FillOnceTable: @unchecked Sendable {
    /// The entries: the table's own memory, or a mapped file's once `adopt` took one (set under the
    /// lock before the count is published, so a reader that sees the count sees the pointer).
    @exclusivity(unchecked) @usableFromInline var storage: UnsafeMutablePointer<UInt64>
    /// The table's own memory, freed at the end whatever `storage` points at.
    private let allocation: UnsafeMutablePointer<UInt64>
    /// The file an adopted table lives in, kept open while the table is.
    private var adoptedFile: MappedFile?
    /// Entries the table can hold.
    public let capacity: Int
    @usableFromInline let published = Atomic<Int>(0)
    /// Serialises fillers; guards the filler's running state (`state`).
    private let lock: Mutex<UInt64>

    /// A table of `capacity` words, none filled; `state` is the filler's first running value.
    public init(capacity: Int, state: UInt64 = 0) {
        self.capacity = max(capacity, 0)
        allocation = UnsafeMutablePointer<UInt64>.allocate(capacity: max(capacity, 1))
        storage = allocation
        lock = Mutex(state)
    }

    deinit { allocation.deallocate() }

    /// Number of final entries.
    @inlinable @inline(__always)
    public var filled: Int { published.load(ordering: .acquiring) }

    /// Entries `first` and `second` if both are filled (one load of the count), else nil.
    @inlinable @inline(__always)
    public func words(_ first: Int, _ second: Int) -> (UInt64, UInt64)? {
        let limit = published.load(ordering: .acquiring)
        guard first >= 0, second >= 0, first < limit, second < limit else { return nil }
        return (storage[first], storage[second])
    }

    /// Entry `index` if it is filled, else nil.
    @inlinable @inline(__always)
    public func word(_ index: Int) -> UInt64? {
        guard index >= 0, index < published.load(ordering: .acquiring) else { return nil }
        return storage[index]
    }

    /// Every filled entry, in order (a copy).
    public func snapshot() -> [UInt64] {
        let count = filled
        return [UInt64](UnsafeBufferPointer(start: storage, count: count))
    }

    /// Makes the whole table the `capacity` little-endian words of `file` at `offset`, read in place
    /// (nothing copied, nothing resident until read), if nothing is filled yet, the words are there,
    /// 8-aligned, and `check` accepts them; otherwise the table is left empty. Returns true if it was
    /// filled. The file must not change while the table is used: a cache entry replaced by rename is
    /// fine; one cut in place would read as zeros (the mapping's SIGBUS guard), never fault.
    public func adopt(_ file: MappedFile, offset: UInt64, check: (ByteView) -> Bool) -> Bool {
        #if _endian(little)
        lock.withLock { _ in
            guard published.load(ordering: .acquiring) == 0,
                  let view = file.bytes.slice(offset: offset, length: UInt64(capacity) * 8), capacity > 0,
                  let base = view.base, UInt(bitPattern: base) % 8 == 0, check(view) else { return false }
            storage = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt64.self))
            adoptedFile = file
            published.store(capacity, ordering: .releasing)
            return true
        }
        #else
        return false
        #endif
    }

    /// Appends entries under the lock until `body` returns: `body` gets the writer (its `count` is
    /// the number filled so far) and the running state it may update. New entries are published
    /// when `body` returns and each time it calls `publish`. Appends past `capacity` are dropped.
    public func fill(_ body: (inout FillOnceWriter, inout UInt64) -> Void) {
        lock.withLock { state in
            var writer = FillOnceWriter(table: self, count: published.load(ordering: .acquiring))
            body(&writer, &state)
            writer.publish()
        }
    }
}

/// Appends to a `FillOnceTable` while its lock is held (see `FillOnceTable.fill`).
public struct FillOnceWriter {
    let table: FillOnceTable
    /// Entries filled, including those appended and not yet published.
    public private(set) var count: Int

    init(table: FillOnceTable, count: Int) {
        self.table = table
        self.count = count
    }

    /// True once the table is full.
    public var isFull: Bool { count >= table.capacity }

    /// Appends `value` (dropped if the table is full).
    @inline(__always)
    public mutating func append(_ value: UInt64) {
        guard count < table.capacity else { return }
        (table.storage + count).initialize(to: value)
        count += 1
    }

    /// Entry `index` below `count` (appended earlier, published or not), else nil.
    public func entry(_ index: Int) -> UInt64? {
        index >= 0 && index < count ? table.storage[index] : nil
    }

    /// Makes the entries appended so far visible to readers.
    public func publish() {
        table.published.store(count, ordering: .releasing)
    }
}

extension ByteView {
    /// A hint that the 8 bytes at `offset` will be read soon; no effect if they are outside the view.
    @inlinable @inline(__always)
    public func prefetch(_ offset: UInt64) {
        guard offset < UInt64(count), let base else { return }
        kvmdump_prefetch(base + Int(offset))
    }
}

extension FillOnceTable {
    /// A hint that entry `index` will be read soon; no effect if it is not filled.
    @inlinable @inline(__always)
    public func prefetch(_ index: Int) {
        guard index >= 0, index < published.load(ordering: .acquiring) else { return }
        kvmdump_prefetch(storage + index)
    }
}

extension MappedFile {
    /// The first offset at or after `offset` holding data (`SEEK_DATA`), the file's size if only a
    /// hole follows, or `offset` itself when the file system cannot say or the bytes are in memory.
    public func dataStart(from offset: UInt64) -> UInt64 {
        guard isMapped, descriptor >= 0, offset < size else { return offset }
        #if os(Linux)
        let seekData: Int32 = 3
        #else
        let seekData: Int32 = SEEK_DATA
        #endif
        let result = lseek(descriptor, off_t(offset), seekData)
        if result >= 0 { return UInt64(result) }
        return errno == ENXIO ? size : offset
    }

    /// The first offset at or after `offset` in a hole (`SEEK_HOLE`; the end of the file counts as
    /// one), or the file's size when the file system cannot say or the bytes are in memory.
    public func holeStart(from offset: UInt64) -> UInt64 {
        guard isMapped, descriptor >= 0, offset < size else { return size }
        #if os(Linux)
        let seekHole: Int32 = 4
        #else
        let seekHole: Int32 = SEEK_HOLE
        #endif
        let result = lseek(descriptor, off_t(offset), seekHole)
        return result >= 0 ? UInt64(result) : size
    }
}
