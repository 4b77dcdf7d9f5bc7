/// libFuzzer entry point: opens arbitrary bytes as a dump and exercises everything that reads it.
/// Built by `make fuzz-build` together with the MinidumpCore sources (not part of the package).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMinidump(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let dump = try? Dump(contents: bytes, name: "fuzz") else { return 0 }
    _ = dump.messageBuffer().dmesg(all: true)
    _ = dump.statistics()
    var budget = 4096
    dump.forEachKernelPage { page in
        _ = try? dump.translate(page.virtualAddress)
        _ = dump.read(VirtualAddress(page.virtualAddress.rawValue &+ 0xffc), count: 16)
        budget -= 1
        return budget > 0
    }
    budget = 4096
    dump.forEachDirectMapOnlyPage { pa, _ in
        _ = dump.read(VirtualAddress(dump.header.directMapBase.rawValue &+ pa.rawValue &+ 0xff8), count: 24)
        budget -= 1
        return budget > 0
    }
    // Addresses derived from the input itself: every 8-byte word near the end, as a VA.
    var offset = max(0, size - 512)
    while offset + 8 <= size {
        var word: UInt64 = 0
        for i in 0..<8 { word |= UInt64(data[offset + i]) << (8 * UInt64(i)) }
        _ = try? dump.translate(VirtualAddress(word))
        _ = dump.read(VirtualAddress(word), count: 5000)
        offset += 8
    }
    for range in dump.physicalRanges {
        _ = dump.fileOffset(ofPhysical: range.start)
        _ = dump.physicalPage(PhysicalAddress(range.end.rawValue &- 1))
    }
    return 0
}
