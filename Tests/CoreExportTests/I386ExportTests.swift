/// i386 cores against the generator's ground truth: ELFCLASS32, EM_386, 32-bit headers, a PT_LOAD per
/// run of dumped kernel pages (no direct map), and NT_PRSTATUS with Linux's 17-word `user_regs_struct`
/// (gdb) or FreeBSD's 19-word i386 `struct reg` (lldb) inside 32-bit `elf_prstatus` / `prstatus_t`.
import CoreExport
import Foundation
import KernelImage
import KernelThreads
import MappedBytes
import MinidumpCore
import Testing
import VMCoreBuilder

/// A minimal ELF32 little-endian core reader (independent of the writer's code).
private struct Core32 {
    let bytes: [UInt8]
    let ident: [UInt8]
    let type: UInt64, machine: UInt64, phoff: UInt64, ehsize: UInt64, phentsize: UInt64, phnum: UInt64
    let segments: [Segment]
    let notes: [Note]

    init(path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count >= 52, bytes[0..<4] == [0x7f, 0x45, 0x4c, 0x46] else { throw HarnessError("\(path): not ELF") }
        func u(_ o: Int, _ n: Int) -> UInt64 { CoreFile.u(bytes, o, n) }
        self.bytes = bytes
        ident = Array(bytes[0..<16])
        let phoff = u(28, 4), phnum = u(44, 2)
        type = u(16, 2); machine = u(18, 2); ehsize = u(40, 2); phentsize = u(42, 2)
        self.phoff = phoff
        self.phnum = phnum
        var segments: [Segment] = []
        var notes: [Note] = []
        for i in 0..<Int(phnum) {
            let o = Int(phoff) + i * 32
            let s = Segment(type: UInt32(u(o, 4)), flags: UInt32(u(o + 24, 4)), offset: u(o + 4, 4), vaddr: u(o + 8, 4),
                            paddr: u(o + 12, 4), filesz: u(o + 16, 4), memsz: u(o + 20, 4), align: u(o + 28, 4))
            segments.append(s)
            guard s.type == 4 else { continue }
            var p = Int(s.offset)
            let end = p + Int(s.filesz)
            while p + 12 <= end {
                let namesz = Int(u(p, 4)), descsz = Int(u(p + 4, 4)), type = UInt32(u(p + 8, 4))
                let name = String(decoding: bytes[(p + 12)..<(p + 12 + namesz)].prefix { $0 != 0 }, as: UTF8.self)
                let d = p + 12 + (namesz + 3) / 4 * 4
                notes.append(Note(name: name, type: type, desc: Array(bytes[d..<(d + descsz)])))
                p = d + (descsz + 3) / 4 * 4
            }
        }
        self.segments = segments
        self.notes = notes
    }

    var loads: [Segment] { segments.filter { $0.type == 1 } }
}

private func u32(_ b: [UInt8], _ o: Int) -> UInt64 { CoreFile.u(b, o, 4) }

