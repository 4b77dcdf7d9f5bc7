/// The dump is opened read-only and never written: every subcommand, run on a writable copy of a
/// fixture, leaves the file's bytes and modification time as they were.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file's contents hash (64-bit FNV-1a), size and modification time, to compare before and after.
private struct FileState: Equatable, CustomStringConvertible {
    let hash: UInt64
    let size: Int
    let modified: timespec

    init(_ path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        self.hash = hash
        size = data.count
        var info = stat()
        guard stat(path, &info) == 0 else { throw HarnessError("stat \(path): errno \(errno)") }
        modified = info.st_mtim
    }

    static func == (a: FileState, b: FileState) -> Bool {
        a.hash == b.hash && a.size == b.size
            && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
    }

    var description: String { "fnv1a \(String(hash, radix: 16)), \(size) bytes, mtime \(modified.tv_sec).\(modified.tv_nsec)" }
}

@Suite struct ReadOnlyTests {
    /// Every subcommand and the main output modes, with `DUMP` standing for the copy's path.
    static let invocations: [[String]] = [
        ["header", "DUMP"], ["header", "--json", "DUMP"],
        ["msgbuf", "DUMP"], ["msgbuf", "--unread", "DUMP"], ["msgbuf", "--raw", "DUMP"], ["msgbuf", "--json", "DUMP"],
        ["-M", "DUMP", "read", "0xfffffe00002083c8", "--len", "64"],
        ["-M", "DUMP", "read", "0xfffffe00002083c8", "--string", "--json"],
        ["-M", "DUMP", "read", "0x1234", "--len", "16"],
        ["-M", "DUMP", "translate", "0xfffffe00002083c8", "0xfffff80000001000", "0x1234"],
        ["pages", "DUMP"], ["pages", "--dmap", "--json", "DUMP"],
        ["stats", "DUMP"], ["stats", "--json", "DUMP"],
        ["-M", "DUMP", "sym", "panicstr"], ["-M", "DUMP", "info"],
        ["help", "read"],
    ]

    @Test(arguments: invocations)
    func subcommandLeavesTheDumpUntouched(arguments: [String]) throws {
        let scratch = try TemporaryDirectory()
        let copy = scratch.url.appendingPathComponent("vmcore.0").path
        try FileManager.default.copyItem(atPath: Paths.root.appendingPathComponent("Fixtures/vmcore.0").path,
                                         toPath: copy)
        #expect(chmod(copy, 0o644) == 0)
        let before = try FileState(copy)
        let result = try Tool.run(arguments.map { $0 == "DUMP" ? copy : $0 })
        #expect(result.status >= 0 && result.status <= 2, "\(arguments): status \(result.status)")
        let after = try FileState(copy)
        #expect(after == before, "\(arguments) changed the dump: \(before) -> \(after)")
    }

    /// `translate -` reading addresses from standard input, too.
    @Test func translateFromStandardInputLeavesTheDumpUntouched() throws {
        let scratch = try TemporaryDirectory()
        let copy = scratch.url.appendingPathComponent("vmcore.0").path
        try FileManager.default.copyItem(atPath: Paths.root.appendingPathComponent("Fixtures/vmcore.0").path,
                                         toPath: copy)
        let before = try FileState(copy)
        let input = Data("0xfffffe00002083c8\n0xfffff80000001000\nnot-an-address\n0x1234\n".utf8)
        let result = try Tool.run(["-M", copy, "translate", "-"], stdin: input)
        #expect(result.status >= 0 && result.status <= 2)
        #expect(try FileState(copy) == before)
    }
}
