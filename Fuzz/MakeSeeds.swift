/// Writes the fuzzer's seed corpus: small valid amd64 v1/v2/v3 and riscv v1/v2 dumps (a few pages each, so
/// libFuzzer can mutate them quickly) in several msgbuf states, and every corrupt variant of each; small ELF full
/// dumps and their corrupt variants; small i386 dumps (v1/v2, PAE and non-PAE) and theirs.
/// Built by `make fuzz-build` against the VMCoreBuilder library (not part of the package).
///
/// Usage: `make-seeds DIR`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import VMCoreBuilder

/// RAM of the small dumps: low memory, 128 KiB at 1 MiB, and 32 KiB at 2 MiB for a 2 MiB page to reach.
private let ranges: [Range<UInt64>] = [0x1000..<0x2_0000, 0x10_0000..<0x12_0000, 0x20_0000..<0x20_8000]

/// A dump of a few pages: 4 KiB kernel pages (one outside RAM), a 2 MiB page mostly outside RAM, a
/// string straddling two pages, some direct-map-only pages and a one-page msgbuf.
private func smallDump(version: UInt32, seed: UInt64, structState: MessageBufferDescription.StructState,
                       wrap: Bool) -> DumpDescription {
    let kb = DumpDescription.defaultKernbase(version: version)
    let ram = ranges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) }
    return DumpDescription(
        version: version, seed: seed, physicalRanges: ranges, kernelMapSlots: version == 1 ? 2 : 1,
        mappings: [
            KernelMapping(virtualAddress: kb + 0x1000, pageSize: .size4K, count: 3, executable: true),
            KernelMapping(virtualAddress: kb + 0x5000, pageSize: .size4K, placement: .physical(0xfee0_0000)),
            KernelMapping(virtualAddress: kb + 0x20_0000, pageSize: .size2M, placement: .physical(0x20_0000)),
        ],
        directMapOnlyPages: 3,
        messageBuffer: .panicDmesg(seed: seed, physicalMemory: ram, reservedSize: 4096, structState: structState,
                                   wrap: wrap),
        overlays: [Overlay(va: kb + 0x1ff0, cString: "a string across two kernel pages")],
        stampPages: false)
}

/// A riscv dump of a few pages: 128 KiB of RAM at 0x80200000 (dmapphys 0x80000000), one 2 MiB region of
/// L3 entries with 4 KiB leaves (one with a reserved bit, one to a device), an invalid and a non-leaf
/// entry, a string across two pages and a one-page msgbuf. v1's bitmap covers PA 0 to the end of RAM.
private func smallRISCVDump(version: UInt32, seed: UInt64) -> RISCVDumpDescription {
    let kb = RISCVDumpDescription.defaultKernbase
    let msgbuf = MessageBufferDescription(reservedSize: 4096, text: Array("<6>riscv seed\npanic: seed\n".utf8),
                                          unreadLength: 12, physicalAddress: 0x8021_f000)
    return RISCVDumpDescription(
        version: version, seed: seed, physicalRanges: [0x8020_0000..<0x8022_0000], dmapPhys: 0x8000_0000,
        kernelMapChunks: 1,
        mappings: [
            RISCVMapping(virtualAddress: kb + 0x1000, pageSize: .size4K, count: 3, executable: true),
            RISCVMapping(virtualAddress: kb + 0x5000, pageSize: .size4K, reservedBits: 1 << 62),
            RISCVMapping(virtualAddress: kb + 0x6000, pageSize: .size4K, placement: .physical(0x1000_0000)),
        ],
        rawEntries: [RISCVRawEntry(virtualAddress: kb + 0x7000, entry: 0x2008_0006),
                     RISCVRawEntry(virtualAddress: kb + 0x8000, entry: 0x2008_0401)],
        directMapOnlyPages: 3, messageBuffer: msgbuf,
        overlays: [Overlay(va: kb + 0x1ff0, cString: "a string across two kernel pages")], stampPages: false)
}

