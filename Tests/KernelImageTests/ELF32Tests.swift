import KernelImage
import Testing
import VMCoreBuilder

/// ELF32 (i386) kernels: the generated fixture kernel read back field by field, and damaged
/// copies refused with errors naming the field, the value and the 32-bit structure.
@Suite struct ELF32Tests {
    /// Elf32_Shdr field offsets and the section indices of `makeKernelELF32` files.
    static let shAddr = 12, shOffset = 16, shSize = 20, shEntsize = 36
    static let text = 1, symtab = 4

    static let bytes = I386Fixture.kernelFile()
    static var shoff: Int { Int(readLE(bytes, 32, 4)) }
    static func sectionField(_ bytes: inout [UInt8], _ index: Int, _ field: Int, _ value: UInt64) {
        put(le(value, 4), at: shoff + 40 * index + field, in: &bytes)
    }

    func failure(_ bytes: [UInt8], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error = parseError(bytes) else {
            Issue.record("expected an error", sourceLocation: sourceLocation)
            return
        }
        for m in mentions {
            #expect(error.description.contains(m), "\(error.description) should mention \(m)", sourceLocation: sourceLocation)
        }
    }

    @Test func fixtureKernelReadsBack() throws {
        let kernel = try KernelImage(bytes: Self.bytes, name: "kernel.i386")
        #expect(kernel.elfClass == .elf32)
        #expect(kernel.machine == 3)
        #expect(kernel.osABI == 9)
        #expect(kernel.entry == I386Fixture.textBase)
        #expect(kernel.sections.map(\.name) == ["", ".text", ".data", ".bss", ".symtab", ".strtab", ".shstrtab"])
        #expect(kernel.sections[2].address == I386Fixture.dataBase)
        #expect(kernel.sections[4].entrySize == 16)
        #expect(kernel.segments.count == 3 && kernel.segments.allSatisfy(\.isLoad))
        #expect(kernel.segments[0].flags == 5 && kernel.segments[1].flags == 6)
        #expect(kernel.segments[2].virtualAddress == I386Fixture.bssBase && kernel.segments[2].fileSize == 0
                && kernel.segments[2].memorySize == 0x200)
        // Every symbol of the description, with its value, size, type, binding and section.
        let description = I386Fixture.kernelDescription()
        for s in description.symbols {
            let found = try #require(kernel.symbol(named: s.name))
            #expect(found.value == s.value && found.size == s.size, "\(s.name)")
            #expect(found.kind == Symbol.Kind(rawValue: s.type.rawValue) && found.binding == Symbol.Binding(rawValue: s.binding.rawValue), "\(s.name)")
            #expect(found.sectionIndex == s.section.rawValue, "\(s.name)")
        }
        #expect(kernel.symbols.count == description.symbols.count + 1)
        #expect(try kernel.readU32(at: kernel.symbol(named: "osreldate")!.value) == I386Fixture.osreldate)
        #expect(kernel.symbolize(I386Fixture.textBase + 0x125)?.symbol.name == "panic")
    }

    @Test func everyPrefixFailsCleanly() {
        for length in 0..<Self.bytes.count {
            #expect(parseError(Array(Self.bytes[0..<length])) != nil, "prefix of \(length) bytes parsed")
        }
    }

    @Test func headerSizesAreTheThirtyTwoBitOnes() {
        var b = Self.bytes
        put(le(64, 2), at: 46, in: &b)  // e_shentsize of ELF64
        failure(b, mentions: ["e_shentsize", "0x40", "expected 0x28 (sizeof Elf32_Shdr)"])
        b = Self.bytes
        put(le(56, 2), at: 42, in: &b)  // e_phentsize of ELF64
        failure(b, mentions: ["e_phentsize", "0x38", "expected 0x20 (sizeof Elf32_Phdr)"])
        b = Self.bytes
        Self.sectionField(&b, Self.symtab, Self.shEntsize, 24)
        failure(b, mentions: ["sh_entsize of section 4 (.symtab)", "0x18", "expected 0x10 (sizeof Elf32_Sym)"])
        b = Self.bytes
        Self.sectionField(&b, Self.symtab, Self.shSize, 17)
        failure(b, mentions: ["sh_size of section 4 (.symtab)", "not a multiple of 0x10 (sizeof Elf32_Sym)"])
    }

    @Test func offsetsAndSizesAreCheckedAgainstTheFile() {
        var b = Self.bytes
        put(le(0xffff_fff0, 4), at: 32, in: &b)  // e_shoff
        failure(b, mentions: ["section header table"])
        b = Self.bytes
        Self.sectionField(&b, Self.text, Self.shOffset, 0xffff_ff00)
        failure(b, mentions: ["section 1 (.text) contents"])
        b = Self.bytes
        put(le(0xffff_0000, 4), at: 52 + 16, in: &b)  // p_filesz of segment 0
        failure(b, mentions: ["PT_LOAD segment 0"])
    }

    /// An allocated section or segment must end within the 32-bit address space.
    @Test func addressesPastFourGiBAreRefused() {
        var b = Self.bytes
        Self.sectionField(&b, 3, Self.shAddr, 0xffff_ff00)  // .bss, 0x200 bytes
        failure(b, mentions: ["sh_size of section 3 (.bss)", "overflows"])
        b = Self.bytes
        put(le(0xffff_ff00, 4), at: 52 + 2 * 32 + 8, in: &b)  // p_vaddr of the .bss segment
        failure(b, mentions: ["p_memsz of segment 2", "overflows"])
    }

    @Test func symbolNamesOutsideTheStringTableAreRefused() {
        var b = Self.bytes
        let symtabOffset = Int(readLE(b, Self.shoff + 40 * Self.symtab + Self.shOffset, 4))
        put(le(0x7fff_0000, 4), at: symtabOffset + 16, in: &b)  // st_name of symbol 1
        failure(b, mentions: ["st_name of symbol 1", "0x7fff0000"])
    }

    /// Every single-byte change of the headers gives a kernel or an error, never a trap.
    @Test func everyHeaderByteFlipIsSurvived() {
        let headerEnd = 52 + 3 * 32
        for offset in Array(0..<headerEnd) + Array(Self.shoff..<Self.bytes.count) {
            for value: UInt8 in [0x00, 0xff, 0x80] {
                var b = Self.bytes
                b[offset] = value
                if let kernel = try? KernelImage(bytes: b, name: "k") { _ = kernel.symbols.count }
            }
        }
    }
}
