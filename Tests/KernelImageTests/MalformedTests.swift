import KernelImage
import Testing
import VMCoreBuilder

/// Section indices and header field offsets of files from `makeKernelELF`.
private let text = 1, symtab = 4, strtab = 5, shstrtab = 6
private let shName = 0, shOffset = 24, shSize = 32, shLink = 40, shEntsize = 56

/// Asserts that parsing fails, that the description starts with the file name and
/// mentions every string in `mentions`; returns the error for further matching.
@discardableResult
private func expectFailure(_ bytes: [UInt8], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) -> KernelImageError? {
    guard let error = parseError(bytes) else {
        Issue.record("expected an error", sourceLocation: sourceLocation)
        return nil
    }
    #expect(error.description.hasPrefix("kernel: "), sourceLocation: sourceLocation)
    for m in mentions {
        #expect(error.description.contains(m), "\(error.description) should mention \(m)", sourceLocation: sourceLocation)
    }
    return error
}

@Suite struct MalformedTests {
    @Test func everyPrefixFailsCleanly() {
        let bytes = Sample.bytes
        for length in 0..<bytes.count {
            // The section header table is last, so every proper prefix is truncated somewhere.
            let error = parseError(Array(bytes[0..<length]), name: "kernel")
            #expect(error != nil, "prefix of \(length) bytes parsed")
            #expect(error?.description.hasPrefix("kernel: ") ?? false)
        }
        #expect(parseError(bytes) == nil)
    }

    @Test func everyPrefixWithIntactSectionHeadersIsHandled() {
        // Cut the contents at every length but re-append the section header table, so the
        // checks on each table and segment (not just the header table) meet the short file.
        let bytes = Sample.bytes
        let p = ELFPatcher(bytes)
        let table = Array(bytes[p.shoff...])
        var failed = 0
        for length in 64..<p.shoff {
            var b = Array(bytes[0..<length])
            while b.count % 8 != 0 { b.append(0) }
            let newOffset = UInt64(b.count)
            b += table
            put(le(newOffset, 8), at: 40, in: &b)
            do {
                let image = try KernelImage(bytes: b, name: "kernel")
                _ = image.symbolize(Sample.textBase + 0x1c)
                _ = try? image.cString(at: Sample.dataBase, maxLength: 256)
            } catch {
                failed += 1
                #expect(error.description.hasPrefix("kernel: "))
            }
        }
        // Cuts inside the contents fail; the bytes now at those offsets belong to the
        // re-appended table, so a few cuts near the end may still parse.
        #expect(failed > (p.shoff - 64) / 2)
    }

    @Test func everySingleByteCorruptionIsHandled() throws {
        // Flip bytes throughout the headers and tables: each must parse or fail, never trap.
        let bytes = Sample.bytes
        var parsed = 0, failed = 0
        for offset in 0..<bytes.count {
            for value: UInt8 in [0x00, 0xff, bytes[offset] ^ 0x80] {
                var b = bytes
                b[offset] = value
                if let image = try? KernelImage(bytes: b, name: "kernel") {
                    parsed += 1
                    _ = image.symbolize(Sample.dataBase + 4)
                    _ = try? image.cString(at: Sample.dataBase, maxLength: 64)
                } else {
                    failed += 1
                }
            }
        }
        #expect(parsed > 0 && failed > 0)
    }

    @Test func badMagic() {
        var b = Sample.bytes
        b[1] = 0x45 ^ 0x20
        let e = expectFailure(b, mentions: ["magic 7f 65 4c 46"])
        #expect(e == .badMagic(file: "kernel", found: [0x7f, 0x65, 0x4c, 0x46]))
        expectFailure([0x7f, 0x45], mentions: ["not an ELF file", "7f 45"])
    }

    @Test func wrongClass() {
        var b = Sample.bytes
        b[4] = 3
        #expect(expectFailure(b, mentions: ["EI_CLASS is 3", "ELFCLASS64", "ELFCLASS32"]) == .unsupportedClass(file: "kernel", value: 3))
        // An ELF64 body labelled ELFCLASS32 is read with the 32-bit layout and refused on its header sizes.
        b[4] = 1
        expectFailure(b, mentions: ["Elf32"])
    }

    @Test func wrongByteOrder() {
        var b = Sample.bytes
        b[5] = 2
        #expect(expectFailure(b, mentions: ["EI_DATA is 2", "ELFDATA2LSB"]) == .unsupportedByteOrder(file: "kernel", value: 2))
    }

