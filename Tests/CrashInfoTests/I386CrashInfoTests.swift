import CrashInfo
import KernelImage
import MinidumpCore
import Testing
import VMCoreBuilder

/// The crash summary and symbol expressions on i386 dumps: pointers, `long` and `time_t` are
/// 4 bytes, read from the ELF32 fixture kernel's symbols.
@Suite struct I386CrashInfoTests {
    static let kernel = try! KernelImage(bytes: I386Fixture.kernelFile(), name: "kernel.i386")

    static func dump(_ version: UInt32, _ pae: Bool) throws -> Dump {
        try Dump(contents: generateI386Dump(I386Fixture.description(version: version, pae: pae)).bytes, name: "vmcore.i386")
    }

    @Test(arguments: [(UInt32(1), false), (2, true)])
    func summaryReadsThirtyTwoBitVariables(version: UInt32, pae: Bool) throws {
        let s = CrashSummary(dump: try Self.dump(version, pae), kernel: Self.kernel, info: nil, infoPath: nil, infoNote: nil)
        #expect(s.panicString == .found("page fault", .kernel, "panicstr"))
        #expect(s.kernelMatches == true)
        #expect(s.hostname.value == I386Fixture.hostname)
        #expect(s.osreldate.value == Int64(I386Fixture.osreldate))
        #expect(s.hz.value == Int64(I386Fixture.hz))
        #expect(s.bootTime.value == TimeValue(seconds: Int64(I386Fixture.bootTime.seconds), microseconds: Int64(I386Fixture.bootTime.microseconds)))
        #expect(s.dumpTime.value == Int64(I386Fixture.timeSecond))
        #expect(s.uptime == .found(Int64(I386Fixture.timeUptime), .kernel))
        #expect(s.dumpThreadID.value == Int64(I386Fixture.dumpThreadID))
        #expect(s.messageBuffer.origin == .msgbufp(pointer: I386Fixture.msgbufPointer))
        #expect(s.messageTail.last == "Dumping 1 out of 5 MB:..100%")
        #expect(s.warnings.isEmpty)
    }

    /// `*msgbufp` reads the 4-byte pointer: with 8 bytes it would take `boottime`'s low bytes too.
    @Test func dereferenceReadsFourBytes() throws {
        let dump = try Self.dump(2, true)
        let value = try SymbolExpression.parse("*msgbufp").evaluate(kernel: Self.kernel, dump: dump)
        #expect(value == I386Fixture.msgbufPointer)
        let offset = try SymbolExpression.parse("*(msgbufp+4)").evaluate(kernel: Self.kernel, dump: dump)
        #expect(offset == UInt64(I386Fixture.bootTime.seconds))
    }

    @Test func machineMatchesEM386() throws {
        #expect(machineMismatch(kernel: Self.kernel, dump: try Self.dump(1, false)) == nil)
        let amd64 = try KernelImage(bytes: makeKernelELF(KernelFixture.kernelDescription()), name: "kernel.1")
        #expect(machineMismatch(kernel: amd64, dump: try Self.dump(1, false))?.contains("machine 62") == true)
    }
}
