/// The exported core's structure against the generator's ground truth: headers, every segment's
/// bytes, the segments covering exactly the dumped pages, PN_XNUM, holes and the notes.
import CoreExport
import Foundation
import MappedBytes
import MinidumpCore
import Testing
import VMCoreBuilder

@Suite("CoreExport structure")
struct StructureTests {
    @Test("ELF header and segments: every dumped page at its kernel-map and direct-map addresses, nothing else", arguments: CoreFlavor.allCases)
    func segments(flavor: CoreFlavor) throws {
        let f = try ExportFixture()
        let (path, report) = try f.export("core.\(flavor)", CoreExportOptions(flavor: flavor))
        let core = try CoreFile(path: path)
        #expect(core.type == 4 && core.machine == 62)
        #expect(core.osabi == (flavor == .lldb ? 9 : 0))
        #expect(core.segments.first?.type == 4)
        #expect(core.ePhnum == core.segments.count && core.segments.count == report.programHeaders)
        let truth = f.generated.truth
        // Expected pages: each kernel-map 4 KiB piece whose physical page is dumped, and each dumped
        // page at its direct-map address; all from the generator's ground truth.
        var expected: [UInt64: UInt64] = [:]  // va -> pa
        let dumped = Set(truth.dumpedPages)
        for page in truth.kernelPages {
            for i in 0..<(page.size >> 12) where dumped.contains(page.pa + i * 4096) {
                expected[page.va + i * 4096] = page.pa + i * 4096
            }
        }
        let kernelCount = expected.count
        for pa in truth.dumpedPages where truth.dmapBase + pa + 4096 <= truth.dmapEnd { expected[truth.dmapBase + pa] = pa }
        var found: [UInt64: UInt64] = [:]
        for s in core.loads {
            #expect(s.filesz == s.memsz && s.filesz % 4096 == 0 && s.offset % 4096 == 0 && s.align == 4096)
            for i in 0..<(s.filesz >> 12) {
                let va = s.vaddr + i * 4096
                #expect(found[va] == nil, "page \(String(va, radix: 16)) in two segments")
                found[va] = s.paddr + i * 4096
            }
        }
        #expect(found == expected)
        #expect(UInt64(kernelCount) + UInt64(truth.dumpedPages.count) == core.loads.reduce(0) { $0 + $1.filesz >> 12 })
        for (va, pa) in expected {
            #expect(core.read(va, 4096) == f.truthPage(pa), "bytes at \(String(va, radix: 16))")
        }
        // One copy of the data: the file is the headers plus the dumped pages, no more.
        #expect(report.fileSize == UInt64(core.bytes.count))
        #expect(UInt64(core.bytes.count) - UInt64(truth.dumpedPages.count) * 4096 < 64 * 1024)
        #expect(report.dataPages == UInt64(truth.dumpedPages.count) && report.dumpedPagesLeftOut == 0)
    }

