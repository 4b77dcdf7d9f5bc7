#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KernelImage
import Testing
import VMCoreBuilder

@Suite struct RoundTripTests {
    let image: KernelImage

    init() throws {
        image = try KernelImage(bytes: Sample.bytes, name: "kernel")
    }

    @Test func header() {
        #expect(image.machine == KernelImage.machineX86_64)
        #expect(image.fileType == 2)
        #expect(image.osABI == 9)
        #expect(image.entry == Sample.textBase)
        #expect(image.sections.map(\.name) == ["", ".text", ".data", ".bss", ".symtab", ".strtab", ".shstrtab"])
        let loads = image.segments.filter(\.isLoad)
        #expect(loads.map(\.virtualAddress) == [Sample.textBase, Sample.dataBase, Sample.bssBase])
        #expect(loads.map(\.fileSize) == [0x40, 0x80, 0])
        #expect(loads.map(\.memorySize) == [0x40, 0x80, 0x100])
        #expect(image.sections[3].type == Section.typeNoBits)
    }

    @Test func writerIsDeterministic() {
        #expect(makeKernelELF(Sample.description) == makeKernelELF(Sample.description))
    }

    @Test func symbolsByName() throws {
        for expected in Sample.symbols where expected.name != "dup" {
            let s = try #require(image.symbol(named: expected.name), "\(expected.name)")
            #expect(s.value == expected.value)
            #expect(s.size == expected.size)
            #expect(s.sectionIndex == expected.section.rawValue)
            #expect(s.isDynamic == false)
        }
        #expect(image.symbol(named: "panic")?.kind == .function)
        #expect(image.symbol(named: "hz")?.kind == .object)
        #expect(image.symbol(named: "panic_label")?.binding == .local)
        #expect(image.symbol(named: "hz")?.binding == .global)
        #expect(image.symbol(named: "ext_undef")?.isDefined == false)
        #expect(image.symbol(named: "nosuchsymbol") == nil)
        #expect(image.symbol(named: "") == nil)
        // The global "dup" wins over the local one.
        #expect(image.symbol(named: "dup")?.value == Sample.dataBase + 0x74)
        // The null entry plus every symbol; locals first, as ELF requires.
        #expect(image.symbols.count == Sample.symbols.count + 1)
        #expect(image.symbols[1].binding == .local)
    }

    @Test func symbolize() throws {
        let t = Sample.textBase, d = Sample.dataBase, b = Sample.bssBase
        func check(_ address: UInt64, _ name: String, _ offset: UInt64, sourceLocation: SourceLocation = #_sourceLocation) {
            let r = image.symbolize(address)
            #expect(r?.symbol.name == name, sourceLocation: sourceLocation)
            #expect(r?.offset == offset, sourceLocation: sourceLocation)
        }
        check(t, "btext", 0)  // not the absolute symbol at the same value
        check(t + 0xf, "btext", 0xf)
        check(t + 0x10, "panic", 0)
        check(t + 0x1c, "panic", 0xc)  // sized FUNC beats the nearer unsized local label
        check(t + 0x38, "panic_label", 0x20)  // past panic's end: the nearest symbol at or below
        check(d + 0x22, "version", 0x22)
        check(d + 0x46, "hz", 2)
        check(d + 0x76, "dup", 2)
        check(b + 9, "time_second", 1)
        check(b + 0x80, "allproc", 0x70)
        #expect(image.symbolize(t - 1) == nil)
        #expect(image.symbolize(0) == nil)
        #expect(image.symbolize(b + 0x100) == nil)  // past the end of .bss
        #expect(image.symbolize(UInt64.max) == nil)
        #expect(image.describe(t + 0x1c) == "panic+0xc")
        #expect(image.describe(d + 0x40) == "osreldate")
    }

    @Test func initialisedData() throws {
        #expect(try image.readU32(at: image.symbol(named: "osreldate")!.value) == Sample.osreldate)
        #expect(try image.readU32(at: Sample.dataBase + 0x44) == Sample.hz)
        #expect(try image.readU64(at: image.symbol(named: "msgbufp")!.value) == Sample.msgbufp)
        #expect(try image.initialisedBytes(at: Sample.textBase + 0x3e, count: 2) == [0xcc, 0xcc])
        #expect(try image.initialisedBytes(at: Sample.dataBase, count: 0x80) == Sample.data)
        #expect(try image.initialisedBytes(at: 0, count: 0) == [])
        #expect(try image.cString(at: Sample.dataBase, maxLength: 256) == Sample.version)
        #expect(try image.cString(at: Sample.dataBase + 0x50, maxLength: 32) == Sample.hostname)
        #expect(try image.cString(at: Sample.dataBase + 0x50, maxLength: Sample.hostname.utf8.count) == Sample.hostname)
        #expect(try image.cString(at: Sample.dataBase + 0x3f, maxLength: 0) == "")
    }

