import CrashInfo
import KernelImage
import MinidumpCore
import Testing
import VMCoreBuilder

/// The arm64 kernel fixture with its dumps: machine check, the variables `info` reads, and the
/// warning for a page-table map shorter than kernel_vm_end.
@Suite struct ARM64KernelTests {
    static let kernel = try! KernelImage(bytes: makeKernelELF(ARM64Fixture.kernelDescription()), name: "kernel.arm64")

    @Test(arguments: [(UInt32(3), ARM64DumpDescription.Granule.size16K), (2, .size4K), (1, .size4K)])
    func variablesReadThroughTheKernelsSymbols(_ version: UInt32, _ granule: ARM64DumpDescription.Granule) throws {
        let generated = try generateARM64Dump(ARM64Fixture.description(version: version, granule: granule))
        let dump = try Dump(contents: generated.bytes, name: "arm64")
        let kernel = Self.kernel
        #expect(kernel.machine == 183 && machineMismatch(kernel: kernel, dump: dump) == nil)
        #expect(kernelWarnings(kernel: kernel, dump: dump).isEmpty)
        let memory = KernelMemory(kernel: kernel, dump: dump)
        #expect(try memory.u64("kernel_vm_end") == generated.truth.kernelVMEnd)
        #expect(try memory.u64("msgbufp") == generated.truth.msgbufStructVirtualAddress)
        let panic = try #require(try memory.stringPointer("panicstr"))
        #expect(panic == Array(ARM64Fixture.panicString.utf8))
        #expect(versionMatch(kernel: kernel, dump: dump).matches == true)
    }

    @Test func aMapShorterThanKernelVMEndIsReportedWithTheKernel() throws {
        let generated = try generateARM64Dump(ARM64Fixture.description(version: 3, granule: .size16K))
        let short = try #require(corrupt(generated, .shortL3Map))
        let dump = try Dump(contents: short, name: "short")
        let t = generated.truth
        let mapEnd = t.kernbase + UInt64(t.l3Map.count - 2048) * 0x4000
        let warning = try #require(kernelMapShortfall(kernel: Self.kernel, dump: dump))
        #expect(warning == "short: the page-table map (pmapsize 0x\(String(t.pmapSize - 0x4000, radix: 16))) ends at 0x\(String(mapEnd, radix: 16)), below kernel_vm_end 0x\(String(t.kernelVMEnd, radix: 16)): kernel addresses above it are not in the dump's map")
        #expect(kernelWarnings(kernel: Self.kernel, dump: dump) == ["warning: " + warning])
        #expect(kernelMapShortfall(kernel: Self.kernel, dump: try Dump(contents: generated.bytes, name: "whole")) == nil)
    }
}