@Suite("CoreExport i386")
struct I386ExportTests {
    @Test("ELF32 EM_386: every dumped kernel page at its address, notes in the 32-bit layouts", arguments: CoreFlavor.allCases)
    func core(flavor: CoreFlavor) throws {
        let fixture = try makeI386ThreadFixture(.golden())
        let generated = try generateI386Dump(fixture.dump)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdump-i386-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let dumpPath = directory.appendingPathComponent("vmcore.0").path
        try Data(generated.bytes).write(to: URL(fileURLWithPath: dumpPath))
        let dump = try Dump(path: dumpPath)
        let list = try kernelThreads(dump: dump, kernel: try KernelImage(bytes: makeKernelELF32(fixture.kernel), name: "kernel"))
        let threads = list.threads.map { t in
            CoreThread(tid: t.tid, pid: t.pid, name: t.name.isEmpty ? t.comm : t.name, comm: t.comm,
                       registers: Dictionary(uniqueKeysWithValues: t.registers.map { ($0.name, $0.value) }))
        }
        var options = CoreExportOptions(flavor: flavor)
        options.osreldate = 1_401_000
        let path = directory.appendingPathComponent("core").path
        let report = try exportCore(dump: dump, threads: threads, to: try OutputFile(path: path, overwrite: true), options: options)
        let core = try Core32(path: path)

        #expect(core.ident[4] == 1 && core.ident[5] == 1 && core.ident[7] == (flavor == .lldb ? 9 : 0))
        #expect(core.type == 4 && core.machine == 3 && core.ehsize == 52 && core.phentsize == 32 && core.phoff == 52)
        #expect(report.directMapSegments == 0 && report.threads == 13 && report.fileSize == UInt64(core.bytes.count))
        #expect(Int(core.phnum) == report.programHeaders && core.loads.count == report.kernelSegments)
        // Every dumped kernel-map page is in exactly one PT_LOAD, with the generator's bytes.
        let truth = generated.truth
        var covered = 0
        for page in truth.pages {
            guard let index = truth.dumpedPages.firstIndex(of: page.physicalAddress) else { continue }
            let holders = core.loads.filter { page.virtualAddress >= $0.vaddr && page.virtualAddress < $0.vaddr + $0.filesz }
            #expect(holders.count == 1, "\(String(page.virtualAddress, radix: 16))")
            guard let s = holders.first else { continue }
            #expect(s.paddr == page.physicalAddress + s.vaddr - page.virtualAddress || s.paddr == 0)
            #expect((s.flags & 2 != 0) == page.writable && s.align == 4096)
            let o = Int(s.offset + page.virtualAddress - s.vaddr)
            let expected = Array(generated.bytes[(Int(truth.dataOffset) + index * 4096)..<(Int(truth.dataOffset) + index * 4096 + 4096)])
            #expect(Array(core.bytes[o..<o + 4096]) == expected)
            covered += 1
        }
        #expect(covered == truth.dumpedPages.count)

        let name = flavor == .gdb ? "CORE" : "FreeBSD"
        let psinfo = try #require(core.notes.first { $0.type == 3 })
        #expect(psinfo.name == name && psinfo.desc.count == (flavor == .gdb ? 124 : 112))
        let status = core.notes.filter { $0.type == 1 }
        #expect(status.count == 13 && status.allSatisfy { $0.name == name })
        #expect(core.notes.filter { $0.type == 7 }.count == (flavor == .lldb ? 13 : 0))
        var ordered = fixture.truth.threads.filter(\.crashed)
        ordered += fixture.truth.threads.filter { !$0.crashed }
        for (note, t) in zip(status, ordered) {
            let d = note.desc
            let r = t.registers
            switch flavor {
            case .gdb:
                #expect(d.count == 144 && u32(d, 24) == UInt64(t.tid))
                let reg = 72  // ebx ecx edx esi edi ebp eax ds es fs gs orig_eax eip cs eflags esp ss
                #expect(u32(d, reg) == r["ebx"] && u32(d, reg + 12) == r["esi"] && u32(d, reg + 16) == r["edi"])
                #expect(u32(d, reg + 20) == r["ebp"] && u32(d, reg + 48) == r["eip"] && u32(d, reg + 60) == r["esp"])
                #expect(u32(d, reg + 44) == 0xffff_ffff && u32(d, reg + 52) == 0x20 && u32(d, reg + 64) == 0x28)
            case .lldb:
                #expect(d.count == 104 && u32(d, 0) == 1 && u32(d, 4) == 104 && u32(d, 8) == 76 && u32(d, 12) == 176)
                #expect(u32(d, 16) == 1_401_000 && u32(d, 24) == UInt64(t.tid))
                let reg = 28  // fs es ds edi esi ebp isp ebx edx ecx eax trapno err eip cs eflags esp ss gs
                #expect(u32(d, reg + 12) == r["edi"] && u32(d, reg + 16) == r["esi"] && u32(d, reg + 20) == r["ebp"])
                #expect(u32(d, reg + 28) == r["ebx"] && u32(d, reg + 52) == r["eip"] && u32(d, reg + 64) == r["esp"])
                #expect(u32(d, reg) == 0x8 && u32(d, reg + 56) == 0x20 && u32(d, reg + 72) == 0x28)
            }
        }
        #expect(gdbInvocation(for: dump) == "gdb -iex 'set architecture i386' -iex 'set osabi GNU/Linux'")
    }
}
