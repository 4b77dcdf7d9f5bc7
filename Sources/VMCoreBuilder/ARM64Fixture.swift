/// The arm64 presets and golden fixtures: a small dump per version and page size, the kernel ELF
/// (EM_AARCH64) whose variables the golden dumps hold, and the arm64-specific corruptions.

/// The arm64 fixture kernel: its sections sit in the kernel map at the same offsets for 4 KiB and
/// 16 KiB pages (`.text` at kernbase + 0x10000, `.data` + 0x20000, `.bss` + 0x24000), so one
/// `kernel.arm64` matches every arm64 golden dump.
public enum ARM64Fixture {
    /// VM_MIN_KERNEL_ADDRESS.
    public static let kernbase: UInt64 = 0xffff_0000_0000_0000
    public static let textBase = kernbase + 0x1_0000
    public static let dataBase = kernbase + 0x2_0000
    public static let bssBase = kernbase + 0x2_4000
    /// RAM as on a QEMU virt machine (from 1 GiB), with a hole, and a small third range that an
    /// L2 block at its start only partly covers.
    public static let physicalRanges: [Range<UInt64>] = [
        0x4000_0000..<0x4080_0000, 0x4100_0000..<0x4140_0000, 0x4200_0000..<0x4201_0000,
    ]
    /// The running kernel's version string.
    public static let version = "FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC arm64\n"
    public static let hostname = "arm64.kvmdump.test"
    public static let osreldate: UInt32 = 1_401_000
    public static let panicString = "data abort"
    /// Where `panicstr` points: a string in `.data`.
    public static let panicStringAddress = dataBase + 0x400
    /// A pointer-authentication-tagged alias of `panicStringAddress` (bits 54-48 set, as a PAC
    /// signature leaves them), which readers canonicalise.
    public static let taggedPanicStringAddress = panicStringAddress ^ 0x007f_0000_0000_0000

    /// The dump description for `version` and `granule`: kernel text, data and bss pages, more data
    /// pages (one with attribute noise), a device page outside RAM, a reserved (invalid) L3 entry,
    /// an L2 block over the partial third range, direct-map-only pages, the kernel's variables.
    public static func description(version: UInt32, granule: ARM64DumpDescription.Granule, seed: UInt64 = 0) -> ARM64DumpDescription {
        var d = ARM64DumpDescription(version: version, granule: granule, seed: seed, physicalRanges: physicalRanges,
                                     l2Regions: 3)
        d.messageBuffer = .panicDmesg(seed: seed, physicalMemory: 12 << 20, reservedSize: 32 * 1024)
        d.mappings = [
            ARM64Mapping(virtualAddress: textBase, writable: false, executable: true),
            ARM64Mapping(virtualAddress: dataBase),
            ARM64Mapping(virtualAddress: bssBase),
            ARM64Mapping(virtualAddress: kernbase + 0x4_0000, count: 3, attributeNoise: true),
            ARM64Mapping(virtualAddress: kernbase + 0x8_0000, placement: .physical(0x0900_0000)),
            ARM64Mapping(virtualAddress: kernbase + 0xc_0000, kind: .reservedEntries),
            ARM64Mapping(virtualAddress: kernbase + d.l2Size, kind: .l2Blocks, placement: .physical(0x4200_0000)),
        ]
        d.directMapOnlyPages = 5
        let msgbufPA = physicalRanges[1].upperBound - 32 * 1024
        let msgbufp = d.dmapBase + (msgbufPA - physicalRanges[0].lowerBound) + UInt64(d.messageBuffer.ringSize)
        d.messageBuffer.physicalAddress = msgbufPA
        var data = [UInt8](repeating: 0, count: 0x800)
        for v in variables(msgbufp: msgbufp, kernelVMEnd: d.kernelVMEnd) where v.section == .data {
            data.replaceSubrange(Int(v.offset)..<Int(v.offset) + v.runtime.count, with: v.runtime)
        }
        data.replaceSubrange(0x400..<0x400 + panicString.utf8.count + 1, with: Array(panicString.utf8) + [0])
        var bss = [UInt8](repeating: 0, count: 0x200)
        for v in variables(msgbufp: msgbufp, kernelVMEnd: d.kernelVMEnd) where v.section == .bss {
            bss.replaceSubrange(Int(v.offset)..<Int(v.offset) + v.runtime.count, with: v.runtime)
        }
        d.overlays = [Overlay(va: textBase, bytes: textBytes()), Overlay(va: dataBase, bytes: data),
                      Overlay(va: bssBase, bytes: bss)]
        return d
    }

