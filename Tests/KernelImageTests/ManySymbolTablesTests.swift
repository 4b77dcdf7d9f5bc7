import KernelImage
import Testing

/// A minimal ELF64 kernel image with `tables` - 2 SHT_SYMTAB sections, all naming the same one
/// symbol `hz` (and the one string table, section 1). Extended section numbering past 0xff00.
private func imageWithManySymbolTables(_ tables: Int) -> [UInt8] {
    var b: [UInt8] = []
    func u16(_ v: UInt64) { for i in 0..<2 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    func u32(_ v: UInt64) { for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    func u64(_ v: UInt64) { for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    let extended = tables >= 0xff00
    b += [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 9] + [UInt8](repeating: 0, count: 8)
    u16(2); u16(62); u32(1); u64(0); u64(0); u64(96); u32(0)
    u16(64); u16(0); u16(0); u16(64); u16(extended ? 0 : UInt64(tables)); u16(0)
    b += Array("\0hz\0\0\0\0\0".utf8)                                   // string table at 64
    u32(1); b += [0x11, 0]; u16(1); u64(0xffff_ffff_8100_0000); u64(4)  // the symbol at 72
    func section(type: UInt64, offset: UInt64, size: UInt64, link: UInt64, entrySize: UInt64) {
        u32(0); u32(type); u64(0); u64(0); u64(offset); u64(size); u32(link); u32(0); u64(8); u64(entrySize)
    }
    section(type: 0, offset: 0, size: extended ? UInt64(tables) : 0, link: 0, entrySize: 0)
    section(type: 3, offset: 64, size: 8, link: 0, entrySize: 0)
    for _ in 2..<tables { section(type: 2, offset: 72, size: 24, link: 1, entrySize: 24) }
    return b
}

@Suite struct ManySymbolTablesTests {
    /// Finding (issue 17): symbols were stored with a reservation per table (`reserveCapacity`
    /// of the exact new count), which reallocates every time: 256 K one-symbol tables took 6.6 s
    /// in a release build (seen with the release build before the fix; 1 M took minutes). Tables
    /// are now counted first and capped, so this image is refused before any table is decoded (no timing
    /// here: speed is `make bench`'s job; the count in the error shows the cap was applied first).
    @Test func an256KTableImageIsRefusedAtOnce() {
        let bytes = imageWithManySymbolTables(256 * 1024)
        do {
            _ = try KernelImage(bytes: bytes, name: "kernel")
            Issue.record("an image with 256 K symbol tables was accepted")
        } catch {
            #expect(error == .limitExceeded(file: "kernel", what: "symbol tables (SHT_SYMTAB and SHT_DYNSYM sections)",
                                            count: 256 * 1024 - 2, limit: 1024))
            #expect(error.description
                == "kernel: 262142 symbol tables (SHT_SYMTAB and SHT_DYNSYM sections), more than the 1024 a kernel image may have")
        }
    }

    /// Up to the cap, every table is read.
    @Test func tablesUpToTheCapParse() throws {
        let image = try KernelImage(bytes: imageWithManySymbolTables(1024 + 2), name: "kernel")
        #expect(image.symbols.count == 1024)
        #expect(image.symbol(named: "hz")?.value == 0xffff_ffff_8100_0000)
        #expect(throws: KernelImageError.self) { try KernelImage(bytes: imageWithManySymbolTables(1024 + 3), name: "kernel") }
    }
}
