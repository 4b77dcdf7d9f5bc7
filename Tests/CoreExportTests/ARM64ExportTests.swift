/// arm64 cores against the generator's ground truth: EM_AARCH64, segments in the dump's page size
/// covering exactly the dumped pages at their kernel-map and direct-map (dmapbase + pa - dmapphys)
/// addresses, and NT_PRSTATUS with FreeBSD's arm64 `struct reg` (lldb) or Linux's `user_pt_regs` (gdb).
import CoreExport
import Foundation
import KernelImage
import KernelThreads
import MappedBytes
import MinidumpCore
import Testing
import VMCoreBuilder

/// The golden arm64 thread fixture (or a variant) on disk, exported from its thread list.
final class ARM64ExportFixture: @unchecked Sendable {
    let directory: URL
    let fixture: ARM64ThreadFixture
    let generated: GeneratedARM64Dump
    let dump: Dump
    let threads: ThreadList

    init(_ description: ARM64ThreadsDescription = .golden()) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdump-arm64-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        fixture = try makeARM64ThreadFixture(description)
        generated = try generateARM64Dump(fixture.dump)
        let dumpPath = directory.appendingPathComponent("vmcore.0").path
        try Data(generated.bytes).write(to: URL(fileURLWithPath: dumpPath))
        dump = try Dump(path: dumpPath)
        threads = try kernelThreads(dump: dump, kernel: try KernelImage(bytes: makeKernelELF(fixture.kernel), name: "kernel"))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func export(_ flavor: CoreFlavor) throws -> (CoreFile, CoreExportReport) {
        let path = directory.appendingPathComponent("core.\(flavor)").path
        let coreThreads = threads.threads.map { t in
            CoreThread(tid: t.tid, pid: t.pid, name: t.name.isEmpty ? t.comm : t.name, comm: t.comm,
                       registers: Dictionary(uniqueKeysWithValues: t.registers.map { ($0.name, $0.value) }))
        }
        var options = CoreExportOptions(flavor: flavor)
        options.osreldate = 1_401_000
        let report = try exportCore(dump: dump, threads: coreThreads, to: try OutputFile(path: path, overwrite: true), options: options)
        return (try CoreFile(path: path), report)
    }

    /// The generator's bytes of the dumped physical page `pa`.
    func truthPage(_ pa: UInt64) -> [UInt8]? {
        let truth = generated.truth
        guard let index = truth.dumpedPages.firstIndex(of: pa) else { return nil }
        let start = Int(truth.dataOffset) + index * Int(truth.pageSize)
        return Array(generated.bytes[start..<start + Int(truth.pageSize)])
    }
}

private func u64(_ b: [UInt8], _ o: Int) -> UInt64 { CoreFile.u(b, o, 8) }

