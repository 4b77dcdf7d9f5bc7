/// The index cache from the command line: `kvmdump read` on a dump with a large bitmap keeps its page
/// index in `KVMDUMP_CACHE` and reuses it; `KVMDUMP_INDEX_CACHE=0` keeps nothing; the answers are the same.
import Foundation
import Testing
import VMCoreBuilder

@Suite struct IndexCacheCLITests {
    @Test func readKeepsTheIndexOfALargeBitmapAndReusesIt() throws {
        let scratch = try TemporaryDirectory()
        let dump = scratch.url.appendingPathComponent("vmcore.0").path
        var description = DumpDescription.standard(version: 3, seed: 5)
        description.physicalRanges.append(0x2_0000_0000..<0x50_0000_0000)  // a 9.75 MiB bitmap
        let truth = try writeDump(description, to: dump)
        let page = try #require(truth.kernelPages.first { $0.size == 4096 && $0.present })
        let arguments = ["-M", dump, "read", "0x" + String(page.va + 0x40, radix: 16), "--len", "32"]
        let cache = scratch.url.appendingPathComponent("cache").path
        let entries = { (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? [] }

        let first = try Tool.run(arguments, environment: ["KVMDUMP_CACHE": cache])
        #expect(first.status == 0, "\(first.stderrText)")
        #expect(first.stderr.isEmpty)
        let written = entries()
        #expect(written.count == 1 && written.first?.hasSuffix(".bins") == true, "\(written)")
        let entry = cache + "/" + (written.first ?? "")
        let stamp = try FileManager.default.attributesOfItem(atPath: entry)[.modificationDate] as? Date

        let second = try Tool.run(arguments, environment: ["KVMDUMP_CACHE": cache])
        #expect(second.status == 0 && second.stdout == first.stdout)
        #expect(entries() == written)
        #expect(try FileManager.default.attributesOfItem(atPath: entry)[.modificationDate] as? Date == stamp, "reused, not rewritten")

        let other = scratch.url.appendingPathComponent("other").path
        let off = try Tool.run(arguments, environment: ["KVMDUMP_CACHE": other, "KVMDUMP_INDEX_CACHE": "0"])
        #expect(off.status == 0 && off.stdout == first.stdout)
        #expect(!FileManager.default.fileExists(atPath: other))
        #expect(!first.stdout.isEmpty)
    }
}
