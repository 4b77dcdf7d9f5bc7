/// Ways to damage a valid riscv dump: amd64's kinds at riscv's offsets, plus riscv's own
/// (dmapphys, the L3 leaf rule, reserved PTE bits, a map shorter than kernel_vm_end).
public enum RISCVCorruption: String, CaseIterable, Sendable {
    /// First byte of the magic changed.
    case badMagic = "bad-magic"
    /// The NUL after the 22 magic characters replaced by 'X'.
    case unterminatedMagic = "unterminated-magic"
    /// Header version 0.
    case version0 = "version-0"
    /// Header version 3 (riscv has no v3).
    case version3 = "version-3"
    /// msgbufsize = 0xfffff000.
    case msgbufSizeTooLarge = "msgbufsize-too-large"
    /// bitmapsize = 0xfffff000.
    case bitmapSizeTooLarge = "bitmapsize-too-large"
    /// v2: bitmapsize 8 bytes short of a page multiple.
    case bitmapSizeMisaligned = "bitmapsize-misaligned"
    /// pmapsize = 0xfffff000.
    case pmapSizeTooLarge = "pmapsize-too-large"
    /// pmapsize 8 bytes short of a page multiple.
    case pmapSizeMisaligned = "pmapsize-misaligned"
    /// pmapsize = 0.
    case pmapSizeZero = "pmapsize-zero"
    /// v2: dumpavailsize = 0.
    case dumpAvailSizeZero = "dumpavailsize-zero"
    /// v2: dumpavailsize = 4100.
    case dumpAvailSizeMisaligned = "dumpavailsize-misaligned"
    /// kernbase + 0x1000 (not 2 MiB aligned).
    case kernbaseMisaligned = "kernbase-misaligned"
    /// dmapphys + 0x123.
    case dmapPhysMisaligned = "dmapphys-misaligned"
    /// dmapphys = 0x100000000, beyond the memory the dump describes.
    case dmapPhysBeyondRAM = "dmapphys-beyond-ram"
    /// dmapbase and dmapend swapped.
    case directMapInverted = "dmap-inverted"
    /// The last page of the L3 map removed and pmapsize reduced to match: a consistent file whose
    /// map stops 2 MiB short of kernel_vm_end (the map grew while it was written).
    case mapShorterThanKernelVMEnd = "map-shorter-than-kernel-vm-end"
    /// The first valid leaf with V cleared.
    case leafInvalid = "leaf-invalid"
    /// The first valid leaf with R, W and X cleared (V kept): a non-leaf entry.
    case leafNotALeaf = "leaf-not-a-leaf"
    /// The first valid leaf with every reserved bit (63–54) set: a reader must mask them.
    case reservedBitsSet = "reserved-bits-set"
    /// v2: the second dump_avail range starts inside the first.
    case dumpAvailOverlapping = "dumpavail-overlapping"
    /// v2: dump_avail's first pair is the terminator.
    case dumpAvailEmpty = "dumpavail-empty"
    /// Zero-length file.
    case emptyFile = "empty-file"
    /// Cut inside the header page.
    case truncatedInHeader = "truncated-in-header"
    /// Cut inside the bitmap.
    case truncatedInBitmap = "truncated-in-bitmap"
    /// Cut inside the L3 map.
    case truncatedInPmap = "truncated-in-pmap"
    /// Cut half way through the data.
    case truncatedInsideDataPage = "truncated-inside-data-page"
    /// 4096 bytes of 0xaa appended.
    case trailingGarbage = "trailing-garbage"
}

