/// Reading lines from a file descriptor with one fixed buffer, for `translate -`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits the input of a file descriptor into lines, using one fixed buffer however long the input is.
///
/// Before a `read` that would block (no input immediately available) it calls `idle`, so a caller can flush
/// its answers: a program on the other end of a pipe gets each answer before it sends the next question.
final class LineReader {
    private let fd: Int32
    private let storage: UnsafeMutablePointer<UInt8>
    private let capacity: Int

    /// Reads from `fd` through a buffer of `capacity` bytes; that is also the longest line delivered whole.
    init(fd: Int32, capacity: Int = 1 << 16) {
        self.fd = fd
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    /// Calls `body` with each line, without its newline. A line longer than the buffer is delivered once,
    /// cut to the buffer's size, with `overlong` set; the rest of it is skipped. `body` returns false to stop.
    /// Returns the errno of a failed read, or nil at end of input or when stopped.
    func forEachLine(
        idle: () -> Void, _ body: (_ line: UnsafeBufferPointer<UInt8>, _ overlong: Bool) -> Bool
    ) -> Int32? {
        var start = 0
        var end = 0
        var skipping = false
        while true {
            while start < end {
                guard let found = memchr(storage + start, 0x0a, end - start) else { break }
                let newline = found.assumingMemoryBound(to: UInt8.self) - storage
                if skipping {
                    skipping = false
                } else if !body(UnsafeBufferPointer(start: storage + start, count: newline - start), false) {
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
                if !skipping && !body(UnsafeBufferPointer(start: storage, count: end), true) { return nil }
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
                    _ = body(UnsafeBufferPointer(start: storage, count: end), false)
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
