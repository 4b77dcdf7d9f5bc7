#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KernelImage
import VMCoreBuilder

/// Addresses and contents of the sample kernel used across the tests.
enum Sample {
    static let textBase: UInt64 = 0xffff_ffff_8020_0000
    static let dataBase: UInt64 = 0xffff_ffff_8100_0000
    static let bssBase: UInt64 = 0xffff_ffff_8180_0000
    static let version = "FreeBSD 14.1-RELEASE kvmdump-test GENERIC amd64\n"
    static let osreldate: UInt32 = 1_401_000
    static let hz: UInt32 = 1000
    static let msgbufp: UInt64 = 0xffff_fe00_1234_5000
    static let hostname = "testhost.example"

    static var data: [UInt8] {
        var d = [UInt8](repeating: 0, count: 0x80)
        put(Array(version.utf8), at: 0, in: &d)
        put(le(UInt64(osreldate), 4), at: 0x40, in: &d)
        put(le(UInt64(hz), 4), at: 0x44, in: &d)
        put(le(msgbufp, 8), at: 0x48, in: &d)
        put(Array(hostname.utf8), at: 0x50, in: &d)
        for i in 0x70..<0x80 { d[i] = 0x41 }  // "unterminated": 16 × 'A' up to the end of .data
        return d
    }

    static var symbols: [KernelELFSymbol] {
        [
            .init(name: "btext", value: textBase, size: 0x10, type: .function, section: .text),
            .init(name: "panic", value: textBase + 0x10, size: 0x20, type: .function, section: .text),
            .init(name: "panic_label", value: textBase + 0x18, size: 0, type: .noType, section: .text, binding: .local),
            .init(name: "etext", value: textBase + 0x40, size: 0, type: .noType, section: .text),
            .init(name: "version", value: dataBase, size: 0x40, type: .object, section: .data),
            .init(name: "osreldate", value: dataBase + 0x40, size: 4, type: .object, section: .data),
            .init(name: "hz", value: dataBase + 0x44, size: 4, type: .object, section: .data),
            .init(name: "msgbufp", value: dataBase + 0x48, size: 8, type: .object, section: .data),
            .init(name: "hostname", value: dataBase + 0x50, size: 0x20, type: .object, section: .data),
            .init(name: "dup", value: dataBase + 0x70, size: 4, type: .object, section: .data, binding: .local),
            .init(name: "dup", value: dataBase + 0x74, size: 4, type: .object, section: .data, binding: .global),
            .init(name: "panicstr", value: bssBase, size: 8, type: .object, section: .bss),
            .init(name: "time_second", value: bssBase + 8, size: 8, type: .object, section: .bss),
            .init(name: "allproc", value: bssBase + 0x10, size: 8, type: .object, section: .bss),
            .init(name: "kernbase_abs", value: textBase, size: 0, type: .noType, section: .absolute),
            .init(name: "ext_undef", value: 0, size: 0, type: .noType, section: .undefined),
        ]
    }

    static var description: KernelELFDescription {
        KernelELFDescription(
            symbols: symbols, textBase: textBase, text: [UInt8](repeating: 0xcc, count: 0x40),
            dataBase: dataBase, data: data, bssBase: bssBase, bssSize: 0x100)
    }

    static var bytes: [UInt8] { makeKernelELF(description) }
}

func put(_ bytes: [UInt8], at offset: Int, in buffer: inout [UInt8]) {
    buffer.replaceSubrange(offset..<offset + bytes.count, with: bytes)
}

/// `value` as `width` little-endian bytes.
func le(_ value: UInt64, _ width: Int) -> [UInt8] {
    (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// The little-endian value of `width` bytes at `offset`.
func readLE(_ buffer: [UInt8], _ offset: Int, _ width: Int) -> UInt64 {
    (0..<width).reversed().reduce(0) { $0 << 8 | UInt64(buffer[offset + $1]) }
}

/// ELF field patching on a generated file.
struct ELFPatcher {
    var bytes: [UInt8]

    init(_ bytes: [UInt8] = Sample.bytes) { self.bytes = bytes }

    var shoff: Int { Int(readLE(bytes, 40, 8)) }
    func sectionHeader(_ index: Int) -> Int { shoff + 64 * index }
    func sectionField(_ index: Int, _ field: Int, _ width: Int) -> UInt64 {
        readLE(bytes, sectionHeader(index) + field, width)
    }

    mutating func set(_ offset: Int, _ value: UInt64, _ width: Int) {
        put(le(value, width), at: offset, in: &bytes)
    }
    mutating func setSection(_ index: Int, _ field: Int, _ value: UInt64, _ width: Int) {
        set(sectionHeader(index) + field, value, width)
    }
}

/// The error `KernelImage(bytes:name:)` throws for `bytes`, or nil if it parses.
func parseError(_ bytes: [UInt8], name: String = "kernel") -> KernelImageError? {
    do {
        _ = try KernelImage(bytes: bytes, name: name)
        return nil
    } catch {
        return error
    }
}

/// Writes `bytes` to a fresh temporary file, runs `body` with its path, then removes it.
func withTemporaryFile<T>(_ bytes: [UInt8], _ body: (String) -> T) -> T {
    var template = Array("/tmp/kernelimage-test-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0, "mkstemp failed")
    let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    defer { unlink(path) }
    bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            precondition(n > 0, "write failed")
            done += n
        }
    }
    close(fd)
    return body(path)
}