    @Test func wrongIdentVersion() {
        var b = Sample.bytes
        b[6] = 0
        expectFailure(b, mentions: ["EI_VERSION is 0x0"])
    }

    @Test func badSectionHeaderOffset() {
        var p = ELFPatcher()
        let size = UInt64(p.bytes.count)
        p.set(40, 0x1234, 8)
        let e = expectFailure(p.bytes, mentions: ["section header table at 0x1234 + 64 × 7 runs past the end of the file (0x\(String(size, radix: 16)))"])
        #expect(e == .truncated(file: "kernel", what: "section header table", offset: 0x1234, entrySize: 64, count: 7, fileSize: size))
        p.set(40, UInt64.max - 8, 8)
        expectFailure(p.bytes, mentions: ["section header table at 0xfffffffffffffff7"])
    }

    @Test func hugeSectionCount() {
        var p = ELFPatcher()
        p.set(60, 0xfeff, 2)
        expectFailure(p.bytes, mentions: ["section header table", "64 × 65279"])
    }

    @Test func extendedSectionNumbering() throws {
        var p = ELFPatcher()
        p.set(60, 0, 2)  // e_shnum 0: the count is section 0's sh_size
        p.setSection(0, shSize, 7, 8)
        p.set(62, 0xffff, 2)  // e_shstrndx SHN_XINDEX: the index is section 0's sh_link
        p.setSection(0, shLink, 6, 4)
        let image = try KernelImage(bytes: p.bytes, name: "kernel")
        #expect(image.sections.count == 7)
        #expect(image.sections[6].name == ".shstrtab")
        #expect(image.symbol(named: "hz") != nil)

        p.setSection(0, shSize, 1 << 58, 8)
        expectFailure(p.bytes, mentions: ["section header table", "64 × 288230376151711744"])
    }

    @Test func badSectionHeaderEntrySize() {
        var p = ELFPatcher()
        p.set(58, 32, 2)
        expectFailure(p.bytes, mentions: ["e_shentsize is 0x20"])
    }

    @Test func badSectionNameIndex() {
        var p = ELFPatcher()
        p.set(62, 50, 2)
        expectFailure(p.bytes, mentions: ["e_shstrndx is 0x32", "only 7 sections"])
        p.set(62, UInt64(text), 2)
        expectFailure(p.bytes, mentions: ["e_shstrndx is 0x1", "not SHT_STRTAB"])
    }

    @Test func sectionNameOutOfBounds() {
        var p = ELFPatcher()
        p.setSection(2, shName, 0x9999, 4)
        let e = expectFailure(p.bytes, mentions: ["sh_name of section 2", "0x9999"])
        guard case .nameOutOfBounds = e else { Issue.record("wrong error \(String(describing: e))"); return }
    }

    @Test func symtabOutsideFile() {
        var p = ELFPatcher()
        let size = UInt64(p.bytes.count)
        let symtabSize = p.sectionField(symtab, shSize, 8)
        p.setSection(symtab, shOffset, size - 8, 8)
        let e = expectFailure(p.bytes, mentions: ["symbol table 4 (.symtab) at 0x\(String(size - 8, radix: 16))", "24 × \(symtabSize / 24)"])
        guard case .truncated = e else { Issue.record("wrong error \(String(describing: e))"); return }

        var q = ELFPatcher()
        q.setSection(symtab, shSize, 24 << 58, 8)  // product overflows 64 bits
        expectFailure(q.bytes, mentions: ["symbol table 4 (.symtab)", "24 × 288230376151711744"])

        var r = ELFPatcher()
        r.setSection(symtab, shSize, symtabSize + 5, 8)
        expectFailure(r.bytes, mentions: ["sh_size of section 4 (.symtab)", "not a multiple of 0x18"])

        var s = ELFPatcher()
        s.setSection(symtab, shEntsize, 16, 8)
        expectFailure(s.bytes, mentions: ["sh_entsize of section 4 (.symtab) is 0x10"])
    }

    @Test func symtabLinkToNonStringTable() {
        var p = ELFPatcher()
        p.setSection(symtab, shLink, UInt64(text), 4)
        let e = expectFailure(p.bytes, mentions: ["section 4 (.symtab) has sh_link 1", "1 (.text) has sh_type 1", "not SHT_STRTAB"])
        guard case .badLink = e else { Issue.record("wrong error \(String(describing: e))"); return }
        p.setSection(symtab, shLink, 99, 4)
        expectFailure(p.bytes, mentions: ["sh_link 99", "only 7 sections"])
    }