    /// One variable of the kernel: name, section, offset, size, the bytes the dump holds.
    struct Variable {
        let name: String
        let section: KernelELFSymbol.SectionRef
        let offset: UInt64
        let size: UInt64
        let runtime: [UInt8]
        var address: UInt64 { (section == .data ? dataBase : bssBase) + offset }
    }

    static func variables(msgbufp: UInt64, kernelVMEnd: UInt64) -> [Variable] {
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        let versionBytes = Array(version.utf8) + [0]
        return [
            Variable(name: "version", section: .data, offset: 0, size: UInt64(versionBytes.count), runtime: versionBytes),
            Variable(name: "osreldate", section: .data, offset: 0x80, size: 4, runtime: le(UInt64(osreldate), 4)),
            Variable(name: "time_second", section: .data, offset: 0x88, size: 8, runtime: le(1_700_000_000, 8)),
            Variable(name: "time_uptime", section: .data, offset: 0x90, size: 8, runtime: le(3723, 8)),
            Variable(name: "panic_cpu", section: .data, offset: 0x98, size: 4, runtime: le(2, 4)),
            Variable(name: "kernel_vm_end", section: .data, offset: 0xa0, size: 8, runtime: le(kernelVMEnd, 8)),
            Variable(name: "hostname", section: .bss, offset: 0, size: 256,
                     runtime: Array(hostname.utf8) + [UInt8](repeating: 0, count: 256 - hostname.utf8.count)),
            Variable(name: "panicstr", section: .bss, offset: 0x100, size: 8, runtime: le(taggedPanicStringAddress, 8)),
            Variable(name: "msgbufp", section: .bss, offset: 0x108, size: 8, runtime: le(msgbufp, 8)),
            Variable(name: "boottime", section: .bss, offset: 0x110, size: 16, runtime: le(1_699_996_277, 8) + le(250_000, 8)),
            Variable(name: "hz", section: .bss, offset: 0x120, size: 4, runtime: le(1000, 4)),
            Variable(name: "dumptid", section: .bss, offset: 0x124, size: 4, runtime: le(100_200, 4)),
        ]
    }

    /// Functions in `.text`: name, offset, size.
    static let functions: [(String, UInt64, UInt64)] = [
        ("kdb_backtrace", 0x000, 0x60), ("vpanic", 0x060, 0x140), ("panic", 0x1a0, 0x40), ("doadump", 0x1e0, 0x50),
    ]
    static let textSize = 0x230

    /// `.text`: each function starts `stp x29, x30, [sp, #-16]!; mov x29, sp`, then `brk #0`.
    static func textBytes() -> [UInt8] {
        var text = [UInt8](repeating: 0, count: textSize)
        for i in stride(from: 0, to: textSize, by: 4) { text.replaceSubrange(i..<i + 4, with: [0x00, 0x00, 0x20, 0xd4]) }
        for (_, offset, _) in functions {
            text.replaceSubrange(Int(offset)..<Int(offset) + 8, with: [0xfd, 0x7b, 0xbf, 0xa9, 0xfd, 0x03, 0x00, 0x91])
        }
        return text
    }

    /// The EM_AARCH64 kernel ELF: `.text`, `.data` (the variables' boot-time values are zero:
    /// only the dump holds their run-time values), `.bss`, and their symbols.
    public static func kernelDescription() -> KernelELFDescription {
        let vars = variables(msgbufp: 0, kernelVMEnd: 0)
        var symbols = [KernelELFSymbol(name: "btext", value: textBase, size: 0, type: .noType, section: .text)]
        symbols += functions.map { KernelELFSymbol(name: $0.0, value: textBase + $0.1, size: $0.2, type: .function, section: .text) }
        symbols += vars.map { KernelELFSymbol(name: $0.name, value: $0.address, size: $0.size, type: .object, section: $0.section) }
        symbols.append(KernelELFSymbol(name: "etext", value: textBase + UInt64(textSize), size: 0, type: .noType, section: .text))
        symbols.append(KernelELFSymbol(name: "end", value: bssBase + 0x200, size: 0, type: .noType, section: .bss))
        var d = KernelELFDescription(symbols: symbols, textBase: textBase, text: textBytes(), dataBase: dataBase,
                                     data: Array(Array(version.utf8) + [UInt8](repeating: 0, count: 0x800 - version.utf8.count)),
                                     bssBase: bssBase, bssSize: 0x200)
        d.machine = 183
        return d
    }
}

