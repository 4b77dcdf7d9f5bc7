/// A generated thread dump exported as an ELF core in a scratch directory, and a small ELF64 core
/// reader to check it with (independent of the writer's code).
import CoreExport
import Foundation
import KernelImage
import KernelThreads
import MappedBytes
import MinidumpCore
import VMCoreBuilder

/// The golden thread fixture on disk (dump + kernel) with its ground truth.
final class ExportFixture: @unchecked Sendable {
    let directory: URL
    let dumpPath: String
    let kernelPath: String
    let fixture: ThreadFixture
    let generated: GeneratedDump
    let dump: Dump
    let kernel: KernelImage
    /// Nil when the thread lists cannot be walked (a damaged dump).
    let threads: ThreadList?

    init(_ description: ThreadsDescription = .golden(), mutate: (inout DumpDescription) -> Void = { _ in }) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdump-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var fixture = try threadFixture(description)
        mutate(&fixture.dump)
        self.fixture = fixture
        generated = try generateDump(fixture.dump)
        dumpPath = directory.appendingPathComponent("vmcore.0").path
        kernelPath = directory.appendingPathComponent("kernel").path
        try Data(generated.bytes).write(to: URL(fileURLWithPath: dumpPath))
        try Data(makeKernelELF(fixture.kernel)).write(to: URL(fileURLWithPath: kernelPath))
        dump = try Dump(path: dumpPath)
        kernel = try KernelImage(path: kernelPath)
        threads = try? kernelThreads(dump: dump, kernel: kernel)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var coreThreads: [CoreThread] {
        (threads?.threads ?? []).map { t in
            var registers: [String: UInt64] = [:]
            for r in t.registers { registers[r.name] = r.value }
            return CoreThread(tid: t.tid, pid: t.pid, name: t.name.isEmpty ? t.comm : t.name, comm: t.comm, registers: registers)
        }
    }

    /// Exports to `name` in the scratch directory; returns the path and the report.
    func export(_ name: String, _ options: CoreExportOptions = CoreExportOptions()) throws -> (String, CoreExportReport) {
        let path = directory.appendingPathComponent(name).path
        let output = try OutputFile(path: path, overwrite: true)
        var options = options
        options.programName = "kernel"
        return (path, try exportCore(dump: dump, threads: coreThreads, to: output, options: options))
    }

    /// The generator's bytes of the dumped physical page `pa` (ground truth, not the reader).
    func truthPage(_ pa: UInt64) -> [UInt8]? {
        guard let index = generated.truth.dumpedPages.firstIndex(of: pa) else { return nil }
        let start = Int(generated.truth.dataOffset) + index * 4096
        guard start + 4096 <= generated.bytes.count else { return nil }
        return Array(generated.bytes[start..<start + 4096])
    }
}

/// One parsed program header.
struct Segment: Equatable {
    var type: UInt32, flags: UInt32, offset: UInt64, vaddr: UInt64, paddr: UInt64, filesz: UInt64, memsz: UInt64, align: UInt64
}

/// One parsed note.
struct Note: Equatable {
    var name: String
    var type: UInt32
    var desc: [UInt8]
}

/// A minimal ELF64 little-endian core reader.
struct CoreFile {
    let bytes: [UInt8]
    let osabi: UInt8
    let type: UInt16
    let machine: UInt16
    let ePhnum: Int
    let shoff: UInt64
    let segments: [Segment]
    let notes: [Note]

    init(path: String) throws {
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count >= 64, bytes[0..<4] == [0x7f, 0x45, 0x4c, 0x46] else { throw HarnessError("\(path): not ELF") }
        osabi = bytes[7]
        type = UInt16(Self.u(bytes, 16, 2))
        machine = UInt16(Self.u(bytes, 18, 2))
        let phoff = Self.u(bytes, 32, 8)
        shoff = Self.u(bytes, 40, 8)
        ePhnum = Int(Self.u(bytes, 56, 2))
        var count = ePhnum
        if ePhnum == 0xffff { count = Int(Self.u(bytes, Int(shoff) + 44, 4)) }
        var segments: [Segment] = []
        var notes: [Note] = []
        for i in 0..<count {
            let o = Int(phoff) + i * 56
            let s = Segment(type: UInt32(Self.u(bytes, o, 4)), flags: UInt32(Self.u(bytes, o + 4, 4)), offset: Self.u(bytes, o + 8, 8),
                            vaddr: Self.u(bytes, o + 16, 8), paddr: Self.u(bytes, o + 24, 8), filesz: Self.u(bytes, o + 32, 8),
                            memsz: Self.u(bytes, o + 40, 8), align: Self.u(bytes, o + 48, 8))
            segments.append(s)
            if s.type == 4 {
                var p = Int(s.offset)
                let end = p + Int(s.filesz)
                while p + 12 <= end {
                    let namesz = Int(Self.u(bytes, p, 4)), descsz = Int(Self.u(bytes, p + 4, 4))
                    let type = UInt32(Self.u(bytes, p + 8, 4))
                    let name = String(decoding: bytes[(p + 12)..<(p + 12 + namesz)].prefix { $0 != 0 }, as: UTF8.self)
                    let d = p + 12 + (namesz + 3) / 4 * 4
                    notes.append(Note(name: name, type: type, desc: Array(bytes[d..<(d + descsz)])))
                    p = d + (descsz + 3) / 4 * 4
                }
            }
        }
        self.segments = segments
        self.notes = notes
    }

    static func u(_ b: [UInt8], _ o: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(b[o + i]) }
        return v
    }

    var loads: [Segment] { segments.filter { $0.type == 1 } }

    /// The bytes at `va` through the PT_LOADs, or nil if no segment holds them.
    func read(_ va: UInt64, _ count: Int) -> [UInt8]? {
        guard let s = loads.first(where: { va >= $0.vaddr && va + UInt64(count) <= $0.vaddr + $0.filesz }) else { return nil }
        let o = Int(s.offset + (va - s.vaddr))
        return o + count <= bytes.count ? Array(bytes[o..<(o + count)]) : [UInt8](repeating: 0, count: count)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
