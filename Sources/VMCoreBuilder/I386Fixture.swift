// The i386 fixtures: a standard i386 machine (PAE or not, v1 or v2), its ELF32 kernel whose
// variables the dump holds, the golden files, and the corrupt variants.

/// The i386 fixture machine and kernel (FreeBSD 12+ layout: KERNBASE = KERNLOAD = 8 MiB).
///
/// Kernel map (kernbase `0x800000`, 8 MiB of map: 4 PTE pages with PAE, 2 without):
/// - `0x800000`: one superpage (2 MiB PAE, 4 MiB non-PAE) at PA `0x800000`, the kernel text, expanded
///   by the writer to synthetic PTEs; only its first 16 pages are RAM, so only they are dumped.
/// - `0xc00000 … 0xc06000`: 6 × 4 KiB writable NX pages (`.data` at `0xc00000`, `.bss` at `0xc01000`).
/// - `0xc06000`: invalid PTE. `0xc07000`: valid PTE to PA `0xfee00000` (LAPIC, not RAM, not dumped).
/// - `0xc08000`: valid PTE to a RAM page whose bitmap bit is clear (not dumped).
/// - `0xc10000 … 0xc18000`: 8 × 4 KiB read-only executable pages.
/// - PAE only: `0xc20000 … 0xc24000` at PA `0x100000000`, above 4 GiB.
/// - `0xffe000`: the 8 KiB message buffer (ring, then the 56-byte `struct msgbuf`).
public enum I386Fixture {
    public static let kernbase: UInt64 = 0x80_0000
    public static let textBase: UInt64 = 0x80_1000
    public static let dataBase: UInt64 = 0xc0_0000
    public static let bssBase: UInt64 = 0xc0_1000
    public static let highMemoryVA: UInt64 = 0xc2_0000
    public static let lapicVA: UInt64 = 0xc0_7000
    public static let notDumpedVA: UInt64 = 0xc0_8000
    public static let invalidVA: UInt64 = 0xc0_6000
    public static let readOnlyVA: UInt64 = 0xc1_0000

    public static let version = "FreeBSD 13.2-RELEASE releng/13.2-n254617-525ecfdad597 GENERIC i386\n"
    public static let hostname = "i386.kvmdump.test"
    public static let osreldate: UInt32 = 1_302_001
    public static let hz: UInt32 = 100
    public static let timeSecond: UInt32 = 1_700_000_000
    public static let timeUptime: UInt32 = 3723
    public static let bootTime: (seconds: UInt32, microseconds: UInt32) = (1_699_996_277, 250_000)
    public static let panicCPU: UInt32 = 0
    public static let dumpThreadID: UInt32 = 100_012
    public static let panicString = "page fault"
    /// Where `panicstr` points (in `.data`).
    public static let panicStringAddress: UInt64 = dataBase + 0x200
    /// The message buffer's mapping; `msgbufp` points at the struct after the 8136-byte ring.
    public static let msgbufVA: UInt64 = 0xff_e000
    public static let msgbufPointer: UInt64 = msgbufVA + 0x2000 - UInt64(I386DumpDescription.msgbufStructSize)

