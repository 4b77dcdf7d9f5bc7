/// Buffered standard output and the one place diagnostics are printed.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size buffer in front of a file descriptor.
///
/// Writes never throw. When the reader goes away (EPIPE) the buffer closes quietly: later writes are
/// dropped and `isClosed` is true, so long loops can stop early. Other write errors are kept in `failure`.
final class OutputBuffer {
    private let fd: Int32
    private let storage: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var count = 0
    /// True once the reader has closed the pipe or a write failed.
    private(set) var isClosed = false
    /// The errno of a failed write other than EPIPE.
    private(set) var failure: Int32?

    /// Buffers writes to `fd` in a buffer of `capacity` bytes.
    init(fd: Int32, capacity: Int = 1 << 16) {
        self.fd = fd
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    /// Appends bytes.
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard !isClosed else { return }
        if bytes.count > capacity - count { flush() }
        if bytes.count >= capacity {
            writeAll(bytes)
        } else if let base = bytes.baseAddress {
            (storage + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
            count += bytes.count
        }
    }

    /// Appends bytes.
    func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { write($0) } }

    /// Appends bytes.
    func write(_ bytes: ArraySlice<UInt8>) { bytes.withUnsafeBytes { write($0) } }

    /// Appends the UTF-8 form of `text`.
    func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// Appends `text` and a newline.
    func line(_ text: String = "") {
        write(text)
        byte(0x0a)
    }

    /// Appends one byte.
    func byte(_ value: UInt8) {
        if count == capacity { flush() }
        storage[count] = value
        count += 1
    }

    /// Lets `body` format up to `maximum` bytes straight into the buffer; `body` returns how many it wrote.
    /// `maximum` must be at most the capacity.
    func withSpace(_ maximum: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        if capacity - count < maximum { flush() }
        count += body(storage + count)
    }

    /// Writes out everything buffered.
    func flush() {
        guard count > 0 else { return }
        let pending = count
        count = 0
        if !isClosed { writeAll(UnsafeRawBufferPointer(start: storage, count: pending)) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let written = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written >= 0 {
                offset += written
                continue
            }
            let code = errno
            if code == EINTR { continue }
            isClosed = true
            if code != EPIPE { failure = code }
            return
        }
    }
}

/// Standard output plus the diagnostics channel: every error message of the tool goes through `diagnose`.
final class Console {
    /// Buffered standard output.
    let out = OutputBuffer(fd: 1)

    /// True once the reader of standard output has gone away (EPIPE): the tool then stops quietly.
    var readerGone: Bool { out.isClosed && out.failure == nil }

    /// Prints `kvmdump: message` on standard error, after flushing standard output so the two stay in order.
    /// Nothing is printed once the reader of standard output has gone: the rest of the work was not wanted.
    func diagnose(_ message: String) {
        out.flush()
        if readerGone { return }
        var text = "kvmdump: " + message + "\n"
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = systemWrite(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }

    /// Prints a usage error and the hint to read the help.
    func diagnose(_ error: UsageError) {
        diagnose(error.message)
        let help = error.command.map { "kvmdump \($0) --help" } ?? "kvmdump --help"
        writeStandardError("Try '\(help)'.\n")
    }

    private func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { _ = systemWrite(2, $0.baseAddress, $0.count) }
    }
}

/// `write(2)`, named so that methods called `write` do not hide it.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, bytes, count)
}

/// Reads the environment variable `name`, if set.
func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// Whether `path` names an existing file.
func fileExists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

/// The text for an errno value.
func errorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
