import CrashInfo
import KernelImage
import MinidumpCore
import Testing
import VMCoreBuilder

/// The kernel fixture, generated in memory: `vmcore.1` and `kernel.1` / `kernel.mismatch`.
enum Fixture {
    static let dump: Dump = {
        let generated = try! generateDump(KernelFixture.dumpDescription())
        return try! Dump(contents: generated.bytes, name: "vmcore.1")
    }()
    static let standardDump: Dump = {
        let generated = try! generateDump(.standard(version: 3, seed: 0))
        return try! Dump(contents: generated.bytes, name: "vmcore.0")
    }()
    static let kernel = try! KernelImage(bytes: makeKernelELF(KernelFixture.kernelDescription()), name: "kernel.1")
    static let mismatched = try! KernelImage(
        bytes: makeKernelELF(KernelFixture.kernelDescription(version: KernelFixture.mismatchedVersion)), name: "kernel.mismatch")
    static func address(_ name: String) -> UInt64 { kernel.symbol(named: name)!.value }
}

@Suite struct SymbolExpressionParsing {
    @Test(arguments: [
        ("hz", "hz"), ("&hz", "hz"), ("*panicstr", "*panicstr"), ("allproc+0x10", "allproc+0x10"),
        ("allproc + 16", "allproc+0x10"), ("*msgbufp+8", "*msgbufp+0x8"), ("*(allproc+0x10)", "*(allproc+0x10)"),
        ("0xFFFFfe00", "0xfffffe00"), ("42", "0x2a"), ("x-1+2", "x-0x1+0x2"), ("((hz))", "hz"), ("_a.b$c9", "_a.b$c9"),
        ("*&hz", "*hz"), ("\thz ", "hz"),
    ])
    func parsesToCanonicalForm(_ input: String, _ canonical: String) throws {
        #expect(try SymbolExpression.parse(input).description == canonical)
    }

    @Test(arguments: [
        ("", 0, "empty"), ("   ", 3, "empty"), ("hz+", 3, "expected a number after '+'"),
        ("hz+x", 3, "expected a number after '+'"), ("**msgbufp", 1, "only one '*' (dereference) is allowed"),
        ("*(*msgbufp)", 2, "only one '*' (dereference) is allowed"), ("&5", 1, "expected a symbol name after '&'"),
        ("&(hz)", 1, "expected a symbol name after '&'"), ("0x", 0, "expected hexadecimal digits after '0x'"),
        ("0x1ffffffffffffffff", 0, "number does not fit in 64 bits"), ("12ab", 0, "malformed number (use 0x... for hexadecimal)"),
        ("0x12zz", 0, "malformed hexadecimal number"), ("hz)", 2, "unbalanced ')'"), ("(hz", 3, "expected ')'"),
        ("hz junk", 3, "unexpected 'j'"), ("hz*2", 2, "unexpected '*'"), ("-hz", 0, "unexpected '-'"),
        ("((((((((((hz))))))))))", 8, "parentheses nested deeper than 8"), ("h\u{e9}", 1, "unexpected '\\xc3'"),
    ])
    func rejectsWithPosition(_ input: String, _ position: Int, _ reason: String) {
        #expect(throws: SymbolExpressionError.malformed(expression: input, position: position, reason: reason)) {
            try SymbolExpression.parse(input)
        }
    }

    @Test func rejectsOverlongInput() {
        let long = String(repeating: "a", count: SymbolExpression.maximumLength + 1)
        #expect(throws: SymbolExpressionError.self) { try SymbolExpression.parse(long) }
    }

    @Test func reportsSymbolsDereferenceAndConstants() throws {
        let e = try SymbolExpression.parse("*(msgbufp+8)-4")
        #expect(e.symbolNames == ["msgbufp"])
        #expect(e.dereferences)
        #expect(e.constantValue == nil)
        #expect(try SymbolExpression.parse("0x10+0x20-8").constantValue == 0x28)
        #expect(try SymbolExpression.parse("0-1").constantValue == nil)
    }
}

@Suite struct SymbolExpressionEvaluation {
    func eval(_ text: String, kernel: KernelImage? = Fixture.kernel, dump: Dump? = Fixture.dump) throws -> UInt64 {
        try SymbolExpression.parse(text).evaluate(kernel: kernel, dump: dump)
    }

    @Test func symbolsStandForTheirAddresses() throws {
        #expect(try eval("hz") == KernelFixture.bssBase + 0x120)
        #expect(try eval("&hz") == KernelFixture.bssBase + 0x120)
        #expect(try eval("hz+4") == Fixture.address("dumptid"))
        #expect(try eval("hz-0x120") == KernelFixture.bssBase)
        #expect(try eval("version") == KernelFixture.dataBase)
        #expect(try eval("0x1234", kernel: nil, dump: nil) == 0x1234)
    }

    @Test func dereferenceReadsThePointerFromTheDump() throws {
        #expect(try eval("*panicstr") == KernelFixture.panicStringAddress)
        #expect(try eval("*msgbufp") == KernelFixture.msgbufPointer)
        #expect(try eval("*msgbufp+8") == KernelFixture.msgbufPointer + 8)
        #expect(try eval("*(boottime+8)") == KernelFixture.bootTime.microseconds)
        #expect(try eval("*(0x\(String(Fixture.address("time_second"), radix: 16)))", kernel: nil) == KernelFixture.timeSecond)
    }

    @Test func errorsAreTyped() throws {
        #expect(throws: SymbolExpressionError.needsKernel(symbol: "hz")) { try eval("hz", kernel: nil) }
        #expect(throws: SymbolExpressionError.unknownSymbol(name: "nosuch", kernel: "kernel.1")) { try eval("nosuch+1") }
        #expect(throws: SymbolExpressionError.needsDump(expression: "*panicstr")) { try eval("*panicstr", dump: nil) }
        #expect(throws: SymbolExpressionError.outOfRange(expression: "0xffffffffffffffff+0x1", base: UInt64.max)) {
            try eval("0xffffffffffffffff+1")
        }
        // vmcore.0 does not map the kernel fixture's pages.
        do {
            _ = try eval("*panicstr", dump: Fixture.standardDump)
            Issue.record("expected a dereference failure")
        } catch let error as SymbolExpressionError {
            guard case .dereferenceFailed(let expression, let address, let translation) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(expression == "*panicstr")
            #expect(address == Fixture.address("panicstr"))
            #expect(translation.virtualAddress.rawValue == address)
            #expect(error.description.hasPrefix("cannot read the pointer for '*panicstr' at 0xfffffe0010002100: "))
        }
    }

    @Test func undefinedSymbolsHaveNoAddress() throws {
        var d = KernelFixture.kernelDescription()
        d.symbols.append(KernelELFSymbol(name: "extern_thing", value: 0, size: 0, type: .noType, section: .undefined))
        let kernel = try KernelImage(bytes: makeKernelELF(d), name: "k")
        #expect(throws: SymbolExpressionError.undefinedSymbol(name: "extern_thing", kernel: "k")) {
            try SymbolExpression.parse("extern_thing").evaluate(kernel: kernel, dump: nil)
        }
    }
}
