extension DumpDescription {
    /// RAM of the standard dump: low memory, 1–8 MiB, 64 KiB at 10 MiB, 32 KiB at 4 GiB (holes between).
    public static let standardRanges: [Range<UInt64>] = [
        0x1000..<0x9_f000, 0x10_0000..<0x80_0000, 0xa0_0000..<0xa1_0000, 0x1_0000_0000..<0x1_0000_8000,
    ]

    /// A small, varied dump (< 1 MiB): 4 KiB pages (text, data, a device page outside RAM), a 2 MiB page with
    /// 16 of 512 pages in RAM, a 2 MiB page wholly outside RAM, (v2/v3) a 1 GiB page with 8 pages in RAM,
    /// 12 direct-map-only pages, an 8 KiB msgbuf holding an unwrapped panic dmesg, and three string overlays.
    public static func standard(version: UInt32, seed: UInt64) -> DumpDescription {
        let kb = defaultKernbase(version: version)
        var mappings = [
            KernelMapping(virtualAddress: kb + 0x20_0000, pageSize: .size4K, count: 8, writable: false, executable: true),
            KernelMapping(virtualAddress: kb + 0x20_8000, pageSize: .size4K, count: 6),
            KernelMapping(virtualAddress: kb + 0x20_f000, pageSize: .size4K, placement: .physical(0xfee0_0000), pat: true),
            KernelMapping(virtualAddress: kb + 0x40_0000, pageSize: .size2M, placement: .physical(0xa0_0000), pat: true),
            KernelMapping(virtualAddress: kb + 0x60_0000, pageSize: .size2M, writable: false, executable: true,
                          placement: .physical(0xc000_0000)),
            KernelMapping(virtualAddress: kb + 0x80_0000, pageSize: .size4K, count: 3),
        ]
        if version != 1 {
            mappings.append(KernelMapping(virtualAddress: kb + 0x4000_0000, pageSize: .size1G,
                                          placement: .physical(0x1_0000_0000)))
        }
        let ram = standardRanges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) }
        return DumpDescription(
            version: version, seed: seed, physicalRanges: standardRanges, kernelMapSlots: version == 1 ? 8 : 4,
            mappings: mappings, directMapOnlyPages: 12,
            messageBuffer: .panicDmesg(seed: seed, physicalMemory: ram, reservedSize: 8192),
            overlays: [
                Overlay(va: kb + 0x20_83c8, cString: "kvmdump_fixture"),
                Overlay(va: kb + 0x20_9040, cString: "page fault"),
                Overlay(va: kb + 0x20_aff0, cString: "this string spans two kernel pages that are not physically adjacent"),
            ])
    }

    /// Names accepted by `preset(_:version:seed:)`.
    public static let presetNames = ["standard", "wrapped", "nostruct", "badmsgbuf", "msgbuf40", "bench-128g", "bench-1t", "bench-8t"]

    /// A named preset; `version` applies to the small presets (the bench presets are always v3). Nil for an unknown name.
    public static func preset(_ name: String, version: UInt32 = 3, seed: UInt64 = 0) -> DumpDescription? {
        var d = standard(version: version, seed: seed)
        let ram = standardRanges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) }
        switch name {
        case "standard": return d
        case "wrapped":
            d.messageBuffer = .panicDmesg(seed: seed, physicalMemory: ram, reservedSize: 8192, wrap: true)
        case "nostruct":
            d.messageBuffer = .panicDmesg(seed: seed, physicalMemory: ram, reservedSize: 8192, structState: .absent)
        case "badmsgbuf":
            d.messageBuffer = .panicDmesg(seed: seed, physicalMemory: ram, reservedSize: 8192, structState: .badMagic)
        case "msgbuf40":
            // FreeBSD 7/8: the 40-byte struct msgbuf after a wrapped ring (msgbufsize 8152, 40 bytes of padding).
            d.messageBuffer = .panicDmesg(seed: seed, physicalMemory: ram, reservedSize: 8192, wrap: true,
                                          structLayout: .freebsd7)
        case "bench-128g": return bench(seed: seed, topOfRAM: 0x20_4000_0000, large: 1024, small: 262_144, dmapOnly: 1_300_000)
        case "bench-1t": return bench(seed: seed, topOfRAM: 0x100_4000_0000, large: 512, small: 65536, dmapOnly: 200_000)
        case "bench-8t":
            var big = bench(seed: seed, topOfRAM: 0x800_4000_0000, large: 256, small: 32768, dmapOnly: 100_000)
            big.dmapBase = 0xffff_e800_0000_0000
            return big
        default: return nil
        }
        return d
    }

    /// A v3 benchmark machine with RAM up to `topOfRAM` (PCI hole below 4 GiB), a 2047-slot kernel map,
    /// the kernel at KERNBASE + 2 MiB (32 MiB of 2 MiB pages), `large` random 2 MiB and `small` random 4 KiB
    /// kernel pages, `dmapOnly` UMA-like pages and a 96 KiB msgbuf; data pages are holes.
    /// (bench-8t moves dmapbase down to 0xffffe80000000000: the default 4 TiB direct map cannot hold 8 TiB.)
    static func bench(seed: UInt64, topOfRAM: UInt64, large: Int, small: Int, dmapOnly: Int) -> DumpDescription {
        let ranges: [Range<UInt64>] = [0x1000..<0x9_f000, 0x10_0000..<0xc000_0000, 0x1_0000_0000..<topOfRAM]
        let kb = defaultKernbase(version: 3)
        let mappings = [
            KernelMapping(virtualAddress: 0xffff_ffff_8020_0000, pageSize: .size2M, count: 16, executable: true,
                          placement: .physical(0x20_0000)),
            KernelMapping(virtualAddress: kb + 0x10_0000_0000, pageSize: .size2M, count: large),
            KernelMapping(virtualAddress: kb + 0x20_0000_0000, pageSize: .size4K, count: small),
        ]
        return DumpDescription(version: 3, seed: seed, physicalRanges: ranges, kernelMapSlots: 2047,
                               mappings: mappings, directMapOnlyPages: dmapOnly, stampPages: false)
    }
}

