/// Every `--json` output parses, and the key fields hold the values the fixtures were generated with.
import Foundation
import Testing

/// Parses one JSON document (fragments not allowed at top level).
private func parse(_ text: Substring) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8))
}

/// Runs `kvmdump arguments`, expects `status`, and parses standard output as one JSON document on one line.
private func document(_ arguments: String, status: Int32 = 0) throws -> [String: Any] {
    let result = try Tool.run(arguments.split(separator: " ").map(String.init))
    #expect(result.status == status, "kvmdump \(arguments): \(result.stderrText)")
    let text = result.stdoutText
    #expect(text.hasSuffix("\n") && text.dropLast().contains("\n") == false, "not one line: \(arguments)")
    return try #require(try parse(text.dropLast()) as? [String: Any])
}

@Suite("JSON output")
struct JSONTests {
    @Test("every --json golden output is valid JSON (NDJSON for translate -)",
          arguments: goldenCases.filter(\.printsJSON))
    func parses(_ golden: GoldenCase) throws {
        let result = try run(golden)
        let text = result.stdoutText
        if result.status == 2 || text.isEmpty {
            #expect(text.isEmpty)
            return
        }
        #expect(text.hasSuffix("\n"), "JSON output must end with a newline")
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        if !golden.streams { #expect(lines.count == 1, "one document on one line") }
        for line in lines {
            let value = try parse(line)
            #expect(value is [String: Any] || value is [Any])
        }
    }

    @Test("header: version, sizes, addresses as 0x strings, sections, ranges")
    func header() throws {
        let json = try document("header --json Fixtures/vmcore.0")
        #expect(json["path"] as? String == "Fixtures/vmcore.0")
        #expect(json["version"] as? Int == 3)
        #expect(json["architecture"] as? String == "amd64")
        #expect(json["msgbufsize"] as? Int == 8120)
        #expect(json["file_size"] as? Int == 270336)
        #expect(json["kernbase"] as? String == "0xfffffe0000000000")
        #expect(json["dmapbase"] as? String == "0xfffff80000000000")
        #expect(json["truncated"] as? Bool == false)
        let sections = try #require(json["sections"] as? [[String: Any]])
        #expect(sections.map { $0["name"] as? String } == ["header", "msgbuf", "dump_avail", "bitmap", "pmap", "data"])
        #expect(sections.last?["offset"] as? String == "0x9000")
        let ranges = try #require(json["physical_ranges"] as? [[String: Any]])
        #expect(ranges.map { $0["start"] as? String } == ["0x1000", "0x100000", "0xa00000", "0x100000000"])
        #expect(ranges.map { $0["pages"] as? Int } == [158, 1792, 16, 8])

        let truncated = try document("header --json Fixtures/vmcore.truncated")
        #expect(truncated["truncated"] as? Bool == true)
        #expect(truncated["file_size"] as? Int == 161744)
        #expect(truncated["expected_file_size"] as? Int == 270336)
        #expect(try document("header --json Fixtures/vmcore.v1")["kernbase"] as? String == "0xffffffff80000000")
    }

    @Test("msgbuf: structure fields, unread text, fallback reason")
    func msgbuf() throws {
        let json = try document("msgbuf --json Fixtures/vmcore.0")
        #expect(json["source"] as? String == "structure")
        #expect(json["msg_ptr"] as? String == "0xfffff800007fe000")
        #expect(json["msg_magic"] as? String == "0x63062")
        #expect(json["msg_wseq"] as? Int == 3647)
        #expect(json["msg_rseq"] as? Int == 2606)
        #expect(json["wrapped"] as? Bool == false)
        let text = try #require(json["text"] as? String)
        #expect(text.hasPrefix("---<<BOOT>>---\n") && text.hasSuffix("Dumping 1 out of 7 MB:"))

        let unread = try document("msgbuf --json --unread Fixtures/vmcore.wrapped")
        #expect(unread["wrapped"] as? Bool == true)
        let unreadText = try #require(unread["unread"] as? String)
        #expect(unreadText.utf8.count == 1041)
        #expect(unreadText.contains("panic: page fault\n"))

        let fallback = try document("msgbuf --json Fixtures/vmcore.badmsgbuf")
        #expect(fallback["source"] as? String == "fallback")
        #expect((fallback["fallback_reason"] as? String)?.contains("0xbadf00d") == true)
        #expect(fallback["msg_wseq"] is NSNull)

        let ring = try document("msgbuf --json --raw Fixtures/vmcore.0")
        #expect((ring["ring_hex"] as? String)?.count == 8120 * 2)
    }

    @Test("read: bytes as hex, words, strings, partial reads carry the error")
    func read() throws {
        let bytes = try document("-M Fixtures/vmcore.0 read 0xfffffe00002083c8 --len 16 --json")
        #expect(bytes["va"] as? String == "0xfffffe00002083c8")
        #expect(bytes["bytes_hex"] as? String == "6b766d64756d705f6669787475726500")
        #expect(bytes["error"] is NSNull)

        let string = try document("-M Fixtures/vmcore.0 read 0xfffffe000020aff0 --string --json")
        #expect(string["string"] as? String == "this string spans two kernel pages that are not physically adjacent")
        #expect(string["terminated"] as? Bool == true)
        #expect(string["length"] as? Int == 67)

        let words = try document("-M Fixtures/vmcore.0 read 0xfffffe00002083c8 --len 16 --u64 --json")
        #expect(words["words"] as? [String] == ["0x5f706d75646d766b", "0x0065727574786966"])

        let partial = try document("-M Fixtures/vmcore.0 read 0xfffffe000020dff0 --len 32 --json", status: 1)
        #expect(partial["requested"] as? Int == 32)
        #expect(partial["length"] as? Int == 16)
        #expect((partial["error"] as? String)?.hasPrefix("0xfffffe000020e000: ") == true)
    }

    @Test("translate: an array for arguments, errors in place")
    func translate() throws {
        let result = try Tool.run(
            ["-M", "Fixtures/vmcore.0", "translate", "--json", "--explain", "0xfffffe00002083c8", "0x1234"])
        #expect(result.status == 1)
        let answers = try #require(try parse(Substring(result.stdoutText)) as? [[String: Any]])
        #expect(answers.count == 2)
        #expect(answers[0]["pa"] as? String == "0x7b93c8")
        #expect(answers[0]["offset"] as? String == "0x263c8")
        #expect(answers[0]["map"] as? String == "kernel")
        #expect(answers[0]["page_size"] as? Int == 4096)
        let walk = try #require(answers[0]["walk"] as? [String: Any])
        #expect(walk["pte"] as? String == "0x80000000007b9163")
        #expect(walk["pages_before"] as? Int == 29)
        #expect(answers[1]["va"] as? String == "0x0000000000001234")
        #expect(answers[1]["error"] is String)
    }

    @Test("pages and stats: ranges and counts")
    func pagesAndStats() throws {
        let pages = try document("pages --json --dmap Fixtures/vmcore.0")
        let ranges = try #require(pages["ranges"] as? [[String: Any]])
        let first = try #require(ranges.first)
        #expect(first["va_start"] as? String == "0xfffffe0000200000")
        #expect(first["pa_start"] as? String == "0x731000")
        #expect(first["prot"] as? String == "r-x")
        #expect(first["state"] as? String == "present")
        #expect(ranges.contains { $0["map"] as? String == "dmap" })
        #expect(ranges.contains { $0["state"] as? String == "partial" && $0["page_size"] as? Int == 2 << 20 })

        let stats = try document("stats --json Fixtures/vmcore.truncated")
        #expect(stats["dumped_pages"] as? Int == 57)
        #expect(stats["file_size"] as? Int == 161744)
        #expect((stats["findings"] as? [String])?.count == 1)
        #expect(try document("stats --json Fixtures/vmcore.0")["findings"] as? [String] == [])
    }
}
