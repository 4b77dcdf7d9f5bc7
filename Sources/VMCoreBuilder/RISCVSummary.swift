extension RISCVGroundTruth {
    /// A human-readable account of a riscv dump: header, sections, RAM, kernel-map runs, msgbuf, overlays.
    public func summary(limit: Int = 64) -> String {
        var out: [String] = []
        out.append("riscv minidump version \(version)")
        out.append("header: msgbufsize \(msgbufSize), bitmapsize \(bitmapSize), pmapsize \(pmapSize)"
                   + (version >= 2 ? ", dumpavailsize \(dumpAvailSize)" : " (no dumpavailsize before v2)"))
        out.append("kernbase \(hex(kernbase)), dmapphys \(hex(dmapPhys)), dmap [\(hex(dmapBase)), \(hex(dmapEnd))); DMAP VA = dmapbase + PA - dmapphys")
        out.append("offsets: msgbuf \(hex(msgbufOffset)), dump_avail \(hex(dumpAvailOffset)), bitmap \(hex(bitmapOffset)), pmap \(hex(pmapOffset)), data \(hex(dataOffset))")
        out.append("file size \(fileSize); \(dumpedPages.count) data pages")
        if dumpedPages.count <= limit {
            out.append("data pages in file order (index: pa): " + dumpedPages.enumerated().map { "\($0): \(hex($1))" }.joined(separator: ", "))
        }
        out.append("physical ranges:")
        for r in physicalRanges { out.append("  [\(hex(r.lowerBound)), \(hex(r.upperBound)))") }
        out.append("kernel map (L3 leaves, runs of VA- and PA-contiguous 4K pages with equal attributes):")
        var runs: [(first: KernelPage, count: UInt64, present: Int)] = []
        for p in kernelPages {
            if let last = runs.last, last.first.va + last.count << 12 == p.va, last.first.pa + last.count << 12 == p.pa,
               last.first.writable == p.writable, last.first.executable == p.executable {
                runs[runs.count - 1].count += 1
                runs[runs.count - 1].present += p.presentPages
            } else {
                runs.append((p, 1, p.presentPages))
            }
        }
        for r in runs.prefix(limit) {
            let attrs = "r" + (r.first.writable ? "w" : "-") + (r.first.executable ? "x" : "-")
            out.append("  va [\(hex(r.first.va)), \(hex(r.first.va + r.count << 12))) -> pa \(hex(r.first.pa)) 4K x\(r.count) \(attrs) present \(r.present)/\(r.count)")
        }
        let odd = pmap.enumerated().filter { $0.element != 0 && ($0.element & 1 == 0 || $0.element & 0xe == 0) }
        out.append("entries that are not leaves: " + odd.map { "va \(hex(kernbase + UInt64($0.offset) << 12)) = \(hex($0.element))" }.joined(separator: ", "))
        let reserved = pmap.enumerated().filter { $0.element & RISCVEntryBits.reservedHigh != 0 }
        out.append("leaves with reserved bits 63-54 set: " + reserved.map { "va \(hex(kernbase + UInt64($0.offset) << 12)) = \(hex($0.element))" }.joined(separator: ", "))
        out.append("direct-map-only pages: " + directMapOnlyPages.prefix(limit).map(hex).joined(separator: " "))
        out.append("msgbuf: ring pa \(hex(msgbufPhysicalAddress)) va \(hex(msgbufVirtualAddress)), msg_size \(msgbufSize)\(msgbufStructVirtualAddress.map { ", struct at va " + hex($0) } ?? ", no struct"), text \(messageText.count) bytes, unread \(unreadText.count) bytes")
        out.append("overlays:")
        for o in overlays.prefix(limit) {
            let pa = physicalAddress(ofVirtual: o.va).map(hex) ?? "?"
            let text = String(decoding: o.bytes.prefix(48).prefix { $0 != 0 }.map { $0 >= 0x20 && $0 < 0x7f ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
            out.append("  va \(hex(o.va)) (pa \(pa)), \(o.bytes.count) bytes: \"\(text)\"")
        }
        return out.joined(separator: "\n") + "\n"
    }
}