/// A committed golden fixture: a file name under `Fixtures/` and the description that regenerates it.
public struct GoldenFixture: Sendable {
    /// File name inside `Fixtures/`.
    public var fileName: String
    /// The description it is generated from.
    public var description: DumpDescription
}

/// Every golden fixture, in a fixed order.
public func goldenFixtures() -> [GoldenFixture] {
    var truncated = DumpDescription.standard(version: 3, seed: 0)
    truncated.truncation = .dataPages(keep: 30, extraBytes: 2000)
    return [
        GoldenFixture(fileName: "vmcore.0", description: .standard(version: 3, seed: 0)),
        GoldenFixture(fileName: "vmcore.v1", description: .standard(version: 1, seed: 0)),
        GoldenFixture(fileName: "vmcore.v2", description: .standard(version: 2, seed: 0)),
        GoldenFixture(fileName: "vmcore.wrapped", description: DumpDescription.preset("wrapped", seed: 0)!),
        GoldenFixture(fileName: "vmcore.nostruct", description: DumpDescription.preset("nostruct", seed: 0)!),
        GoldenFixture(fileName: "vmcore.badmsgbuf", description: DumpDescription.preset("badmsgbuf", seed: 0)!),
        GoldenFixture(fileName: "vmcore.msgbuf40", description: DumpDescription.preset("msgbuf40", version: 1, seed: 0)!),
        GoldenFixture(fileName: "vmcore.truncated", description: truncated),
        GoldenFixture(fileName: "vmcore.1", description: KernelFixture.dumpDescription()),
        GoldenFixture(fileName: "vmcore.2", description: goldenThreadFixture().dump),
    ]
}