/// The bytes of `dump` damaged by `corruption`, or nil when it does not apply to its version.
public func corrupt(_ dump: RISCVGeneratedDump, with corruption: RISCVCorruption) -> [UInt8]? {
    let t = dump.truth
    var b = dump.bytes
    let v2 = t.version == 2
    func cut(_ n: UInt64) -> [UInt8] { Array(b[0..<Int(n)]) }
    let firstLeaf = t.pmap.firstIndex { $0 & 1 != 0 && $0 & 0xe != 0 }
    func editFirstLeaf(_ edit: (UInt64) -> UInt64) -> [UInt8]? {
        guard let i = firstLeaf else { return nil }
        setU64LE(&b, at: Int(t.pmapOffset) + 8 * i, edit(t.pmap[i]))
        return b
    }
    switch corruption {
    case .badMagic: b[0] = UInt8(ascii: "M")
    case .unterminatedMagic: b[22] = UInt8(ascii: "X")
    case .version0: setU32LE(&b, at: 24, 0)
    case .version3: setU32LE(&b, at: 24, 3)
    case .msgbufSizeTooLarge: setU32LE(&b, at: 28, 0xffff_f000)
    case .bitmapSizeTooLarge: setU32LE(&b, at: 32, 0xffff_f000)
    case .bitmapSizeMisaligned:
        guard v2 else { return nil }
        setU32LE(&b, at: 32, t.bitmapSize - 8)
    case .pmapSizeTooLarge: setU32LE(&b, at: 36, 0xffff_f000)
    case .pmapSizeMisaligned: setU32LE(&b, at: 36, t.pmapSize - 8)
    case .pmapSizeZero: setU32LE(&b, at: 36, 0)
    case .dumpAvailSizeZero, .dumpAvailSizeMisaligned:
        guard v2 else { return nil }
        setU32LE(&b, at: 72, corruption == .dumpAvailSizeZero ? 0 : 4100)
    case .kernbaseMisaligned: setU64LE(&b, at: 40, t.kernbase + 0x1000)
    case .dmapPhysMisaligned: setU64LE(&b, at: 48, t.dmapPhys + 0x123)
    case .dmapPhysBeyondRAM: setU64LE(&b, at: 48, 0x1_0000_0000)
    case .directMapInverted:
        setU64LE(&b, at: 56, t.dmapEnd)
        setU64LE(&b, at: 64, t.dmapBase)
    case .mapShorterThanKernelVMEnd:
        guard t.pmapSize > 4096 else { return nil }
        setU32LE(&b, at: 36, t.pmapSize - 4096)
        let lastPage = Int(t.pmapOffset) + Int(t.pmapSize) - 4096
        b.removeSubrange(lastPage..<(lastPage + 4096))
    case .leafInvalid: return editFirstLeaf { $0 & ~1 }
    case .leafNotALeaf: return editFirstLeaf { $0 & ~0xe }
    case .reservedBitsSet: return editFirstLeaf { $0 | RISCVEntryBits.reservedHigh }
    case .dumpAvailOverlapping:
        guard v2, t.physicalRanges.count >= 2 else { return nil }
        setU64LE(&b, at: Int(t.dumpAvailOffset) + 16, t.physicalRanges[0].upperBound - 0x1000)
    case .dumpAvailEmpty:
        guard v2 else { return nil }
        setU64LE(&b, at: Int(t.dumpAvailOffset), 0)
        setU64LE(&b, at: Int(t.dumpAvailOffset) + 8, 0)
    case .emptyFile: return []
    case .truncatedInHeader: return cut(2048)
    case .truncatedInBitmap: return cut(t.bitmapOffset + 8)
    case .truncatedInPmap: return cut(t.pmapOffset + 24)
    case .truncatedInsideDataPage: return cut(t.dataOffset + UInt64(t.dumpedPages.count / 2) * 4096 + 1234)
    case .trailingGarbage: b += [UInt8](repeating: 0xaa, count: 4096)
    }
    return b
}

/// Every applicable corruption of `dump`, named by the corruption's raw value.
public func corruptVariants(of dump: RISCVGeneratedDump) -> [(name: String, bytes: [UInt8])] {
    RISCVCorruption.allCases.compactMap { c in corrupt(dump, with: c).map { (c.rawValue, $0) } }
}
