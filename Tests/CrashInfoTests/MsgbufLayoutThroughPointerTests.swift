import CrashInfo
import KernelImage
import MinidumpCore
import Testing
import VMCoreBuilder

/// `msgbufp` on a FreeBSD 7/8 kernel: the 40-byte `struct msgbuf`, chosen from `osreldate`.
@Suite struct MsgbufLayoutThroughPointerTests {
    /// The 40-byte struct ends exactly at the end of RAM (0x800000), so reading 72 bytes through
    /// `msgbufp`, as before, failed and the section was used instead (seen failing before: origin
    /// was .section with "msgbufp not used"). With osreldate 802000 the 40 bytes are read.
    @Test func osreldateBeforeNineReadsFortyBytesThroughMsgbufp() throws {
        let description = KernelFixture.dumpDescription(msgbufLayout: .freebsd7, osreldate: 802_000)
        let generated = try generateDump(description)
        let dump = try Dump(contents: generated.bytes, name: "vmcore.fbsd8")
        let pointer = generated.truth.msgbufVirtualAddress + UInt64(generated.truth.msgbufSize)
        #expect(pointer + 40 == 0xffff_f800_0080_0000)
        let located = locateMessageBuffer(dump: dump, kernel: Fixture.kernel)
        #expect(located.origin == .msgbufp(pointer: pointer))
        guard case .structure(let structure) = located.buffer.source else {
            Issue.record("no structure: \(located.buffer.source)")
            return
        }
        #expect(structure.layout == .freebsd7)
        #expect(located.buffer.unread == generated.truth.unreadText)
        #expect(located.buffer == dump.messageBuffer())
    }

    /// A kernel of FreeBSD 9 or later on such a dump: the 72 bytes are not there; the section is
    /// used with the 72-byte layout, which has no room, and says so.
    @Test func osreldateFromNineOnTakesTheCurrentLayout() throws {
        let description = KernelFixture.dumpDescription(msgbufLayout: .freebsd7, osreldate: 1_401_000)
        let dump = try Dump(contents: try generateDump(description).bytes, name: "vmcore.mixed")
        let located = locateMessageBuffer(dump: dump, kernel: Fixture.kernel)
        guard case .section(let note?) = located.origin else {
            Issue.record("expected the section with a note, got \(located.origin)")
            return
        }
        #expect(note.hasPrefix("msgbufp not used: struct msgbuf (*msgbufp)"))
        #expect(located.buffer.source == .fallback(reason:
            "no room for the 72-byte (FreeBSD 9 and later) struct msgbuf after the ring (40 bytes of padding)"))
    }
}
