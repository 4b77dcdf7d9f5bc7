/// Writes the CrashInfo fuzzer's seeds (see FuzzCrashInfo.swift for the first byte): message-buffer
/// texts from the generator (plain, wrapped, with priorities), the fixture's info.N, expressions, and
/// the fixture kernel images. Usage: `make-crashinfo-seeds DIR`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import VMCoreBuilder

private func write(_ bytes: [UInt8], to path: String) {
    do throws(GeneratorError) { try writeFile(bytes, toPath: path) } catch {
        let line = Array("make-crashinfo-seeds: cannot write \(path)\n".utf8)
        _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        exit(1)
    }
}

@main
struct MakeCrashInfoSeeds {
    static func main() {
        guard CommandLine.arguments.count == 2 else { exit(2) }
        let directory = CommandLine.arguments[1]
        var count = 0
        func seed(_ mode: UInt8, _ bytes: [UInt8]) {
            write([mode] + bytes, to: "\(directory)/crashinfo-\(count)")
            count += 1
        }
        for (index, wrap) in [false, true].enumerated() {
            let text = MessageBufferDescription.panicDmesg(seed: UInt64(index), physicalMemory: 1 << 30,
                                                           reservedSize: 8192, wrap: wrap).text
            seed(0, Array(text.suffix(4096)))
        }
        seed(0, Array("<6>first\n<14>user\nUptime: 1d2h3m4s\npanic: page fault\ncpuid = 1\ncurrent process = 12 (sh)\n".utf8))
        seed(0, Array("Uptime: 1099511627775d1099511627775d1099511627775d\n".utf8))
        seed(1, Array(KernelFixture.infoFile(dumpLength: 286_720).utf8))
        for text in ["hz", "&hz", "*panicstr", "*msgbufp+8", "*(allproc+0x10)", "(panic-0x10)+0x20", "0xffffffffffffffff+1"] {
            seed(2, Array(text.utf8))
        }
        seed(3, makeKernelELF(KernelFixture.kernelDescription()))
        seed(3, makeKernelELF(KernelFixture.kernelDescription(version: KernelFixture.mismatchedVersion)))
        print("make-crashinfo-seeds: \(count) seeds in \(directory)")
    }
}