/// Writes `bytes` to `path`, exiting on failure.
private func write(_ bytes: [UInt8], to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { fatal("cannot create \(path)") }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else { fatal("cannot write \(path)") }
}

private func fatal(_ message: String) -> Never {
    let line = Array("make-seeds: \(message)\n".utf8)
    _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    exit(1)
}

@main
struct MakeSeeds {
    static func main() {
        guard CommandLine.arguments.count == 2 else { fatal("usage: make-seeds DIR") }
        let directory = CommandLine.arguments[1]
        var count = 0
        let states: [(String, MessageBufferDescription.StructState, Bool)] = [
            ("", .valid, false), (".wrapped", .valid, true), (".nostruct", .absent, false),
        ]
        for version: UInt32 in 1...3 {
            for (suffix, state, wrap) in states {
                let generated: GeneratedDump
                do {
                    generated = try generateDump(smallDump(version: version, seed: UInt64(version), structState: state,
                                                           wrap: wrap))
                } catch {
                    fatal("v\(version)\(suffix): \(error)")
                }
                let base = "\(directory)/small.v\(version)\(suffix)"
                write(generated.bytes, to: base)
                count += 1
                guard suffix.isEmpty else { continue }
                for (name, bytes) in corruptVariants(of: generated) {
                    write(bytes, to: "\(base).\(name)")
                    count += 1
                }
            }
        }
        // i386: v1/v2, PAE and not, and every corrupt variant of each.
        for version: UInt32 in 1...2 {
            for pae in [false, true] {
                let generated: GeneratedI386Dump
                do {
                    generated = try generateI386Dump(I386Fixture.smallDescription(version: version, pae: pae))
                } catch {
                    fatal("i386 v\(version): \(error)")
                }
                let base = "\(directory)/i386.v\(version)\(pae ? ".pae" : "")"
                write(generated.bytes, to: base)
                count += 1
                for variant in i386CorruptVariants(of: generated) {
                    write(variant.bytes, to: "\(base).\(variant.name)")
                    count += 1
                }
        for version: UInt32 in 1...2 {
            let generated: RISCVGeneratedDump
            do {
                generated = try generateRISCVDump(smallRISCVDump(version: version, seed: UInt64(version)))
            } catch {
                fatal("riscv v\(version): \(error)")
            }
            let base = "\(directory)/small.riscv.v\(version)"
            write(generated.bytes, to: base)
            count += 1
            for (name, bytes) in corruptVariants(of: generated) {
                write(bytes, to: "\(base).\(name)")
                count += 1
            }
        }
        // ELF full dumps of the small v3 machine: the kernel at 2 MiB and elsewhere, with and without
        // PT_DUMP_DELTA, a stale image at 2 MiB, and every corruption of each.
        let fullDumps: [(String, FullDumpOfMachine)] = [
            ("full", FullDumpOfMachine(machine: smallDump(version: 3, seed: 3, structState: .valid, wrap: false))),
            ("full.delta", FullDumpOfMachine(machine: smallDump(version: 3, seed: 3, structState: .valid, wrap: false),
                                             kernelPhysicalBase: 0x40_0000, dumpDelta: true)),
            ("full.stale", FullDumpOfMachine(machine: smallDump(version: 3, seed: 3, structState: .valid, wrap: false),
                                             kernelPhysicalBase: 0x40_0000, staleImageAt2MiB: true)),
        ]
        for (name, description) in fullDumps {
            let generated: GeneratedFullDumpOfMachine
            do {
                generated = try generateFullDump(description)
            } catch {
                fatal("\(name): \(error)")
            }
            write(generated.bytes, to: "\(directory)/small.\(name)")
            count += 1
            for corruption in FullDumpCorruption.allCases {
                write(corrupt(generated, corruption), to: "\(directory)/small.\(name).\(corruption.rawValue)")
                count += 1
            }
        }
        print("\(directory): \(count) seeds")
    }
}
