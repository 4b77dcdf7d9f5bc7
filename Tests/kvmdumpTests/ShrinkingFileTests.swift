/// A dump cut short while `kvmdump translate -` has it open: the tool keeps answering, with a typed
/// error naming the new size, and exits with failure (issue 16; before: "Bus error", exit 135).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("a dump that shrinks while it is read")
struct ShrinkingFileTests {
    @Test("translate - answers with 'the file shrank' instead of dying of SIGBUS")
    func translateStreamSurvivesTruncation() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("vmcore.shrinking").path
        let original = try Data(contentsOf: Paths.root.appendingPathComponent("Fixtures/vmcore.0"))
        try original.write(to: URL(fileURLWithPath: path))
        let tool = try InteractiveTool(["-M", path, "translate", "-"])
        // A 4 KiB kernel page: the walk reads its PTE from a page-table page among the data pages.
        let question = "0xfffffe00002083c8\n"
        tool.send(question)
        #expect(tool.readLine() == "va 0xfffffe00002083c8 pa 0x7b93c8 offset 0x263c8 map kernel page 4K")
        // The process is waiting for its next line: cut the file to its first data page (0x9000).
        try #require(truncate(path, 0x9000) == 0)
        tool.send(question)
        #expect(tool.readLine() == "error: 0xfffffe00002083c8: the file shrank to 36864 bytes while it was read (it had \(original.count) when opened)")
        #expect(tool.finish() == 1)
    }
}