@Suite("CoreExport arm64")
struct ARM64ExportTests {
    @Test("EM_AARCH64 and every dumped page at its kernel-map and direct-map addresses, 4K and 16K pages",
          arguments: [ARM64DumpDescription.Granule.size4K, .size16K], CoreFlavor.allCases)
    func segments(granule: ARM64DumpDescription.Granule, flavor: CoreFlavor) throws {
        let f = try ARM64ExportFixture(.golden(granule: granule))
        let (core, report) = try f.export(flavor)
        let truth = f.generated.truth
        let page = truth.pageSize
        #expect(page == granule.rawValue)
        #expect(core.type == 4 && core.machine == 183)
        #expect(core.osabi == (flavor == .lldb ? 9 : 0))
        var expected: [UInt64: UInt64] = [:]  // va -> pa
        let dumped = Set(truth.dumpedPages)
        for p in truth.kernelPages where dumped.contains(p.pa) { expected[p.va] = p.pa }
        for pa in truth.dumpedPages { expected[truth.dmapBase + pa - truth.dmapPhys] = pa }
        var found: [UInt64: UInt64] = [:]
        for s in core.loads {
            #expect(s.filesz == s.memsz && s.filesz % page == 0 && s.offset % page == 0 && s.align == page)
            for i in 0..<(s.filesz / page) {
                let va = s.vaddr + i * page
                #expect(found[va] == nil, "page \(String(va, radix: 16)) in two segments")
                found[va] = s.paddr + i * page
            }
        }
        #expect(found == expected)
        for (va, pa) in expected { #expect(core.read(va, Int(page)) == f.truthPage(pa), "bytes at \(String(va, radix: 16))") }
        #expect(report.dataPages == UInt64(truth.dumpedPages.count) && report.threads == 13 && report.kernelPagesLeftOut == 0)
    }

    @Test("NT_PRSTATUS: x19-x28, fp, lr, sp, pc (= the pcb's lr) and PSTATE EL1h of every thread, crashed first",
          arguments: CoreFlavor.allCases)
    func registers(flavor: CoreFlavor) throws {
        let f = try ARM64ExportFixture()
        let (core, _) = try f.export(flavor)
        let status = core.notes.filter { $0.type == 1 }
        var expected = f.fixture.truth.threads
        expected.insert(expected.remove(at: expected.firstIndex(where: \.crashed)!), at: 0)
        #expect(status.count == expected.count)
        for (note, t) in zip(status, expected) {
            let d = note.desc
            let (reg, tidAt) = flavor == .gdb ? (112, 32) : (48, 40)
            #expect(d.count == (flavor == .gdb ? 392 : 320))
            #expect(CoreFile.u(d, tidAt, 4) == UInt64(t.tid))
            for i in 0..<10 { #expect(u64(d, reg + 8 * (19 + i)) == t.registers["x\(19 + i)"], "tid \(t.tid) x\(19 + i)") }
            for i in 0..<19 { #expect(u64(d, reg + 8 * i) == 0) }
            #expect(u64(d, reg + 8 * 29) == t.registers["fp"] && u64(d, reg + 8 * 30) == t.registers["lr"], "tid \(t.tid)")
            #expect(u64(d, reg + 8 * 31) == t.registers["sp"] && u64(d, reg + 8 * 32) == t.registers["pc"], "tid \(t.tid)")
            #expect(CoreFile.u(d, reg + 8 * 33, 4) == 0x3c5)
            if flavor == .lldb {
                #expect(u64(d, 8) == 320 && u64(d, 16) == 272 && u64(d, 24) == 528 && CoreFile.u(d, 32, 4) == 1_401_000)
            }
        }
        // The crashed thread's pc is doadump's call of savectx, its sp and fp the pcb's.
        let crashed = expected[0]
        #expect(crashed.displayName == "(pid 939) sysctl (crashed)" && crashed.frames[0].function == "doadump")
        #expect(u64(status[0].desc, (flavor == .gdb ? 112 : 48) + 8 * 32) == crashed.frames[0].pc)
    }

    @Test("Every architecture the reader opens is exported; another is refused by name, with those that are written")
    func refusesOthers() throws {
        let i386 = try Dump(contents: try generateI386Dump(I386Fixture.description(version: 2, pae: true)).bytes, name: "vmcore.i386")
        let riscv = try Dump(contents: try generateRISCVDump(RISCVFixture.description(version: 2)).bytes, name: "vmcore.riscv")
        try checkExportable(i386, path: "out")
        try checkExportable(riscv, path: "out")
        #expect(CoreExportError(path: "out", problem: .unsupportedArchitecture("mips")).description
                == "out: the dump is mips; export writes amd64, arm64, i386, riscv cores only; nothing written")
        #expect(gdbInvocation(for: i386) == "gdb -iex 'set architecture i386' -iex 'set osabi GNU/Linux'")
        #expect(gdbInvocation(for: riscv) == "gdb-multiarch -iex 'set architecture riscv:rv64' -iex 'set osabi GNU/Linux'")
    }
}
