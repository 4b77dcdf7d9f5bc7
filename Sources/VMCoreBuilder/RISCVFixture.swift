/// The riscv golden fixtures: the standard riscv dump (versions 1 and 2, `vmcore.riscv.v1`,
/// `vmcore.riscv.v2`) and the EM_RISCV kernel `kernel.riscv` whose variables both dumps hold.

/// The standard riscv dump and its kernel.
public enum RISCVFixture {
    /// K: `VM_MIN_KERNEL_ADDRESS`, where map entry 0 and the kernel are.
    public static let kernbase = RISCVDumpDescription.defaultKernbase
    /// RAM: 6 MiB from 0x80200000 (OpenSBI holds the 2 MiB below) and 64 KiB at 0x80a00000.
    public static let ranges: [Range<UInt64>] = [0x8020_0000..<0x8080_0000, 0x80a0_0000..<0x80a1_0000]
    /// `dmap_phys_base`: RAM's start rounded down to 1 GiB.
    public static let dmapPhys: UInt64 = 0x8000_0000
    /// The 8 KiB message buffer at the top of the first range.
    public static let msgbufPhysicalAddress: UInt64 = 0x807f_e000
    /// Ring bytes (8 KiB less the 72-byte struct).
    public static let ringSize: UInt64 = 8120
    /// 2 MiB regions in the map: kernel_vm_end = K + 16 MiB.
    public static let kernelMapChunks = 8
    /// `kernel_vm_end`.
    public static let kernelVMEnd = kernbase + UInt64(kernelMapChunks) << 21

    /// Kernel-map addresses the tests and goldens use.
    public enum VA {
        public static let text = kernbase + 0x20_0000
        public static let data = kernbase + 0x20_8000
        public static let threadName = kernbase + 0x20_83c8
        public static let panicString = kernbase + 0x20_9040
        public static let spanning = kernbase + 0x20_aff0
        /// V clear.
        public static let invalidEntry = kernbase + 0x20_e000
        /// V set, R, W, X clear: a pointer to a table, not a leaf.
        public static let nonLeafEntry = kernbase + 0x20_f000
        /// A leaf with the Svpbmt IO type (bit 62) set.
        public static let reservedBits = kernbase + 0x21_0000
        /// A leaf to the UART at PA 0x10000000 (outside RAM): valid, not dumped.
        public static let device = kernbase + 0x21_1000
        /// A 2 MiB superpage at PA 0x80a00000: its first 16 pages are RAM.
        public static let superpage = kernbase + 0x40_0000
        /// A 2 MiB superpage at PA 0xc0000000, outside RAM.
        public static let superpageOutsideRAM = kernbase + 0x60_0000
        public static let kernelText = kernbase + 0xa0_0000
        public static let kernelData = kernbase + 0xa0_1000
        public static let kernelBSS = kernbase + 0xa0_2000
        /// A page in the map's last 2 MiB region, just below kernel_vm_end.
        public static let lastRegion = kernbase + 0xe0_0000
    }

    /// The running kernel's `version`.
    public static let version = "FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC riscv\n"
    public static let hostname = "riscv.kvmdump.test"
    public static let osreldate: UInt32 = 1_401_000
    public static let panicString = "page fault"

    /// `msgbufp`: the direct-map address of `struct msgbuf` after the ring.
    public static var msgbufPointer: UInt64 { RISCVDumpDescription.defaultDMAPBase + (msgbufPhysicalAddress - dmapPhys) + ringSize }