    @Test func bssIsNotInitialised() {
        let panicstr = image.symbol(named: "panicstr")!.value
        #expect(throws: KernelImageError.notInitialised(file: "kernel", address: panicstr, count: 8, region: ".bss")) {
            try image.readU64(at: panicstr)
        }
        do {
            _ = try image.cString(at: panicstr, maxLength: 10)
            Issue.record("expected .notInitialised")
        } catch {
            guard case .notInitialised(_, let address, _, let region) = error else {
                Issue.record("wrong error \(error)"); return
            }
            #expect(address == panicstr)
            #expect(region == ".bss")
            #expect(error.description.contains("0xffffffff81800000"))
            #expect(error.description.contains("not initialised"))
        }
    }

    @Test func readErrors() {
        let end = Sample.dataBase + 0x80
        #expect(throws: KernelImageError.unmappedAddress(file: "kernel", address: end - 2, count: 4)) {
            try image.readU32(at: end - 2)
        }
        #expect(throws: KernelImageError.unmappedAddress(file: "kernel", address: 0x1000, count: 1)) {
            try image.initialisedBytes(at: 0x1000, count: 1)
        }
        #expect(throws: KernelImageError.unmappedAddress(file: "kernel", address: UInt64.max, count: 8)) {
            try image.readU64(at: UInt64.max)
        }
        #expect(throws: KernelImageError.invalidArgument(file: "kernel", argument: "count", value: -1)) {
            try image.initialisedBytes(at: Sample.dataBase, count: -1)
        }
        #expect(throws: KernelImageError.invalidArgument(file: "kernel", argument: "maxLength", value: -5)) {
            try image.cString(at: Sample.dataBase, maxLength: -5)
        }
        #expect(throws: KernelImageError.stringTooLong(file: "kernel", address: Sample.dataBase, maxLength: 10)) {
            try image.cString(at: Sample.dataBase, maxLength: 10)
        }
        // 16 × 'A' up to the end of .data, then nothing mapped.
        #expect(throws: KernelImageError.unmappedAddress(file: "kernel", address: Sample.dataBase + 0x70, count: 17)) {
            try image.cString(at: Sample.dataBase + 0x70, maxLength: 100)
        }
        let e = KernelImageError.stringTooLong(file: "kernel", address: Sample.dataBase, maxLength: 10)
        #expect(e.description == "kernel: string at 0xffffffff81000000 has no NUL within 10 bytes")
    }

    @Test func stringRunningIntoBss() throws {
        // A .data segment whose p_memsz exceeds p_filesz: its tail is zero-filled memory with
        // no section naming it.
        var p = ELFPatcher()
        let dataSegment = 64 + 56
        p.set(dataSegment + 40, 0x100, 8)  // p_memsz of the .data segment: 0x80 → 0x100
        let image = try KernelImage(bytes: p.bytes, name: "kernel")
        #expect(throws: KernelImageError.notInitialised(file: "kernel", address: Sample.dataBase + 0x70, count: 17, region: "PT_LOAD segment 1")) {
            try image.cString(at: Sample.dataBase + 0x70, maxLength: 100)
        }
        #expect(throws: KernelImageError.notInitialised(file: "kernel", address: Sample.dataBase + 0x7c, count: 8, region: "PT_LOAD segment 1")) {
            try image.readU64(at: Sample.dataBase + 0x7c)
        }
    }

    @Test func manySymbols() throws {
        let n = 20_000
        var symbols: [KernelELFSymbol] = []
        for i in 0..<n {
            symbols.append(.init(name: "sym_\(i)", value: Sample.textBase + UInt64(i) * 16, size: 16,
                                 type: i % 2 == 0 ? .function : .object, section: .text))
        }
        let d = KernelELFDescription(symbols: symbols, textBase: Sample.textBase,
                                     text: [UInt8](repeating: 0x90, count: n * 16))
        let image = try KernelImage(bytes: makeKernelELF(d), name: "big")
        for i in stride(from: 0, to: n, by: 97) {
            #expect(image.symbol(named: "sym_\(i)")?.value == Sample.textBase + UInt64(i) * 16)
            let r = image.symbolize(Sample.textBase + UInt64(i) * 16 + 5)
            #expect(r?.symbol.name == "sym_\(i)")
            #expect(r?.offset == 5)
        }
    }
}

@Suite struct FileTests {
    @Test func openFromPath() throws {
        let result = withTemporaryFile(Sample.bytes) { path in
            Result { () throws(KernelImageError) -> (String, UInt32) in
                let image = try KernelImage(path: path)
                return (image.path, try image.readU32(at: image.symbol(named: "hz")!.value))
            }
        }
        let (path, hz) = try result.get()
        #expect(path.hasPrefix("/tmp/kernelimage-test-"))
        #expect(hz == Sample.hz)
    }

    @Test func emptyFile() {
        let error = withTemporaryFile([]) { path in
            Result { () throws(KernelImageError) in _ = try KernelImage(path: path) }
        }
        guard case .failure(.badMagic(_, let found)) = error else {
            Issue.record("expected badMagic, got \(error)"); return
        }
        #expect(found == [])
    }

    @Test func missingFile() {
        #expect(throws: KernelImageError.openFailed(file: "/nonexistent/kernel", errno: ENOENT)) {
            try KernelImage(path: "/nonexistent/kernel")
        }
        let e = KernelImageError.openFailed(file: "/nonexistent/kernel", errno: ENOENT)
        #expect(e.description.hasPrefix("/nonexistent/kernel: cannot open"))
    }

    @Test func directory() {
        do {
            _ = try KernelImage(path: "/tmp")
            Issue.record("expected an error")
        } catch {
            guard case .notARegularFile(let file, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(file == "/tmp")
        }
    }
}
