extension GroundTruth {
    /// A human-readable account of the file: header, sections, RAM, kernel-map runs, special pages, msgbuf, overlays.
    /// Runs and page lists longer than `limit` entries are cut short with a count of what was left out.
    public func summary(limit: Int = 64) -> String {
        var out: [String] = []
        func list<T>(_ items: [T], _ line: (T) -> String) {
            for item in items.prefix(limit) { out.append(line(item)) }
            if items.count > limit { out.append("  ... \(items.count - limit) more") }
        }
        out.append("amd64 minidump version \(version)")
        out.append("header: msgbufsize \(msgbufSize), bitmapsize \(bitmapSize), \(version == 1 ? "ptesize" : "pmapsize") \(pageTableMapSize), dumpavailsize \(dumpAvailSize)")
        out.append("kernbase \(hex(kernbase)), dmap [\(hex(dmapBase)), \(hex(dmapEnd)))")
        out.append("offsets: msgbuf \(hex(msgbufOffset)), dump_avail \(hex(dumpAvailOffset)), bitmap \(hex(bitmapOffset)), page-table map \(hex(pageTableMapOffset)), data \(hex(dataOffset))")
        let cut = fileSize < completeFileSize ? " (truncated; complete size \(completeFileSize))" : ""
        out.append("file size \(fileSize)\(cut); \(dumpedPages.count) data pages; data pages \(stampPages ? "stamped" : "zero (holes)")")
        if dumpedPages.count <= limit {
            out.append("data pages in file order (index: pa): " + dumpedPages.enumerated().map { "\($0): \(hex($1))" }.joined(separator: ", "))
        }
        if fileSize < completeFileSize && fileSize > dataOffset {
            let whole = Int((fileSize - dataOffset) / 4096), rest = (fileSize - dataOffset) % 4096
            out.append("truncation: data pages 0..<\(whole) complete; page \(whole) (pa \(hex(dumpedPages[whole]))) has only \(rest) bytes; pages \(whole + 1)... missing")
        }
        out.append("physical ranges:")
        list(physicalRanges) { "  [\(hex($0.lowerBound)), \(hex($0.upperBound)))" }
        out.append("kernel map (runs of VA- and PA-contiguous pages with equal attributes):")
        list(kernelRuns()) { r in
            let size = r.first.size == 4096 ? "4K" : "2M"
            let attrs = (r.first.writable ? "rw" : "r-") + (r.first.executable ? "x" : "-")
            return "  va [\(hex(r.first.va)), \(hex(r.first.va + r.length))) -> pa \(hex(r.first.pa)) \(size) x\(r.length / r.first.size) \(attrs) present \(r.present)/\(r.length >> 12)"
        }
        out.append("page-table pages: " + (pageTablePages.isEmpty ? "none (v1 has no PDEs)" : pageTablePages.prefix(limit).map(hex).joined(separator: " ")))
        out.append("direct-map-only pages: " + directMapOnlyPages.prefix(limit).map(hex).joined(separator: " "))
        out.append("msgbuf: ring pa \(hex(msgbufPhysicalAddress)) va \(hex(msgbufVirtualAddress)), msg_size \(msgbufSize), struct \(msgbufStructState.rawValue)\(msgbufStructSize == 72 ? "" : " (\(msgbufStructSize) bytes)")\(msgbufStructVirtualAddress.map { " at va " + hex($0) } ?? "")")
        out.append("msgbuf: wseq \(msgbufWriteSequence) rseq \(msgbufReadSequence), wpos \(msgbufWriteSequence % msgbufSize) rpos \(msgbufReadSequence % msgbufSize), text \(messageText.count) bytes, unread \(unreadText.count) bytes")
        out.append("overlays:")
        list(overlays) { o in
            let pa = physicalAddress(ofVirtual: o.va).map(hex) ?? "?"
            let text = String(decoding: o.bytes.prefix { $0 != 0 }, as: UTF8.self)
            return "  va \(hex(o.va)) (pa \(pa)), \(o.bytes.count) bytes: \"\(text)\"\(o.bytes.last == 0 ? " + NUL" : "")"
        }
        return out.joined(separator: "\n") + "\n"
    }

    private func kernelRuns() -> [(first: KernelPage, length: UInt64, present: Int)] {
        var runs: [(first: KernelPage, length: UInt64, present: Int)] = []
        for p in kernelPages {
            if let last = runs.last, last.first.size == p.size, last.first.va + last.length == p.va,
               last.first.pa + last.length == p.pa, last.first.writable == p.writable,
               last.first.executable == p.executable {
                runs[runs.count - 1].length += p.size
                runs[runs.count - 1].present += p.presentPages
            } else {
                runs.append((p, p.size, p.presentPages))
            }
        }
        return runs
    }
}
