import Testing
@testable import MinidumpCore
import VMCoreBuilder

/// Both amd64 `struct msgbuf` layouts (issue 9, spec §4): 72 bytes from FreeBSD 9, 40 before.
@Suite struct MsgbufLayoutTests {
    /// Finding (issue 9): on a FreeBSD 7/8 dump (40 bytes of padding after the ring) the struct was
    /// not looked for, so `msgbuf --unread` said the unread part is unknown and the text started at
    /// the ring's first byte instead of the write position (seen failing before with the release
    /// build on Fixtures/vmcore.msgbuf40: "the unread part is unknown: no struct msgbuf after the ring").
    @Test(arguments: [1, 3] as [UInt32])
    func theFortyByteStructIsFoundFromThePadding(version: UInt32) throws {
        let description = try #require(DumpDescription.preset("msgbuf40", version: version, seed: 0))
        let generated = try generateDump(description)
        let t = generated.truth
        #expect(t.msgbufStructSize == 40)
        #expect((t.msgbufSize + 40) % 4096 == 0)
        let dump = try Dump(contents: generated.bytes, name: "msgbuf40")
        #expect(dump.messageBufferLayout == .freebsd7)
        let buffer = dump.messageBuffer()
        guard case .structure(let structure) = buffer.source else {
            Issue.record("no structure: \(buffer.source)")
            return
        }
        #expect(structure.layout == .freebsd7)
        #expect(structure.writeSequence == t.msgbufWriteSequence)
        #expect(structure.readSequence == t.msgbufReadSequence)
        #expect(buffer.wrapped)
        #expect(buffer.text == t.messageText)
        #expect(buffer.unread == t.unreadText)
        #expect(!buffer.unread.isEmpty)
        // A kernel known to be FreeBSD 9 or later (osreldate) takes the 72-byte struct, which has no room here.
        let current = dump.messageBuffer(layout: .current)
        #expect(current.source == .fallback(reason:
            "no room for the 72-byte (FreeBSD 9 and later) struct msgbuf after the ring (40 bytes of padding)"))
        #expect(dump.messageBuffer(layout: .freebsd7) == buffer)
    }

    /// The 72-byte dumps are read as before, and the padding decides the layout.
    @Test func theCurrentLayoutIsUnchanged() throws {
        let generated = try generateDump(.standard(version: 3, seed: 0))
        let dump = try Dump(contents: generated.bytes, name: "v3")
        #expect(dump.messageBufferLayout == .current)
        guard case .structure(let structure) = dump.messageBuffer().source else {
            Issue.record("no structure")
            return
        }
        #expect(structure.layout == .current)
        #expect(dump.messageBuffer().unread == generated.truth.unreadText)
        #expect(MsgbufLayout.implied(byPadding: 98_304 - 98_232) == .current)
        #expect(MsgbufLayout.implied(byPadding: 32_768 - 32_728) == .freebsd7)
        #expect(MsgbufLayout.implied(byPadding: 39) == nil)
        #expect(MsgbufLayout.implied(byPadding: 0) == nil)
        #expect(MsgbufLayout.of(osreldate: 802_000) == .freebsd7)
        #expect(MsgbufLayout.of(osreldate: 900_044) == .current)
        #expect(MsgbufStructure(bytes: [UInt8](repeating: 0, count: 40)) == nil)
        #expect(MsgbufStructure(bytes: [UInt8](repeating: 0, count: 40), layout: .freebsd7)?.layout == .freebsd7)
    }
}