    static func le(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// (name, address, size, image bytes (`.data` only), bytes in the dump).
    static func variables(version: String) -> [(String, UInt64, UInt64, [UInt8], [UInt8])] {
        let versionBytes = Array(version.utf8) + [0]
        let hostBytes = Array(hostname.utf8) + [UInt8](repeating: 0, count: 256 - hostname.utf8.count)
        return [
            ("version", dataBase, UInt64(versionBytes.count), versionBytes, Array(I386Fixture.version.utf8) + [0]),
            ("osreldate", dataBase + 0x80, 4, le(UInt64(osreldate), 4), le(UInt64(osreldate), 4)),
            ("time_second", dataBase + 0x88, 4, le(1, 4), le(UInt64(timeSecond), 4)),
            ("time_uptime", dataBase + 0x8c, 4, le(1, 4), le(UInt64(timeUptime), 4)),
            ("panic_cpu", dataBase + 0x90, 4, le(0xffff_ffff, 4), le(UInt64(panicCPU), 4)),
            ("hostname", bssBase, 256, [], hostBytes),
            ("panicstr", bssBase + 0x100, 4, [], le(panicStringAddress, 4)),
            ("msgbufp", bssBase + 0x104, 4, [], le(msgbufPointer, 4)),
            ("boottime", bssBase + 0x108, 8, [], le(UInt64(bootTime.seconds), 4) + le(UInt64(bootTime.microseconds), 4)),
            ("hz", bssBase + 0x110, 4, [], le(UInt64(hz), 4)),
            ("dumptid", bssBase + 0x114, 4, [], le(UInt64(dumpThreadID), 4)),
        ]
    }

    static let functions: [(String, UInt64, UInt64)] = [("vpanic", 0x000, 0x120), ("panic", 0x120, 0x30), ("doadump", 0x150, 0x40)]
    static let textSize = 0x190
    static let bssSize: UInt64 = 0x200

    /// `.text`: `push %ebp; mov %esp,%ebp` then `int3` to each function's end.
    static func textBytes() -> [UInt8] {
        var text = [UInt8](repeating: 0xcc, count: textSize)
        for (_, offset, _) in functions { text.replaceSubrange(Int(offset)..<Int(offset) + 3, with: [0x55, 0x89, 0xe5]) }
        return text
    }

    /// The ELF32 kernel's description.
    public static func kernelDescription(version: String = I386Fixture.version) -> KernelELFDescription {
        let vars = variables(version: version)
        var data = [UInt8](repeating: 0, count: 0x210)
        for v in vars where !v.3.isEmpty { data.replaceSubrange(Int(v.1 - dataBase)..<Int(v.1 - dataBase) + v.3.count, with: v.3) }
        let panicBytes = Array(panicString.utf8) + [0]
        data.replaceSubrange(0x200..<0x200 + panicBytes.count, with: panicBytes)
        var symbols = [KernelELFSymbol(name: "btext", value: textBase, size: 0, type: .noType, section: .text)]
        symbols += functions.map { KernelELFSymbol(name: $0.0, value: textBase + $0.1, size: $0.2, type: .function, section: .text) }
        symbols += vars.map {
            KernelELFSymbol(name: $0.0, value: $0.1, size: $0.2, type: .object, section: $0.1 >= bssBase ? .bss : .data)
        }
        symbols.append(KernelELFSymbol(name: "etext", value: textBase + UInt64(textSize), size: 0, type: .noType, section: .text))
        symbols.append(KernelELFSymbol(name: "end", value: bssBase + bssSize, size: 0, type: .noType, section: .bss))
        return KernelELFDescription(symbols: symbols, textBase: textBase, text: textBytes(),
                                    dataBase: dataBase, data: data, bssBase: bssBase, bssSize: bssSize)
    }

    /// The fixture kernel as an ELF32 file.
    public static func kernelFile() -> [UInt8] { makeKernelELF32(kernelDescription()) }

    /// A short i386 boot log ending in a panic.
    public static let messageText: [UInt8] = Array("""
        ---<<BOOT>>---
        Copyright (c) 1992-2023 The FreeBSD Project.
        \(version)CPU: Intel(R) Atom(TM) CPU N270   @ 1.60GHz (1596.00-MHz 686-class CPU)
        real memory  = 5898240 (5 MB)
        avail memory = 4194304 (4 MB)
        Timecounter "i8254" frequency 1193182 Hz quality 0


        Fatal trap 12: page fault while in kernel mode
        cpuid = 0; apic id = 00
        fault virtual address   = 0xdeadc0de
        fault code              = supervisor read, page not present
        instruction pointer     = 0x20:0x801120
        current process         = 12 (swi4: clock (0))
        panic: page fault
        cpuid = 0
        time = 1700000000
        Uptime: 1h2m3s
        Dumping 1 out of 5 MB:..100%

        """.utf8)

    /// The fixture dump's description.
    public static func description(version: UInt32, pae: Bool) -> I386DumpDescription {
        var ranges: [Range<UInt64>] = [0x1000..<0x9f000, 0x10_0000..<0x60_0000, 0x80_0000..<0x81_0000]
        if pae { ranges.append(0x1_0000_0000..<0x1_0000_8000) }
        var mappings = [
            I386Mapping(virtualAddress: kernbase, superpage: true, physicalAddress: 0x80_0000, executable: true),
            I386Mapping(virtualAddress: dataBase, count: 6),
            I386Mapping(virtualAddress: lapicVA, physicalAddress: 0xfee0_0000),
            I386Mapping(virtualAddress: notDumpedVA, dumped: false),
            I386Mapping(virtualAddress: readOnlyVA, count: 8, writable: false, executable: true),
        ]
        if pae { mappings.append(I386Mapping(virtualAddress: highMemoryVA, count: 4, physicalAddress: 0x1_0000_0000)) }
        var pages = [UInt8](repeating: 0, count: 0x2000)
        for v in variables(version: I386Fixture.version) {
            pages.replaceSubrange(Int(v.1 - dataBase)..<Int(v.1 - dataBase) + v.4.count, with: v.4)
        }
        let panicBytes = Array(panicString.utf8) + [0]
        pages.replaceSubrange(0x200..<0x200 + panicBytes.count, with: panicBytes)
        return I386DumpDescription(
            version: version, pae: pae, seed: 386, physicalRanges: ranges, kernbase: kernbase,
            mapPages: pae ? 4 : 2, mappings: mappings, messageBufferReservation: 0x2000, messageText: messageText,
            messageBufferVirtualAddress: msgbufVA,
            overlays: [Overlay(va: textBase, bytes: textBytes()), Overlay(va: dataBase, bytes: pages)])
    }

    /// A few-page i386 dump for fuzz seeds: one PTE page, four data pages, a read-only one and the msgbuf.
    public static func smallDescription(version: UInt32, pae: Bool) -> I386DumpDescription {
        I386DumpDescription(
            version: version, pae: pae, seed: 7, physicalRanges: [0x1000..<0x9f000], kernbase: kernbase, mapPages: 1,
            mappings: [I386Mapping(virtualAddress: kernbase, count: 4), I386Mapping(virtualAddress: kernbase + 0x5000, writable: false),
                       I386Mapping(virtualAddress: kernbase + 0x6000, physicalAddress: 0xfee0_0000)],
            messageText: Array("---<<BOOT>>---\npanic: i386 seed\n".utf8))
    }

    /// The golden i386 files: `vmcore.i386.pae` (v2, PAE), `vmcore.i386.nopae` (v1, non-PAE), `kernel.i386`,
    /// and the thread fixture `vmcore.i386.threads` with `kernel.i386.threads` (I386ThreadsDescription.golden()).
    public static func goldenFiles() throws(GeneratorError) -> [GoldenFile] {
        let threads = try makeI386ThreadFixture(.golden())
        return [
            GoldenFile(fileName: "vmcore.i386.pae", bytes: try generateI386Dump(description(version: 2, pae: true)).bytes),
            GoldenFile(fileName: "vmcore.i386.nopae", bytes: try generateI386Dump(description(version: 1, pae: false)).bytes),
            GoldenFile(fileName: "kernel.i386", bytes: kernelFile()),
            GoldenFile(fileName: "vmcore.i386.threads", bytes: try generateI386Dump(threads.dump).bytes),
            GoldenFile(fileName: "kernel.i386.threads", bytes: makeKernelELF32(threads.kernel)),
        ]
    }

    /// What `--describe-goldens` prints for an i386 golden.
    public static func summary(version: UInt32, pae: Bool) throws(GeneratorError) -> String {
        summary(truth: try generateI386Dump(description(version: version, pae: pae)).truth)
    }

    /// What `--describe-goldens` prints for the i386 dump with ground truth `t`.
    public static func summary(truth t: I386GroundTruth) -> String {
        let version = t.version, pae = t.pae
        var lines = [
            "i386 minidump v\(version), \(pae ? "PAE (paemode 1, 8-byte PTEs)" : "non-PAE (paemode 0, 4-byte PTEs)")",
            "kernbase \(hex(t.kernbase)), ptesize \(t.pteSize) (\(t.ptes.count) PTEs), msgbufsize \(t.msgbufSize), "
                + "bitmapsize \(t.bitmapSize), dumpavailsize \(t.dumpAvailSize), \(t.fileSize) bytes",
            "RAM: " + t.physicalRanges.map { "[\(hex($0.lowerBound)), \(hex($0.upperBound)))" }.joined(separator: ", "),
            "kernel-map pages (VA -> PA, rw/ro, x/nx, dumped):",
        ]
        var index = 0
        while index < t.pages.count {
            // Runs of pages contiguous in VA and PA with the same attributes.
            let first = t.pages[index]
            var end = index + 1
            while end < t.pages.count, t.pages[end].virtualAddress == first.virtualAddress + UInt64(end - index) * 4096,
                  t.pages[end].physicalAddress == first.physicalAddress + UInt64(end - index) * 4096,
                  t.pages[end].writable == first.writable, t.pages[end].executable == first.executable,
                  (t.fileOffset(ofPhysicalPage: t.pages[end].physicalAddress) != nil)
                    == (t.fileOffset(ofPhysicalPage: first.physicalAddress) != nil) {
                end += 1
            }
            let dumped = t.fileOffset(ofPhysicalPage: first.physicalAddress) != nil
            lines.append("  \(hex(first.virtualAddress)) -> \(hex(first.physicalAddress)) x\(end - index) "
                         + "\(first.writable ? "rw" : "ro") \(first.executable ? "x" : "nx") \(dumped ? "dumped" : "not dumped")")
            index = end
        }
        lines.append("msgbufp \(hex(t.msgbufPointer)); \(t.dumpedPages.count) data pages")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// One damaged i386 dump: its name, bytes, and what the error must mention.
public struct I386Corruption: Sendable {
    public var name: String
    public var bytes: [UInt8]
    /// Fragments the open (or, for `translate`, the translation of `address`) error must contain.
    public var mentions: [String]
    /// Nil when opening must fail; else the address whose translation must fail.
    public var address: UInt64?
}

/// The corrupt variants of an i386 dump (fuzz seeds and hostile-input tests).
public func i386CorruptVariants(of dump: GeneratedI386Dump) -> [I386Corruption] {
    let t = dump.truth
    func patched(_ offset: Int, _ value: UInt32) -> [UInt8] {
        var b = dump.bytes
        setU32LE(&b, at: offset, value)
        return b
    }
    let mapOffset = Int(t.dataOffset) - Int(t.pteSize)
    var badPTE = dump.bytes
    let target = t.pages.first { t.fileOffset(ofPhysicalPage: $0.physicalAddress) != nil && !$0.writable }?.virtualAddress
        ?? t.pages.first?.virtualAddress ?? t.kernbase
    let index = Int((target - t.kernbase) >> 12)
    let outsidePA: UInt64 = t.pae ? 0xf_fff0_0000 : 0x7ff0_0000  // far past RAM and past a v1 bitmap
    let outside = outsidePA | 0x21  // V | A
    if t.pae { setU64LE(&badPTE, at: mapOffset + index * 8, outside) } else { setU32LE(&badPTE, at: mapOffset + index * 4, UInt32(outside)) }
    let outsideWhy = t.version == 2 ? "outside every dump_avail range" : "past the"
    return [
        I386Corruption(name: "paemode-2", bytes: patched(44, 2), mentions: ["paemode", "0x2"]),
        I386Corruption(name: "paemode-ffffffff", bytes: patched(44, 0xffff_ffff), mentions: ["paemode", "0xffffffff"]),
        I386Corruption(name: "version-3", bytes: patched(24, 3), mentions: ["version is 3", "1 to 2"]),
        I386Corruption(name: "version-0", bytes: patched(24, 0), mentions: ["version is 0"]),
        I386Corruption(name: "map-past-4g", bytes: patched(40, 0xfff0_0000), mentions: ["ptesize", hex(UInt64(t.pteSize)), "32-bit"]),
        I386Corruption(name: "ptesize-unaligned", bytes: patched(36, t.pteSize - 4), mentions: ["ptesize", hex(UInt64(t.pteSize - 4))]),
        I386Corruption(name: "ptesize-0", bytes: patched(36, 0), mentions: ["ptesize", "empty"]),
        I386Corruption(name: "kernbase-unaligned", bytes: patched(40, UInt32(t.kernbase) + 0x10), mentions: ["kernbase", hex(t.kernbase + 0x10)]),
        I386Corruption(name: "bitmapsize-0", bytes: patched(32, 0), mentions: ["bitmapsize", "empty"]),
        I386Corruption(name: "map-cut", bytes: Array(dump.bytes[..<(mapOffset + 8)]),
                       mentions: ["kernel-map entry", "past the end of the truncated file"], address: target),
        I386Corruption(name: "pte-outside-memory", bytes: badPTE, mentions: [hex(outsidePA), outsideWhy], address: target),
    ] + (t.version == 2 ? [I386Corruption(name: "dumpavailsize-0", bytes: patched(48, 0), mentions: ["dumpavailsize", "0x0"])] : [])
}