    @Test func stringTableOutsideFile() {
        var p = ELFPatcher()
        p.setSection(strtab, shSize, 1 << 40, 8)
        expectFailure(p.bytes, mentions: ["string table 5 (.strtab)", "+ 1099511627776"])
    }

    @Test func symbolNamePastStringTable() {
        var p = ELFPatcher()
        let strtabSize = p.sectionField(strtab, shSize, 8)
        let entry = Int(p.sectionField(symtab, shOffset, 8)) + 24 * 3
        p.set(entry, 0x7777, 4)
        let e = expectFailure(p.bytes, mentions: ["st_name of symbol 3 in 4 (.symtab)", "0x7777", "0x\(String(strtabSize, radix: 16)) bytes"])
        guard case .nameOutOfBounds = e else { Issue.record("wrong error \(String(describing: e))"); return }
    }

    @Test func unterminatedName() {
        var p = ELFPatcher()
        let strtabSize = p.sectionField(strtab, shSize, 8)
        p.setSection(strtab, shSize, strtabSize - 1, 8)  // drops the last name's NUL
        let e = expectFailure(p.bytes, mentions: ["string table 5 (.strtab)", "not NUL-terminated"])
        guard case .unterminatedName = e else { Issue.record("wrong error \(String(describing: e))"); return }
    }

    @Test func badSegments() {
        let dataSegment = 64 + 56
        var p = ELFPatcher()
        p.set(dataSegment + 8, 0x10_0000, 8)  // p_offset past the end
        expectFailure(p.bytes, mentions: ["PT_LOAD segment 1 contents at 0x100000 + 128"])

        var q = ELFPatcher()
        q.set(dataSegment + 40, 0x10, 8)  // p_memsz < p_filesz
        expectFailure(q.bytes, mentions: ["p_filesz of segment 1 is 0x80", "larger than p_memsz 0x10"])

        var r = ELFPatcher()
        r.set(54, 32, 2)
        expectFailure(r.bytes, mentions: ["e_phentsize is 0x20"])

        var s = ELFPatcher()
        s.set(56, 0xfff0, 2)
        expectFailure(s.bytes, mentions: ["program header table at 0x40 + 56 × 65520"])
    }

    @Test func allocatedSectionOutsideFile() {
        var p = ELFPatcher()
        p.setSection(2, shOffset, UInt64.max, 8)
        expectFailure(p.bytes, mentions: ["section 2 (.data) contents at 0xffffffffffffffff"])
    }

    @Test func overlappingSymbolTables() {
        // Sections 1-3 rewritten as copies of .symtab: together they exceed the file.
        var p = ELFPatcher()
        for i in 1...3 {
            for (field, width) in [(4, 4), (24, 8), (32, 8), (40, 4), (56, 8)] {
                p.setSection(i, field, p.sectionField(symtab, field, width), width)
            }
        }
        expectFailure(p.bytes, mentions: ["sh_size of section", "symbol tables together exceed the file size"])
    }

    @Test func overlappingLongNames() {
        // Thousands of symbols naming successive offsets inside one 5000-byte name: decoding
        // stops at the budget instead of copying megabytes.
        var symbols = [KernelELFSymbol(name: String(repeating: "a", count: 5000), value: Sample.textBase, size: 0,
                                       type: .noType, section: .text)]
        for _ in 0..<3000 {
            symbols.append(.init(name: "", value: Sample.textBase, size: 0, type: .noType, section: .text))
        }
        var p = ELFPatcher(makeKernelELF(KernelELFDescription(symbols: symbols, text: [0])))
        let table = Int(p.sectionField(symtab, shOffset, 8))
        for k in 2...3001 { p.set(table + 24 * k, UInt64(k), 4) }
        let e = expectFailure(p.bytes, mentions: ["names in string table 5 (.strtab) exceed"])
        guard case .namesTooLarge = e else { Issue.record("wrong error \(String(describing: e))"); return }
    }

    @Test func dynamicSymbolTable() throws {
        var p = ELFPatcher()
        p.setSection(symtab, 4, 11, 4)  // sh_type SHT_DYNSYM
        let image = try KernelImage(bytes: p.bytes, name: "kernel")
        #expect(image.symbol(named: "hz")?.isDynamic == true)
        #expect(image.symbolize(Sample.dataBase + 0x45)?.symbol.name == "hz")
    }

    @Test func bssNeedsNoFileBytes() throws {
        var p = ELFPatcher()
        p.setSection(3, shOffset, UInt64.max, 8)  // SHT_NOBITS: sh_offset is not used
        #expect(try KernelImage(bytes: p.bytes, name: "kernel").sections[3].size == 0x100)
    }
}