/// The arm64 golden fixtures: name and description.
public func goldenARM64Fixtures() -> [(fileName: String, description: ARM64DumpDescription)] {
    [
        ("vmcore.arm64.v3-16k", ARM64Fixture.description(version: 3, granule: .size16K)),
        ("vmcore.arm64.v2-4k", ARM64Fixture.description(version: 2, granule: .size4K, seed: 1)),
    ]
}

/// The arm64 golden files: the dumps and `kernel.arm64`, and the thread fixture `vmcore.arm64.threads`
/// with `kernel.arm64.threads` (ARM64ThreadsDescription.golden()).
public func goldenARM64Files() throws(GeneratorError) -> [GoldenFile] {
    var files: [GoldenFile] = []
    for golden in goldenARM64Fixtures() {
        files.append(GoldenFile(fileName: golden.fileName, bytes: try generateARM64Dump(golden.description).bytes))
    }
    files.append(GoldenFile(fileName: "kernel.arm64", bytes: makeKernelELF(ARM64Fixture.kernelDescription())))
    let threads = try makeARM64ThreadFixture(.golden())
    files.append(GoldenFile(fileName: "vmcore.arm64.threads", bytes: try generateARM64Dump(threads.dump).bytes))
    files.append(GoldenFile(fileName: "kernel.arm64.threads", bytes: makeKernelELF(threads.kernel)))
    return files
}

