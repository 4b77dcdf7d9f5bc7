/// riscv cores against the generator's ground truth: EM_RISCV, 4 KiB segments covering exactly the dumped
/// pages at their kernel-map and direct-map (dmapbase + pa - dmapphys) addresses, and NT_PRSTATUS with
/// FreeBSD's riscv `struct reg` (lldb) or Linux's `user_regs_struct` (gdb).
import CoreExport
import Foundation
import KernelImage
import KernelThreads
import MappedBytes
import MinidumpCore
import Testing
import VMCoreBuilder

/// The golden riscv thread fixture (or a variant) on disk, exported from its thread list.
final class RISCVExportFixture: @unchecked Sendable {
    let directory: URL
    let fixture: RISCVThreadFixture
    let generated: RISCVGeneratedDump
    let dump: Dump
    let threads: ThreadList

    init(_ description: RISCVThreadsDescription = .golden()) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdump-riscv-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        fixture = try makeRISCVThreadFixture(description)
        generated = try generateRISCVDump(fixture.dump)
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
        let start = Int(truth.dataOffset) + index * 4096
        return Array(generated.bytes[start..<start + 4096])
    }
}

private func u64(_ b: [UInt8], _ o: Int) -> UInt64 { CoreFile.u(b, o, 8) }

@Suite("CoreExport riscv")
struct RISCVExportTests {
    @Test("EM_RISCV and every dumped page at its kernel-map and direct-map addresses, v1 and v2",
          arguments: [UInt32(1), 2], CoreFlavor.allCases)
    func segments(version: UInt32, flavor: CoreFlavor) throws {
        let f = try RISCVExportFixture(.golden(version: version))
        let (core, report) = try f.export(flavor)
        let truth = f.generated.truth
        #expect(core.type == 4 && core.machine == 243)
        #expect(core.osabi == (flavor == .lldb ? 9 : 0))
        var expected: [UInt64: UInt64] = [:]  // va -> pa
        let dumped = Set(truth.dumpedPages)
        for p in truth.kernelPages where dumped.contains(p.pa) { expected[p.va] = p.pa }
        for pa in truth.dumpedPages { expected[truth.dmapBase + pa - truth.dmapPhys] = pa }
        var found: [UInt64: UInt64] = [:]
        for s in core.loads {
            #expect(s.filesz == s.memsz && s.filesz % 4096 == 0 && s.offset % 4096 == 0 && s.align == 4096)
            for i in 0..<(s.filesz / 4096) {
                let va = s.vaddr + i * 4096
                #expect(found[va] == nil, "page \(String(va, radix: 16)) in two segments")
                found[va] = s.paddr + i * 4096
            }
        }
        #expect(found == expected)
        for (va, pa) in expected { #expect(core.read(va, 4096) == f.truthPage(pa), "bytes at \(String(va, radix: 16))") }
        #expect(report.dataPages == UInt64(truth.dumpedPages.count) && report.threads == 13 && report.kernelPagesLeftOut == 0)
    }

    @Test("NT_PRSTATUS: pc (= pcb_ra), ra, sp, gp, tp, s0-s11 of every thread in each layout, crashed first",
          arguments: CoreFlavor.allCases)
    func registers(flavor: CoreFlavor) throws {
        let f = try RISCVExportFixture()
        let (core, _) = try f.export(flavor)
        let status = core.notes.filter { $0.type == 1 }
        var expected = f.fixture.truth.threads
        expected.insert(expected.remove(at: expected.firstIndex(where: \.crashed)!), at: 0)
        #expect(status.count == expected.count)
        for (note, t) in zip(status, expected) {
            let d = note.desc
            let r = t.registers
            if flavor == .gdb {
                // elf_prstatus: pr_pid at 32, pr_reg (pc ra sp gp tp t0-t2 s0 s1 a0-a7 s2-s11 t3-t6) at 112.
                #expect(d.count == 112 + 256 + 8)
                #expect(CoreFile.u(d, 32, 4) == UInt64(t.tid))
                let names = ["pc", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1"] + (0..<8).map { "a\($0)" }
                    + (2...11).map { "s\($0)" } + (3...6).map { "t\($0)" }
                for (i, name) in names.enumerated() { #expect(u64(d, 112 + 8 * i) == r[name] ?? 0, "tid \(t.tid) \(name)") }
            } else {
                // prstatus_t: pr_statussz, pr_gregsetsz, pr_fpregsetsz, pr_osreldate, pr_pid at 40; struct reg at 48.
                #expect(d.count == 48 + 264)
                #expect(u64(d, 8) == 312 && u64(d, 16) == 264 && u64(d, 24) == 520 && CoreFile.u(d, 32, 4) == 1_401_000)
                #expect(CoreFile.u(d, 40, 4) == UInt64(t.tid))
                let names = ["ra", "sp", "gp", "tp"] + (0..<7).map { "t\($0)" } + (0..<12).map { "s\($0)" } + (0..<8).map { "a\($0)" }
                for (i, name) in names.enumerated() { #expect(u64(d, 48 + 8 * i) == r[name] ?? 0, "tid \(t.tid) \(name)") }
                #expect(u64(d, 48 + 8 * 31) == r["pc"] && u64(d, 48 + 8 * 32) == 0x100)
            }
        }
        // The crashed thread's pc is doadump's call of savectx.
        let crashed = expected[0]
        #expect(crashed.displayName == "(pid 939) sysctl (crashed)" && crashed.frames[0].function == "doadump")
        #expect(u64(status[0].desc, flavor == .gdb ? 112 : 48 + 8 * 31) == crashed.frames[0].pc)
        #expect(gdbInvocation(for: f.dump) == "gdb-multiarch -iex 'set architecture riscv:rv64' -iex 'set osabi GNU/Linux'")
    }
}
