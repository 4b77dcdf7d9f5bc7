#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A destination for file bytes; writes past `limit` (the final file size) are dropped.
protocol ByteSink {
    /// Writes `bytes[from ..< from + count]` at file offset `offset`.
    mutating func write(_ bytes: [UInt8], from: Int, count: Int, at offset: UInt64) throws(GeneratorError)
}

/// Collects the file in memory.
struct MemorySink: ByteSink {
    var bytes: [UInt8]

    init(size: UInt64) { bytes = [UInt8](repeating: 0, count: Int(size)) }

    mutating func write(_ source: [UInt8], from: Int, count: Int, at offset: UInt64) {
        guard offset < UInt64(bytes.count) else { return }
        let n = min(count, bytes.count - Int(offset))
        bytes.withUnsafeMutableBufferPointer { dst in
            source.withUnsafeBufferPointer { src in
                for i in 0..<n { dst[Int(offset) + i] = src[from + i] }
            }
        }
    }
}

/// Writes a sparse file with pwrite; `finish` sets the length with ftruncate, so skipped blocks stay holes.
struct FileSink: ByteSink {
    let fd: Int32
    let path: String
    let limit: UInt64

    init(path: String, size: UInt64) throws(GeneratorError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        self.fd = fd
        self.path = path
        limit = size
    }

    mutating func write(_ bytes: [UInt8], from: Int, count: Int, at offset: UInt64) throws(GeneratorError) {
        guard offset < limit else { return }
        let total = Int(min(UInt64(count), limit - offset))
        var done = 0
        while done < total {
            let n = bytes.withUnsafeBytes { raw in
                pwrite(fd, raw.baseAddress! + from + done, total - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                let err = errno
                close(fd)
                throw .io(operation: "pwrite", path: path, errno: err)
            }
            done += n
        }
    }

    func finish() throws(GeneratorError) {
        if ftruncate(fd, off_t(limit)) != 0 {
            let err = errno
            close(fd)
            throw .io(operation: "ftruncate", path: path, errno: err)
        }
        if close(fd) != 0 { throw .io(operation: "close", path: path, errno: errno) }
    }
}

extension ByteSink {
    /// Writes `bytes` at `offset`, skipping 4 KiB blocks (relative to `bytes`) that are entirely zero.
    mutating func writeSkippingZeroBlocks(_ bytes: [UInt8], at offset: UInt64) throws(GeneratorError) {
        var runStart: Int?
        var block = 0
        while block <= bytes.count {
            let end = min(block + 4096, bytes.count)
            let nonZero = block < bytes.count && bytes[block..<end].contains { $0 != 0 }
            if nonZero, runStart == nil { runStart = block }
            if !nonZero, let start = runStart {
                try write(bytes, from: start, count: block - start, at: offset + UInt64(start))
                runStart = nil
            }
            if block == bytes.count { break }
            block = end
        }
    }

    /// Writes `words` little-endian at `offset`, one 4 KiB block at a time, skipping all-zero blocks.
    mutating func writeWords(_ words: [UInt64], at offset: UInt64) throws(GeneratorError) {
        var start = 0
        while start < words.count {
            let end = min(start + 512, words.count)
            if words[start..<end].contains(where: { $0 != 0 }) {
                let block = littleEndianBytes(words[start..<end])
                try write(block, from: 0, count: block.count, at: offset + UInt64(start) * 8)
            }
            start = end
        }
    }
}

/// Reads a whole file into memory.
public func readFileBytes(atPath path: String) throws(GeneratorError) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
    defer { close(fd) }
    let size = lseek(fd, 0, SEEK_END)
    guard size >= 0 else { throw .io(operation: "lseek", path: path, errno: errno) }
    var out = [UInt8](repeating: 0, count: Int(size))
    var done = 0
    while done < out.count {
        let n = out.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress! + done, raw.count - done, off_t(done)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw .io(operation: "pread", path: path, errno: n == 0 ? EIO : errno) }
        done += n
    }
    return out
}