    /// The standard riscv dump of `version` (1 or 2): see `Fixtures/README.md`.
    public static func description(version: UInt32, seed: UInt64 = 0) -> RISCVDumpDescription {
        let k = kernbase
        let mappings = [
            RISCVMapping(virtualAddress: VA.text, pageSize: .size4K, count: 8, writable: false, executable: true),
            RISCVMapping(virtualAddress: VA.data, pageSize: .size4K, count: 6),
            RISCVMapping(virtualAddress: VA.reservedBits, pageSize: .size4K, reservedBits: 1 << 62),
            RISCVMapping(virtualAddress: VA.device, pageSize: .size4K, placement: .physical(0x1000_0000)),
            RISCVMapping(virtualAddress: VA.superpage, pageSize: .size2M, placement: .physical(0x80a0_0000)),
            RISCVMapping(virtualAddress: VA.superpageOutsideRAM, pageSize: .size2M, writable: false, executable: true,
                         placement: .physical(0xc000_0000)),
            RISCVMapping(virtualAddress: k + 0x80_0000, pageSize: .size4K, count: 3),
            RISCVMapping(virtualAddress: VA.kernelText, pageSize: .size4K, writable: false, executable: true),
            RISCVMapping(virtualAddress: VA.kernelData, pageSize: .size4K, count: 2),
            RISCVMapping(virtualAddress: VA.lastRegion, pageSize: .size4K),
        ]
        let raw = [
            RISCVRawEntry(virtualAddress: VA.invalidEntry, entry: RISCVEntryBits.entry(
                pa: 0x8030_0000, flags: RISCVEntryBits.read | RISCVEntryBits.write)),
            RISCVRawEntry(virtualAddress: VA.nonLeafEntry, entry: RISCVEntryBits.entry(pa: 0x8030_1000, flags: RISCVEntryBits.valid)),
        ]
        var message = MessageBufferDescription(reservedSize: 8192, text: [], structState: .valid,
                                               physicalAddress: msgbufPhysicalAddress)
        let (boot, panic) = dmesg()
        message.text = boot + panic
        message.unreadLength = panic.count
        return RISCVDumpDescription(
            version: version, seed: seed, physicalRanges: ranges, dmapPhys: dmapPhys, kernelMapChunks: kernelMapChunks,
            mappings: mappings, rawEntries: raw, directMapOnlyPages: 12, messageBuffer: message,
            overlays: [
                Overlay(va: VA.threadName, cString: "kvmdump_fixture"),
                Overlay(va: VA.panicString, cString: panicString),
                Overlay(va: VA.spanning, cString: "this string spans two kernel pages that are not physically adjacent"),
                Overlay(va: VA.kernelText, bytes: textBytes()),
                Overlay(va: VA.kernelData, bytes: runtimePages()),
            ])
    }

    /// A riscv boot log and the panic report (the unread part).
    static func dmesg() -> (boot: [UInt8], panic: [UInt8]) {
        let boot = [
            "---<<BOOT>>---", "Copyright (c) 1992-2023 The FreeBSD Project.",
            version.dropLast(), "FreeBSD clang version 18.1.5", "<6>real memory  = 6356992 (6 MB)",
            "<6>avail memory = 5931008 (5 MB)", "<5>riscv0: <Open Firmware RISC-V> on ofwbus0",
            "<6>vtnet0: Ethernet address: 58:9c:fc:00:00:01", "<13>syslogd: kernel boot file is /boot/kernel/kernel",
        ].joined(separator: "\n") + "\n"
        let panic = [
            "", "", "Fatal page fault at 0xffffffc000a00010: 0x0000000000000000", "panic: page fault", "cpuid = 1",
            "time = 1700000000", "KDB: stack backtrace:", "#0 0xffffffc000a00000 at kdb_backtrace+0x2c",
            "#1 0xffffffc000a00060 at vpanic+0x13e", "#2 0xffffffc000a001a0 at panic+0x26", "Uptime: 1h2m3s",
        ].joined(separator: "\n") + "\nDumping 1 out of 6 MB:"
        return (Array(boot.utf8), Array(panic.utf8))
    }

    /// One variable: name, section (`.data` at kernelData, `.bss` a page above), offset, size,
    /// binding, its bytes in the image (`.data`) and in the dump.
    struct Variable {
        let name: String
        let section: KernelELFSymbol.SectionRef
        let offset: UInt64
        let size: UInt64
        let initial: [UInt8]
        let runtime: [UInt8]
        var address: UInt64 { (section == .data ? VA.kernelData : VA.kernelBSS) + offset }
    }