    @Test("PN_XNUM: e_phnum 0xffff and the count in section header 0 when the segments reach the limit")
    func extendedNumbering() throws {
        let f = try ExportFixture()
        var options = CoreExportOptions()
        let (plainPath, plain) = try f.export("plain")
        options.programHeaderLimit = 3
        let (path, report) = try f.export("xnum", options)
        #expect(!plain.extendedNumbering && report.extendedNumbering)
        let core = try CoreFile(path: path)
        #expect(core.ePhnum == 0xffff)
        #expect(CoreFile.u(core.bytes, 60, 2) == 1)  // e_shnum
        #expect(CoreFile.u(core.bytes, Int(core.shoff) + 44, 4) == UInt64(report.programHeaders))
        let plainCore = try CoreFile(path: plainPath)
        func shape(_ s: Segment) -> [UInt64] { [UInt64(s.type), UInt64(s.flags), s.vaddr, s.paddr, s.filesz, s.memsz] }
        #expect(core.segments.map(shape) == plainCore.segments.map(shape))
        for s in plainCore.loads { #expect(core.read(s.vaddr, Int(s.filesz)) == plainCore.read(s.vaddr, Int(s.filesz))) }
        #expect(core.loads.map(\.vaddr) == (try CoreFile(path: plainPath)).loads.map(\.vaddr))
    }

    @Test("Zero pages are holes in a regular file and read back as zeros")
    func holes() throws {
        let f = try ExportFixture()
        let (path, report) = try f.export("holes")
        var sparse = CoreExportOptions()
        sparse.sparse = false
        let (densePath, dense) = try f.export("dense", sparse)
        let zeroPages = f.generated.truth.dumpedPages.filter { f.truthPage($0) == [UInt8](repeating: 0, count: 4096) }.count
        #expect(zeroPages > 0)
        #expect(report.holeBytes == UInt64(zeroPages) * 4096 && dense.holeBytes == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: densePath)))
        var info = stat()
        #expect(stat(path, &info) == 0)
        var denseInfo = stat()
        #expect(stat(densePath, &denseInfo) == 0)
        #expect(info.st_blocks < denseInfo.st_blocks, "the sparse core takes fewer blocks")
    }

    @Test("Notes: NT_PRPSINFO, then one NT_PRSTATUS per thread, crashed first, registers from the generator", arguments: CoreFlavor.allCases)
    func notes(flavor: CoreFlavor) throws {
        let f = try ExportFixture()
        let (path, _) = try f.export("notes.\(flavor)", CoreExportOptions(flavor: flavor))
        let core = try CoreFile(path: path)
        let truth = f.fixture.truth
        let ordered = truth.threads.filter(\.crashed) + truth.threads.filter { !$0.crashed }
        #expect(ordered.first?.tid == truth.dumpTID)
        let name = flavor == .gdb ? "CORE" : "FreeBSD"
        #expect(core.notes.allSatisfy { $0.name == name })
        #expect(core.notes.first?.type == 3)
        let status = core.notes.filter { $0.type == 1 }
        #expect(status.count == ordered.count)
        for (note, t) in zip(status, ordered) {
            let d = note.desc
            func at(_ o: Int) -> UInt64 { CoreFile.u(d, o, 8) }
            switch flavor {
            case .gdb:
                #expect(d.count == 336)
                #expect(Int32(truncatingIfNeeded: CoreFile.u(d, 32, 4)) == t.tid)
                let reg = 112
                let got = ["r15": at(reg), "r14": at(reg + 8), "r13": at(reg + 16), "r12": at(reg + 24), "rbp": at(reg + 32),
                           "rbx": at(reg + 40), "rip": at(reg + 128), "rsp": at(reg + 152)]
                for (k, v) in got { #expect(v == (t.registers[k] ?? 0), "tid \(t.tid) \(k)") }
            case .lldb:
                #expect(d.count == 224 && at(0) & 0xffff_ffff == 1 && at(8) == 224 && at(16) == 176)
                #expect(Int32(truncatingIfNeeded: CoreFile.u(d, 40, 4)) == t.tid)
                let reg = 48
                let got = ["r15": at(reg), "r14": at(reg + 8), "r13": at(reg + 16), "r12": at(reg + 24), "rbp": at(reg + 80),
                           "rbx": at(reg + 88), "rip": at(reg + 136), "rsp": at(reg + 160)]
                for (k, v) in got { #expect(v == (t.registers[k] ?? 0), "tid \(t.tid) \(k)") }
            }
        }
        if flavor == .lldb {
            let names = core.notes.filter { $0.type == 7 }.map { String(decoding: $0.desc.prefix { $0 != 0 }, as: UTF8.self) }
            #expect(names == ordered.map { String(($0.name.isEmpty ? $0.comm : $0.name).utf8.prefix(19))! })
        }
    }

    @Test("A truncated dump exports the pages still in the file and counts the rest as left out")
    func truncated() throws {
        let keep = 120
        let f = try ExportFixture { d in d.truncation = .dataPages(keep: keep, extraBytes: 100) }
        let (path, report) = try f.export("truncated")
        let core = try CoreFile(path: path)
        let truth = f.generated.truth
        let inFile = UInt64(keep)
        #expect(truth.dumpedPages.count > keep)
        #expect(report.dataPages == inFile && report.dumpedPagesLeftOut == UInt64(truth.dumpedPages.count - keep))
        let lastPA = truth.dumpedPages[Int(inFile)]
        #expect(core.read(truth.dmapBase + lastPA, 8) == nil, "a page past the cut has no segment")
        let keptPA = truth.dumpedPages[Int(inFile) - 1]
        #expect(core.read(truth.dmapBase + keptPA, 4096) == f.truthPage(keptPA))
        #expect(report.kernelPagesLeftOut > 0)
    }
}

@Suite("CoreExport sparse input")
struct SparseInputTests {
    @Test("A dump file with holes (zero pages never written) exports byte for byte like the same dump written out")
    func sparseDump() throws {
        let f = try ExportFixture()
        let bytes = f.generated.bytes
        let sparsePath = f.directory.appendingPathComponent("vmcore.sparse").path
        #expect(FileManager.default.createFile(atPath: sparsePath, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: sparsePath))
        var skipped = 0
        for start in stride(from: 0, to: bytes.count, by: 4096) {
            let page = bytes[start..<min(start + 4096, bytes.count)]
            if page.allSatisfy({ $0 == 0 }) { skipped += 1; continue }
            try handle.seek(toOffset: UInt64(start))
            try handle.write(contentsOf: Data(page))
        }
        try handle.truncate(atOffset: UInt64(bytes.count))
        try handle.close()
        #expect(skipped > 0)
        let sparseDump = try Dump(path: sparsePath)
        let (densePath, dense) = try f.export("from-dense")
        let outPath = f.directory.appendingPathComponent("from-sparse").path
        var options = CoreExportOptions()
        options.programName = "kernel"
        let report = try exportCore(dump: sparseDump, threads: f.coreThreads, to: try OutputFile(path: outPath, overwrite: true), options: options)
        #expect(report == dense)
        #expect(try Data(contentsOf: URL(fileURLWithPath: outPath)) == Data(contentsOf: URL(fileURLWithPath: densePath)))
    }
}

@Suite("CoreExport hostile dumps")
struct HostileExportTests {
    @Test("Every damaged variant of the thread dump that opens exports without a trap; every segment's bytes are the dump's")
    func corruptVariants() throws {
        let f = try ExportFixture()
        var exported = 0
        for variant in VMCoreBuilder.corruptVariants(of: f.generated) {
            guard let dump = try? Dump(contents: variant.bytes, name: variant.name) else { continue }
            let path = f.directory.appendingPathComponent("hostile.core").path
            let report = try exportCore(dump: dump, threads: f.coreThreads, to: try OutputFile(path: path, overwrite: true))
            let core = try CoreFile(path: path)
            #expect(core.loads.count == report.kernelSegments + report.directMapSegments, "\(variant.name)")
            #expect(UInt64(core.bytes.count) == report.fileSize, "\(variant.name)")
            for s in core.loads.prefix(200) {
                let bytes = core.read(s.vaddr, 4096)
                let result = dump.read(VirtualAddress(s.vaddr), count: 4096)
                #expect(result.error == nil && bytes == result.bytes, "\(variant.name) at \(String(s.vaddr, radix: 16))")
            }
            exported += 1
        }
        #expect(exported > 10)
    }
}

@Suite("CoreExport output reuse")
struct OutputReuseTests {
    @Test("Two exports into one output: the second is laid out from where the first ended (it trapped before)")
    func twoExports() throws {
        let f = try ExportFixture()
        let path = f.directory.appendingPathComponent("twice").path
        let output = try OutputFile(path: path, overwrite: true)
        let first = try exportCore(dump: f.dump, threads: f.coreThreads, to: output)
        let second = try exportCore(dump: f.dump, threads: f.coreThreads, to: output)
        #expect(first == second)
        #expect(output.offset == first.fileSize * 2)
    }
}
