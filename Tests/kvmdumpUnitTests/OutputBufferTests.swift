#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import kvmdump
import MappedBytes
import MinidumpCore
import Testing

/// The output buffer and the formatters that write into it: no append may pass the capacity.
@Suite struct OutputBufferBounds {
    /// A temporary file's descriptor and a way to read back what was written.
    private final class Sink {
        let path: String
        let fd: Int32
        init() {
            var template = Array("/tmp/kvmdump-out-XXXXXX".utf8CString)
            fd = mkstemp(&template)
            path = String(cString: template)
        }
        func contents() -> [UInt8] {
            var result: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            _ = lseek(fd, 0, SEEK_SET)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { break }
                result += chunk[..<n]
            }
            return result
        }
        deinit {
            close(fd)
            unlink(path)
        }
    }

    /// Issue 9: `WordDump` reserved 83 bytes a line, but a `--u8` line is 100. With 910 of 1000 bytes
    /// used, the first line went 10 bytes past the buffer's end (glibc then aborted when it was freed).
    @Test func byteWordsAfterOtherOutputStayInBounds() {
        let sink = Sink()
        do {
            let out = OutputBuffer(fd: sink.fd, capacity: 1000)
            out.write(String(repeating: "x", count: 909))
            out.byte(0x0a)
            WordDump.write(Array(0..<48), address: 0xffff_ffff_8100_0000, addressWidth: .bits64, width: 1, to: out)
            out.flush()
        }
        let lines = String(decoding: sink.contents(), as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines.first?.count == 909)
        #expect(lines.dropFirst().first == "0xffffffff81000000: 0x00 0x01 0x02 0x03 0x04 0x05 0x06 0x07 0x08 0x09 0x0a 0x0b 0x0c 0x0d 0x0e 0x0f")
        #expect(lines.last == "0xffffffff81000020: 0x20 0x21 0x22 0x23 0x24 0x25 0x26 0x27 0x28 0x29 0x2a 0x2b 0x2c 0x2d 0x2e 0x2f")
    }

    /// A span that writes far more than it reserved, into a tiny buffer, flushes as it goes.
    @Test func spanWritingPastTheCapacityFlushes() {
        let sink = Sink()
        do {
            let out = OutputBuffer(fd: sink.fd, capacity: 7)
            out.write("abc")
            out.withSpace(2) { span in
                for _ in 0..<10 { span.put(hex: 0x0123_4567_89ab_cdef, width: 16) }
                span.put(" end")
            }
            #expect(out.pending <= out.capacity)
            out.byte(0x0a)
            out.flush()
        }
        #expect(String(decoding: sink.contents(), as: UTF8.self) == "abc" + String(repeating: "0123456789abcdef", count: 10) + " end\n")
    }

    /// Every kind of run (text, padded and short hex, decimal) at every fill level of a small buffer:
    /// runs that fit are written in one step, runs longer than the whole buffer byte by byte.
    @Test func runsOfEveryLengthAtEveryFillLevel() {
        for capacity in [1, 2, 5, 9, 18, 64] {
            for prefix in 0..<capacity {
                let sink = Sink()
                do {
                    let out = OutputBuffer(fd: sink.fd, capacity: capacity)
                    out.write(String(repeating: "p", count: prefix))
                    out.withSpace(4) { span in
                        span.put("text longer than some buffers")
                        span.put(shortHex: 0xffff_fe00_0020_0000)
                        span.put(shortHex: 0)
                        span.put(hex: 0xab, width: 4)
                        span.put(decimal: -1234567)
                        span.put(decimal: Int.min)
                        span.put(UInt8(ascii: "."))
                    }
                    #expect(out.pending <= out.capacity)
                    out.flush()
                }
                let expected = String(repeating: "p", count: prefix) + "text longer than some buffers"
                    + "0xfffffe0000200000" + "0x0" + "00ab" + "-1234567" + "-9223372036854775808" + "."
                #expect(String(decoding: sink.contents(), as: UTF8.self) == expected, "capacity \(capacity), prefix \(prefix)")
            }
        }
    }
}

/// The formatters' address column: `AddressWidth` digits, a minimum that never cuts a wider value.
@Suite struct AddressColumns {
    @Test func widthIsAMinimumNotAMask() {
        let i386 = AddressWidth(pointerSize: 4)
        #expect(Hex.address(0xc0_0000, i386) == "0x00c00000")
        #expect(Hex.address(0xffff_f800_0000_1000, i386) == "0xfffff80000001000")
        #expect(Hex.address(0xc0_0000, .bits64) == "0x0000000000c00000")
        var hexdump = Hexdump(address: 0x1_0000_0000 - 16, width: i386)
        let bytes = Array(repeating: UInt8(0x41), count: 16)
        let sink = CollectingSink()
        do {
            let out = OutputBuffer(fd: sink.fd, capacity: 4096)
            hexdump.write(bytes, to: out)
            hexdump.finish(to: out)
            WordDump.write(bytes, address: 0x1_0000_0000, addressWidth: i386, width: 8, to: out)
            out.flush()
        }
        #expect(sink.lines() == [
            "fffffff0  41 41 41 41 41 41 41 41  41 41 41 41 41 41 41 41  |AAAAAAAAAAAAAAAA|",
            "100000000",
            "0x100000000: 0x4141414141414141 0x4141414141414141",
        ])
    }
}

/// A temporary file's descriptor whose contents are read back as lines.
private final class CollectingSink {
    let path: String
    let fd: Int32
    init() {
        var template = Array("/tmp/kvmdump-width-XXXXXX".utf8CString)
        fd = mkstemp(&template)
        path = String(cString: template)
    }
    func lines() -> [String] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        _ = lseek(fd, 0, SEEK_SET)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            result += chunk[..<n]
        }
        return String(decoding: result, as: UTF8.self).split(separator: "\n").map(String.init)
    }
    deinit {
        close(fd)
        unlink(path)
    }
}