extension ARM64GroundTruth {
    /// What the dump holds, for Fixtures/README.md.
    public func summary() -> String {
        var lines = [
            "arm64 minidump v\(version), \(pageSize >> 10) KiB pages (flags \(flags)); \(fileSize) bytes, \(dumpedPages.count) data pages",
            "kernbase \(hex(kernbase)), kernel_vm_end \(hex(kernelVMEnd)); dmapbase \(hex(dmapBase)) maps PA dmapphys \(hex(dmapPhys)); dmapend \(hex(dmapEnd))",
            "RAM: " + physicalRanges.map { "[\(hex($0.lowerBound)), \(hex($0.upperBound)))" }.joined(separator: " "),
            "sections: msgbuf \(hex(msgbufOffset)) (\(msgbufSize) bytes), dump_avail \(hex(dumpAvailOffset)), bitmap \(hex(bitmapOffset)) (\(bitmapSize)), pmap \(hex(pmapOffset)) (\(pmapSize)), data \(hex(dataOffset))",
            "msgbuf ring at PA \(hex(msgbufPhysicalAddress)) (msg_ptr \(hex(msgbufVirtualAddress))), struct msgbuf at \(msgbufStructVirtualAddress.map(hex) ?? "-")",
            "valid L3 entries (\(kernelPages.count)), coalesced:",
        ]
        var i = 0
        while i < kernelPages.count {
            var j = i
            while j + 1 < kernelPages.count, kernelPages[j + 1].va == kernelPages[j].va + pageSize,
                  kernelPages[j + 1].pa == kernelPages[j].pa + pageSize,
                  kernelPages[j + 1].writable == kernelPages[i].writable, kernelPages[j + 1].executable == kernelPages[i].executable,
                  kernelPages[j + 1].present == kernelPages[i].present { j += 1 }
            let p = kernelPages[i]
            lines.append("  \(hex(p.va)) -> \(hex(p.pa)) x\(j - i + 1) r\(p.writable ? "w" : "-")\(p.executable ? "x" : "-") \(p.present ? "present" : "absent")")
            i = j + 1
        }
        lines.append("invalid L3 entries with a non-zero value: " + l3Map.enumerated().filter { $0.element != 0 && $0.element & 3 != 3 }
            .map { "\($0.offset) = \(hex($0.element))" }.joined(separator: ", "))
        lines.append("direct-map-only pages: " + directMapOnlyPages.map(hex).joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Ways to damage an arm64 dump that only arm64 has, or that arm64 puts elsewhere in the header.
public enum ARM64Corruption: String, CaseIterable, Sendable {
    /// A 4 KiB v3 dump whose flags say 16 KiB.
    case flag16KOn4KLayout = "flag-16k-on-4k-layout"
    /// flags page-size code 2 (64 KiB, reserved).
    case pageSizeCode2 = "page-size-code-2"
    /// flags page-size code 3.
    case pageSizeCode3 = "page-size-code-3"
    /// dmapphys 1 MiB past the end of the memory the dump describes (v1: what the bitmap covers).
    case dmapPhysBeyondRAM = "dmapphys-beyond-ram"
    /// dmapphys not page aligned.
    case dmapPhysMisaligned = "dmapphys-misaligned"
    /// dmapphys so high that the direct map would reach past 2^64.
    case dmapPhysOverflow = "dmapphys-overflow"
    /// The pmap section one page (one L2 region) shorter than kernbase...kernel_vm_end needs:
    /// pmapsize and the section both cut, the data pages after it as written.
    case shortL3Map = "short-l3-map"
    /// pmapsize not a multiple of the page size.
    case pmapSizeMisaligned = "pmapsize-misaligned"
    /// pmapsize 0.
    case pmapSizeZero = "pmapsize-zero"
    /// Version 4.
    case version4 = "version-4"
    /// v2+: dumpavailsize 0.
    case dumpAvailSizeZero = "dumpavailsize-zero"
    /// kernbase not page aligned.
    case kernbaseMisaligned = "kernbase-misaligned"
    /// dmapend not above dmapbase.
    case directMapInverted = "dmap-inverted"
    /// Cut inside the pmap section.
    case truncatedInPmap = "truncated-in-pmap"
    /// Cut inside a data page.
    case truncatedInsideDataPage = "truncated-inside-data-page"
}

/// Applies `c` to `dump`; nil if the corruption does not apply to its version or page size.
public func corrupt(_ dump: GeneratedARM64Dump, _ c: ARM64Corruption) -> [UInt8]? {
    var b = dump.bytes
    let t = dump.truth
    switch c {
    case .flag16KOn4KLayout:
        guard t.version == 3, t.pageSize == 0x1000 else { return nil }
        setU32LE(&b, at: 76, 1)
    case .pageSizeCode2, .pageSizeCode3:
        guard t.version == 3 else { return nil }
        setU32LE(&b, at: 76, c == .pageSizeCode2 ? 2 : 3)
    case .dmapPhysBeyondRAM: setU64LE(&b, at: 48, t.describedMemoryEnd + 0x10_0000)
    case .dmapPhysMisaligned: setU64LE(&b, at: 48, t.dmapPhys + 0x800)
    case .dmapPhysOverflow: setU64LE(&b, at: 48, 0 &- t.pageSize * 16)
    case .shortL3Map:
        setU32LE(&b, at: 36, t.pmapSize - UInt32(t.pageSize))
        let end = Int(t.pmapOffset) + Int(t.pmapSize)
        b.removeSubrange((end - Int(t.pageSize))..<end)
    case .pmapSizeMisaligned: setU32LE(&b, at: 36, t.pmapSize - 8)
    case .pmapSizeZero: setU32LE(&b, at: 36, 0)
    case .version4: setU32LE(&b, at: 24, 4)
    case .dumpAvailSizeZero:
        guard t.version >= 2 else { return nil }
        setU32LE(&b, at: 72, 0)
    case .kernbaseMisaligned: setU64LE(&b, at: 40, t.kernbase + 0x800)
    case .directMapInverted:
        setU64LE(&b, at: 56, t.dmapEnd)
        setU64LE(&b, at: 64, t.dmapBase)
    case .truncatedInPmap: b.removeSubrange(Int(t.pmapOffset) + 24..<b.count)
    case .truncatedInsideDataPage:
        b.removeSubrange(Int(t.dataOffset) + t.dumpedPages.count / 2 * Int(t.pageSize) + 1234..<b.count)
    }
    return b
}