    static func le(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    static var variables: [Variable] {
        let versionBytes = Array(version.utf8) + [0]
        let host = Array(hostname.utf8) + [UInt8](repeating: 0, count: 256 - hostname.utf8.count)
        return [
            Variable(name: "version", section: .data, offset: 0, size: UInt64(versionBytes.count), initial: versionBytes,
                     runtime: versionBytes),
            Variable(name: "osreldate", section: .data, offset: 0x80, size: 4, initial: le(UInt64(osreldate), 4),
                     runtime: le(UInt64(osreldate), 4)),
            Variable(name: "time_second", section: .data, offset: 0x88, size: 8, initial: le(1, 8), runtime: le(1_700_000_000, 8)),
            Variable(name: "time_uptime", section: .data, offset: 0x90, size: 8, initial: le(1, 8), runtime: le(3723, 8)),
            Variable(name: "panic_cpu", section: .data, offset: 0x98, size: 4, initial: le(0xffff_ffff, 4), runtime: le(1, 4)),
            Variable(name: "kernel_vm_end", section: .data, offset: 0xa0, size: 8, initial: le(kernbase, 8),
                     runtime: le(kernelVMEnd, 8)),
            Variable(name: "hostname", section: .bss, offset: 0, size: 256, initial: [], runtime: host),
            Variable(name: "panicstr", section: .bss, offset: 0x100, size: 8, initial: [], runtime: le(VA.panicString, 8)),
            Variable(name: "msgbufp", section: .bss, offset: 0x108, size: 8, initial: [], runtime: le(msgbufPointer, 8)),
            Variable(name: "boottime", section: .bss, offset: 0x110, size: 16, initial: [],
                     runtime: le(1_699_996_277, 8) + le(250_000, 8)),
            Variable(name: "hz", section: .bss, offset: 0x120, size: 4, initial: [], runtime: le(1000, 4)),
            Variable(name: "dumptid", section: .bss, offset: 0x124, size: 4, initial: [], runtime: le(100_123, 4)),
        ]
    }

    /// The functions in `.text`: name, offset, size.
    static let functions: [(String, UInt64, UInt64)] = [
        ("kdb_backtrace", 0x000, 0x60), ("vpanic", 0x060, 0x140), ("panic", 0x1a0, 0x40), ("doadump", 0x1e0, 0x50),
    ]
    static let textSize = 0x230

    /// `.text`: each function starts `addi sp,sp,-16` (0xff010113) and is filled with `ebreak` (0x00100073).
    static func textBytes() -> [UInt8] {
        var text: [UInt8] = []
        for _ in 0..<(textSize / 4) { text += le(0x0010_0073, 4) }
        for (_, offset, _) in functions { text.replaceSubrange(Int(offset)..<Int(offset) + 4, with: le(0xff01_0113, 4)) }
        return text
    }

    /// The `.data` and `.bss` pages as the dump holds them.
    static func runtimePages() -> [UInt8] {
        var pages = [UInt8](repeating: 0, count: 0x2000)
        for v in variables {
            let at = Int(v.address - VA.kernelData)
            pages.replaceSubrange(at..<at + v.runtime.count, with: v.runtime)
        }
        return pages
    }

    /// The kernel ELF (EM_RISCV) whose variables the standard riscv dumps hold.
    public static func kernelDescription() -> KernelELFDescription {
        var data = [UInt8](repeating: 0, count: 0xa8)
        for v in variables where v.section == .data {
            data.replaceSubrange(Int(v.offset)..<Int(v.offset) + v.initial.count, with: v.initial)
        }
        var symbols = [KernelELFSymbol(name: "btext", value: VA.kernelText, size: 0, type: .noType, section: .text)]
        symbols += functions.map {
            KernelELFSymbol(name: $0.0, value: VA.kernelText + $0.1, size: $0.2, type: .function, section: .text)
        }
        symbols += variables.map {
            KernelELFSymbol(name: $0.name, value: $0.address, size: $0.size, type: .object, section: $0.section,
                            binding: $0.name == "panic_cpu" ? .local : .global)
        }
        symbols.append(KernelELFSymbol(name: "etext", value: VA.kernelText + UInt64(textSize), size: 0, type: .noType, section: .text))
        symbols.append(KernelELFSymbol(name: "end", value: VA.kernelBSS + 0x200, size: 0, type: .noType, section: .bss))
        var elf = KernelELFDescription(symbols: symbols, textBase: VA.kernelText, text: textBytes(),
                                       dataBase: VA.kernelData, data: data, bssBase: VA.kernelBSS, bssSize: 0x200)
        elf.machine = 243  // EM_RISCV (the default is EM_X86_64)
        return elf
    }

    /// The riscv golden files: `vmcore.riscv.v1`, `vmcore.riscv.v2` and `kernel.riscv`, and the thread
    /// fixture `vmcore.riscv.threads` with `kernel.riscv.threads` (RISCVThreadsDescription.golden()).
    public static func goldenFiles() throws(GeneratorError) -> [GoldenFile] {
        let threads = try makeRISCVThreadFixture(.golden())
        return [
            GoldenFile(fileName: "vmcore.riscv.v1", bytes: try generateRISCVDump(description(version: 1)).bytes),
            GoldenFile(fileName: "vmcore.riscv.v2", bytes: try generateRISCVDump(description(version: 2)).bytes),
            GoldenFile(fileName: "kernel.riscv", bytes: makeKernelELF(kernelDescription())),
            GoldenFile(fileName: "vmcore.riscv.threads", bytes: try generateRISCVDump(threads.dump).bytes),
            GoldenFile(fileName: "kernel.riscv.threads", bytes: makeKernelELF(threads.kernel)),
        ]
    }
}
