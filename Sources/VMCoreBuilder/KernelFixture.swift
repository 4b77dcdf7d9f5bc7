// The symbol fixture: a small kernel ELF whose variables the dump `vmcore.1` holds at their
// addresses, a kernel with the same layout but another version string, and savecore's info file.

/// The kernel fixture: addresses, values and the files built from them.
///
/// The fixture kernel is linked inside the v3 fixture kernel map (real amd64 kernels sit at
/// KERNBASE `0xffffffff80000000`, far above the 4 GiB map a small fixture has): `.text` at
/// `K+0x10000000`, `.data` at `K+0x10001000`, `.bss` at `K+0x10002000` (K = `0xfffffe0000000000`),
/// one 4 KiB page each, all three mapped and dumped in `vmcore.1`.
public enum KernelFixture {
    /// The fixture's kernbase (v3 VM_MIN_KERNEL_ADDRESS).
    public static let kernbase: UInt64 = 0xffff_fe00_0000_0000
    /// Virtual address of `.text`.
    public static let textBase = kernbase + 0x1000_0000
    /// Virtual address of `.data`.
    public static let dataBase = kernbase + 0x1000_1000
    /// Virtual address of `.bss`.
    public static let bssBase = kernbase + 0x1000_2000

    /// The running kernel's version string (`char version[]`, with its trailing newline).
    public static let version = "FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC amd64\n"
    /// The version string of the mismatched kernel.
    public static let mismatchedVersion = "FreeBSD 14.2-RELEASE releng/14.2-n269506-c8918d6c7412 GENERIC amd64\n"
    /// `hostname` in the dump.
    public static let hostname = "fixture.kvmdump.test"
    /// `osreldate`.
    public static let osreldate: UInt32 = 1_401_000
    /// `hz`.
    public static let hz: UInt32 = 1000
    /// `time_second` at the dump (2023-11-14 22:13:20 UTC, the `time =` line of the panic report).
    public static let timeSecond: UInt64 = 1_700_000_000
    /// `time_uptime` at the dump (1h2m3s, the `Uptime:` line of the panic report).
    public static let timeUptime: UInt64 = 3723
    /// `boottime` (`struct timeval`): seconds and microseconds.
    public static let bootTime: (seconds: UInt64, microseconds: UInt64) = (1_699_996_277, 250_000)
    /// `panic_cpu` (the report says `cpuid = 1`).
    public static let panicCPU: UInt32 = 1
    /// `dumptid`.
    public static let dumpThreadID: UInt32 = 100_123
    /// Where `panicstr` points: the standard overlay holding "page fault".
    public static let panicStringAddress = kernbase + 0x20_9040
    /// The panic string.
    public static let panicString = "page fault"
    /// Physical address of the message buffer reservation (the top of free RAM, as in `vmcore.0`).
    public static let msgbufPhysicalAddress: UInt64 = 0x7f_e000
    /// `msgbufp`: the direct-map address of the `struct msgbuf` after the 8120-byte ring.
    public static let msgbufPointer: UInt64 = 0xffff_f800_0000_0000 + msgbufPhysicalAddress + 8120

    /// One variable of the fixture kernel: name, section, offset in it, size, initial image bytes
    /// (`.data` only) and the bytes the dump holds.
    struct Variable {
        let name: String
        let section: KernelELFSymbol.SectionRef
        let offset: UInt64
        let size: UInt64
        let binding: KernelELFSymbol.Binding
        let initial: [UInt8]
        let runtime: [UInt8]

        var address: UInt64 { (section == .data ? KernelFixture.dataBase : KernelFixture.bssBase) + offset }
    }

