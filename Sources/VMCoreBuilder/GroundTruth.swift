/// One valid leaf of the kernel map: a 4 KiB page (PTE) or a 2 MiB page (PS PDE; 1 GiB pages appear as 512 of these).
public struct KernelPage: Sendable, Equatable {
    /// Virtual address of the page.
    public var va: UInt64
    /// Physical address of the page (frame of the entry).
    public var pa: UInt64
    /// 4096 or 2 MiB.
    public var size: UInt64
    /// RW bit set.
    public var writable: Bool
    /// NX bit clear.
    public var executable: Bool
    /// How many of its 4 KiB pages are in the dump (0 ... size / 4096).
    public var presentPages: Int
    /// True when every 4 KiB page of it is in the dump.
    public var present: Bool { presentPages == Int(size >> 12) }
}

/// What the generated file contains, independent of any reader: the tests' ground truth.
public struct GroundTruth: Sendable {
    /// Header version.
    public var version: UInt32
    /// Header kernbase.
    public var kernbase: UInt64
    /// Header dmapbase.
    public var dmapBase: UInt64
    /// Header dmapend.
    public var dmapEnd: UInt64
    /// Header msgbufsize (= ring size `msg_size`).
    public var msgbufSize: UInt32
    /// Header bitmapsize.
    public var bitmapSize: UInt32
    /// Header ptesize (v1) / pmapsize (v2, v3).
    public var pageTableMapSize: UInt32
    /// Header dumpavailsize (4096 for v3, 0 otherwise).
    public var dumpAvailSize: UInt32
    /// Offset of the msgbuf section (always 4096).
    public var msgbufOffset: UInt64
    /// Offset of the dump_avail section (v1/v2: equals `bitmapOffset`, the section is empty).
    public var dumpAvailOffset: UInt64
    /// Offset of the bitmap.
    public var bitmapOffset: UInt64
    /// Offset of the page-table map.
    public var pageTableMapOffset: UInt64
    /// Offset of the first data page.
    public var dataOffset: UInt64
    /// Actual file length (smaller than `completeFileSize` when truncated).
    public var fileSize: UInt64
    /// `dataOffset + 4096 * dumpedPages.count`.
    public var completeFileSize: UInt64
    /// dump_avail ranges (v1/v2: the RAM the bitmap was filled from; not in the file).
    public var physicalRanges: [Range<UInt64>]
    /// Sorted physical addresses of every dumped 4 KiB page (data page k holds `dumpedPages[k]`).
    public var dumpedPages: [UInt64]
    /// The page-table map section as entries (v1 PTEs, v2/v3 PDEs).
    public var pageTableMap: [UInt64]
    /// Sorted physical addresses of the page-table pages referenced by non-PS PDEs (v2/v3).
    public var pageTablePages: [UInt64]
    /// Sorted physical addresses of the pages dumped only for the direct map.
    public var directMapOnlyPages: [UInt64]
    /// Every valid kernel-map leaf, in VA order.
    public var kernelPages: [KernelPage]
    /// The last min(written, msg_size) bytes written to the msgbuf, oldest first (no dmesg filtering).
    public var messageText: [UInt8]
    /// Bytes from rseq to wseq (what kgdb calls the unread portion).
    public var unreadText: [UInt8]
    /// `msg_ptr`: the DMAP address of the ring.
    public var msgbufVirtualAddress: UInt64
    /// Physical address of the ring (the msgbuf's first page).
    public var msgbufPhysicalAddress: UInt64
    /// DMAP address of `struct msgbuf` (nil when the struct is absent).
    public var msgbufStructVirtualAddress: UInt64?
    /// State of the struct.
    public var msgbufStructState: MessageBufferDescription.StructState
    /// Bytes of the struct: 72, or 40 for the FreeBSD 7/8 layout.
    public var msgbufStructSize: Int = MessageBufferDescription.structSize
    /// `msg_wseq`.
    public var msgbufWriteSequence: UInt32
    /// `msg_rseq`.
    public var msgbufReadSequence: UInt32
    /// The overlays, as described.
    public var overlays: [Overlay]
    /// Whether ordinary data pages carry `pageStamp` bytes (else zeros).
    public var stampPages: Bool
    /// Full content of every page that is not a plain stamp: page tables, msgbuf, overlaid pages.
    var specialPages: [UInt64: [UInt8]]

    /// File offset of physical address `pa` if its page is dumped (even if truncation cut it off), else nil.
    public func fileOffset(ofPhysicalPage pa: UInt64) -> UInt64? {
        guard let k = rank(of: pa & ~0xfff) else { return nil }
        return dataOffset + UInt64(k) * 4096 + (pa & 0xfff)
    }

    /// Whether the page holding `pa` is dumped.
    public func isDumped(physicalPage pa: UInt64) -> Bool { rank(of: pa & ~0xfff) != nil }

    /// Index of data page `page` (page aligned), or nil if not dumped.
    func rank(of page: UInt64) -> Int? {
        var lo = 0, hi = dumpedPages.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if dumpedPages[mid] < page { lo = mid + 1 } else { hi = mid }
        }
        return lo < dumpedPages.count && dumpedPages[lo] == page ? lo : nil
    }

    /// The kernel-map page holding `va`, if mapped.
    public func kernelPage(containing va: UInt64) -> KernelPage? {
        var lo = 0, hi = kernelPages.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if kernelPages[mid].va <= va { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let page = kernelPages[lo - 1]
        return va - page.va < page.size ? page : nil
    }

    /// Physical address of `va` through the kernel map or the direct map; nil if unmapped.
    public func physicalAddress(ofVirtual va: UInt64) -> UInt64? {
        if let page = kernelPage(containing: va) { return page.pa + (va - page.va) }
        if va >= dmapBase && va < dmapEnd { return va - dmapBase }
        return nil
    }

    /// Expected content of the byte at `pa`; nil if its page is not dumped or lies past the end of a truncated file.
    public func byte(atPhysical pa: UInt64) -> UInt8? {
        guard let off = fileOffset(ofPhysicalPage: pa), off < fileSize else { return nil }
        return contentByte(pa)
    }

    /// Expected content of the dumped page holding `pa` (4096 bytes), ignoring truncation; nil if not dumped.
    public func page(atPhysical pa: UInt64) -> [UInt8]? {
        let page = pa & ~0xfff
        guard isDumped(physicalPage: page) else { return nil }
        return specialPages[page] ?? (0..<4096).map { stampPages ? pageStamp(physicalAddress: page, offset: $0) : 0 }
    }

    /// Expected result of reading `count` bytes at `va` (page by page, like kvm_read); nil if any byte is unreadable.
    public func bytes(atVirtual va: UInt64, count: Int) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for i in 0..<UInt64(count) {
            guard let pa = physicalAddress(ofVirtual: va + i), let b = byte(atPhysical: pa) else { return nil }
            out.append(b)
        }
        return out
    }

    func contentByte(_ pa: UInt64) -> UInt8 {
        let page = pa & ~0xfff
        if let special = specialPages[page] { return special[Int(pa & 0xfff)] }
        return stampPages ? pageStamp(physicalAddress: page, offset: Int(pa & 0xfff)) : 0
    }
}
