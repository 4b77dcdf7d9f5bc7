@testable import CrashInfo
import MinidumpCore
import Testing

/// Text read from a dump is hostile: the parsers of message-buffer lines, times and symbol
/// expressions give an answer or nil for any input, never a trap.
@Suite struct TotalParsers {
    private func lines(_ text: String) -> MessageLines {
        MessageLines(MessageBuffer(ring: Array(text.utf8), structure: nil))
    }

    /// Issue 9: `Uptime: ` and `1099511627775d` 100 times overflowed `total += value * 86400` (SIGILL).
    @Test func uptimeThatOverflowsIsNotAValue() {
        let line = "Uptime: " + String(repeating: "1099511627775d", count: 100) + "\n"
        #expect(lines(line).uptime == nil)
        #expect(MessageLines.duration(Substring(String(repeating: "1099511627775d", count: 100))) == nil)
        let days: Int64 = 1_099_511_627_775
        #expect(MessageLines.duration(Substring("1099511627775d")) == days * 86400)
        #expect(MessageLines.duration(Substring(String(repeating: "1099511627775d", count: 97))) == 97 * days * 86400)
        #expect(MessageLines.duration("1d2h3m4s") == 93784)
        #expect(lines("Uptime: 1h1s\n").uptime == 3601)
    }

    @Test func cpuidWithManyDigitsIsNotAValue() {
        let text = "panic: x\ncpuid = " + String(repeating: "9", count: 40) + "\n"
        #expect(lines(text).panicCPU == nil)
        #expect(lines("panic: x\ncpuid = 3\n").panicCPU == 3)
    }

    /// `time_second` and `tv_sec` come from the dump: any 64-bit value.
    @Test func extremeTimesAreFormatted() {
        for seconds in [Int64.min, Int64.min + 1, Int64.max, Int64.max - 86399, -(1 << 62), 1 << 62] {
            #expect(!formatUTC(seconds: seconds).isEmpty)
            #expect(!formatDuration(seconds: seconds).isEmpty)
        }
        #expect(formatUTC(seconds: 253_402_300_799) == "9999-12-31 23:59:59 UTC")
    }
}

/// `msgbuf --dmesg`: what FreeBSD's `dmesg -M` prints (spec §4).
@Suite struct DmesgFilter {
    /// A ring without NULs and without a structure reads as wrapped (its first line was cut).
    private let wrapped = MessageBuffer(
        ring: Array("cut line\n<6>kernel\n<14>user\nplain\n<4>x".utf8) + [0x01, 0x7f, 0xe9, 0x5c, 0xa0, 0x79], structure: nil)

    @Test func dropsTheCutLinePrioritiesAndOtherFacilities() {
        #expect(wrapped.wrapped)
        #expect(String(decoding: dmesgText(wrapped, all: false), as: UTF8.self) == "kernel\nplain\nx\\^A\\^?\\M-i\\\\\\M- y\n")
        #expect(String(decoding: dmesgText(wrapped, all: true), as: UTF8.self)
                == "cut line\nkernel\nuser\nplain\nx\\^A\\^?\\M-i\\\\\\M- y\n")
    }

    @Test func aRingThatNeverWrappedKeepsItsFirstLine() {
        let fresh = MessageBuffer(ring: Array("<6>first\nsecond\n".utf8) + [UInt8](repeating: 0, count: 16), structure: nil)
        #expect(!fresh.wrapped)
        #expect(dmesgText(fresh, all: false) == Array("first\nsecond\n".utf8))
        #expect(dmesgText(MessageBuffer(ring: [], structure: nil), all: false).isEmpty)
        // A priority that is not all digits, or too long, is text.
        let odd = MessageBuffer(ring: Array("<a>x\n<1234567890123>y\n<>z\n".utf8) + [0], structure: nil)
        #expect(dmesgText(odd, all: false) == Array("<a>x\n<1234567890123>y\n<>z\n".utf8))
    }
}

/// A hostile info.N: 64 KiB of continuation lines of a version string are all joined (no wall-clock bound
/// here: under AddressSanitizer on a loaded machine it took 2.6 s; speed belongs to `make bench`).
@Suite struct SavecoreInfoBounds {
    @Test func manyContinuationLinesAreJoined() {
        let text = "  Version String: FreeBSD 14.1\n" + String(repeating: "  x\n", count: 16_000)
        let info = SavecoreInfo(text: text)
        #expect(info.versionString?.utf8.count == "FreeBSD 14.1".utf8.count + 16_000 * 4)
    }
}