    static func le(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    static func variables(version: String, osreldate: UInt32 = KernelFixture.osreldate,
                          msgbufPointer: UInt64 = KernelFixture.msgbufPointer) -> [Variable] {
        let versionBytes = Array(version.utf8) + [0]
        let hostBytes = Array(hostname.utf8) + [UInt8](repeating: 0, count: 256 - hostname.utf8.count)
        return [
            Variable(name: "version", section: .data, offset: 0, size: UInt64(versionBytes.count), binding: .global,
                     initial: versionBytes, runtime: Array(KernelFixture.version.utf8) + [0]),
            Variable(name: "osreldate", section: .data, offset: 0x80, size: 4, binding: .global,
                     initial: le(UInt64(osreldate), 4), runtime: le(UInt64(osreldate), 4)),
            Variable(name: "time_second", section: .data, offset: 0x88, size: 8, binding: .global,
                     initial: le(1, 8), runtime: le(timeSecond, 8)),
            Variable(name: "time_uptime", section: .data, offset: 0x90, size: 8, binding: .global,
                     initial: le(1, 8), runtime: le(timeUptime, 8)),
            Variable(name: "panic_cpu", section: .data, offset: 0x98, size: 4, binding: .local,
                     initial: le(0xffff_ffff, 4), runtime: le(UInt64(panicCPU), 4)),
            Variable(name: "hostname", section: .bss, offset: 0, size: 256, binding: .global,
                     initial: [], runtime: hostBytes),
            Variable(name: "panicstr", section: .bss, offset: 0x100, size: 8, binding: .global,
                     initial: [], runtime: le(panicStringAddress, 8)),
            Variable(name: "msgbufp", section: .bss, offset: 0x108, size: 8, binding: .global,
                     initial: [], runtime: le(msgbufPointer, 8)),
            Variable(name: "boottime", section: .bss, offset: 0x110, size: 16, binding: .global,
                     initial: [], runtime: le(bootTime.seconds, 8) + le(bootTime.microseconds, 8)),
            Variable(name: "hz", section: .bss, offset: 0x120, size: 4, binding: .global,
                     initial: [], runtime: le(UInt64(hz), 4)),
            Variable(name: "dumptid", section: .bss, offset: 0x124, size: 4, binding: .global,
                     initial: [], runtime: le(UInt64(dumpThreadID), 4)),
        ]
    }

    /// The functions in `.text`: name, offset, size.
    static let functions: [(String, UInt64, UInt64)] = [
        ("kdb_backtrace", 0x000, 0x60), ("vpanic", 0x060, 0x140), ("panic", 0x1a0, 0x40), ("doadump", 0x1e0, 0x50),
    ]
    /// Size of `.text` in bytes.
    static let textSize = 0x230
    /// Size of `.bss` in bytes.
    static let bssSize: UInt64 = 0x200

    /// `.text` contents: `push %rbp; mov %rsp,%rbp` then `int3` to each function's end.
    static func textBytes() -> [UInt8] {
        var text = [UInt8](repeating: 0xcc, count: textSize)
        for (_, offset, _) in functions {
            text.replaceSubrange(Int(offset)..<Int(offset) + 4, with: [0x55, 0x48, 0x89, 0xe5])
        }
        return text
    }

    /// The ELF description of the fixture kernel whose `version` is `version`.
    public static func kernelDescription(version: String = KernelFixture.version) -> KernelELFDescription {
        let vars = variables(version: version)
        var data = [UInt8](repeating: 0, count: 0xa0)
        for v in vars where v.section == .data {
            data.replaceSubrange(Int(v.offset)..<Int(v.offset) + v.initial.count, with: v.initial)
        }
        var symbols = [KernelELFSymbol(name: "btext", value: textBase, size: 0, type: .noType, section: .text)]
        symbols += functions.map { KernelELFSymbol(name: $0.0, value: textBase + $0.1, size: $0.2, type: .function, section: .text) }
        symbols += vars.map {
            KernelELFSymbol(name: $0.name, value: $0.address, size: $0.size, type: .object, section: $0.section, binding: $0.binding)
        }
        symbols.append(KernelELFSymbol(name: "etext", value: textBase + UInt64(textSize), size: 0, type: .noType, section: .text))
        symbols.append(KernelELFSymbol(name: "end", value: bssBase + bssSize, size: 0, type: .noType, section: .bss))
        return KernelELFDescription(symbols: symbols, textBase: textBase, text: textBytes(),
                                    dataBase: dataBase, data: data, bssBase: bssBase, bssSize: bssSize)
    }

    /// The dump description of `vmcore.1`: the standard v3 dump (seed 0) plus the kernel's three
    /// pages, the image's `.text`, and every variable's run-time value at its address.
    ///
    /// With `msgbufLayout` `.freebsd7` the message buffer has the 40-byte FreeBSD 7/8 `struct msgbuf`
    /// (an 8152-byte ring, so the struct ends exactly at the end of RAM at 0x800000) and `msgbufp`
    /// points at it; `osreldate` is the value the dump holds.
    public static func dumpDescription(msgbufLayout: MessageBufferDescription.StructLayout = .current,
                                       osreldate: UInt32 = KernelFixture.osreldate) -> DumpDescription {
        var d = DumpDescription.standard(version: 3, seed: 0)
        d.messageBuffer.physicalAddress = msgbufPhysicalAddress
        d.messageBuffer.structLayout = msgbufLayout
        let pointer = 0xffff_f800_0000_0000 + msgbufPhysicalAddress + UInt64(d.messageBuffer.ringSize)
        d.mappings.append(KernelMapping(virtualAddress: textBase, pageSize: .size4K, writable: false, executable: true))
        d.mappings.append(KernelMapping(virtualAddress: dataBase, pageSize: .size4K, count: 2))
        d.overlays.append(Overlay(va: textBase, bytes: textBytes()))
        // One overlay per page (overlays must not overlap): zeros around the variables, like a real .data/.bss page.
        var pages = [UInt8](repeating: 0, count: 0x2000)
        for v in variables(version: version, osreldate: osreldate, msgbufPointer: pointer) {
            let at = Int(v.address - dataBase)
            pages.replaceSubrange(at..<at + v.runtime.count, with: v.runtime)
        }
        d.overlays.append(Overlay(va: dataBase, bytes: Array(pages[..<0x1000])))
        d.overlays.append(Overlay(va: bssBase, bytes: Array(pages[0x1000...])))
        return d
    }

    /// The `info.1` savecore would write for `vmcore.1` of `dumpLength` bytes (current text format).
    public static func infoFile(dumpLength: UInt64) -> String {
        """
        Dump header from device: /dev/vtbd0p3
          Architecture: amd64
          Architecture Version: 2
          Dump Length: \(dumpLength)
          Blocksize: 512
          Compression: none
          Dumptime: 2023-11-14 22:13:20 +0000
          Hostname: \(hostname)
          Magic: FreeBSD Kernel Dump
          Version String: \(version)  Panic String: \(panicString)
          Dump Parity: 2932760452
          Bounds: 1
          Dump Status: good

        """
    }
}

/// A golden file that is not a dump: a name under `Fixtures/` and its bytes.
public struct GoldenFile: Sendable {
    /// File name inside `Fixtures/`.
    public var fileName: String
    /// The contents.
    public var bytes: [UInt8]
}

/// The kernel fixture's golden files: `kernel.1`, `kernel.mismatch`, `info.1` and the thread fixture's `kernel.2`.
public func goldenKernelFiles() throws(GeneratorError) -> [GoldenFile] {
    let length = try groundTruth(for: KernelFixture.dumpDescription()).fileSize
    return [
        GoldenFile(fileName: "kernel.1", bytes: makeKernelELF(KernelFixture.kernelDescription())),
        GoldenFile(fileName: "kernel.mismatch",
                   bytes: makeKernelELF(KernelFixture.kernelDescription(version: KernelFixture.mismatchedVersion))),
        GoldenFile(fileName: "info.1", bytes: Array(KernelFixture.infoFile(dumpLength: length).utf8)),
        GoldenFile(fileName: "kernel.2", bytes: makeKernelELF(goldenThreadFixture().kernel)),
    ]
}

/// Writes `bytes` to `path` (created or truncated).
public func writeFile(_ bytes: [UInt8], toPath path: String) throws(GeneratorError) {
    var sink = try FileSink(path: path, size: UInt64(bytes.count))
    try sink.write(bytes, from: 0, count: bytes.count, at: 0)
    try sink.finish()
}
