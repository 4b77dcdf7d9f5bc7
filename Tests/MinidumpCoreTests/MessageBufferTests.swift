import Testing
@testable import MinidumpCore

/// Builds a `struct msgbuf` image.
func msgbufStruct(magic: UInt32 = 0x063062, size: UInt32, wseq: UInt32, rseq: UInt32) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 72)
    func put(_ value: UInt32, _ at: Int) { for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) } }
    put(0x1000, 0)
    put(magic, 8)
    put(size, 12)
    put(wseq, 16)
    put(rseq, 20)
    put(size * 16, 28)
    return bytes
}

@Suite struct MessageBufferTests {
    let notWrapped: [UInt8] = Array("<6>hello\nworld\n".utf8) + [UInt8](repeating: 0, count: 17)

    @Test func unwrapsFromTheWritePositionAndSkipsNeverWrittenSpace() {
        let structure = MsgbufStructure(bytes: msgbufStruct(size: 32, wseq: 15, rseq: 9))
        let buffer = MessageBuffer(ring: notWrapped, structure: structure)
        #expect(buffer.source == .structure(structure!))
        #expect(buffer.text == Array("<6>hello\nworld\n".utf8))
        #expect(!buffer.wrapped)
        #expect(buffer.unread == Array("world\n".utf8))
        #expect(buffer.dmesg() == Array("hello\nworld\n".utf8))
    }

    @Test func wrappedRingStartsAtTheWritePosition() {
        let ring = Array("ne 3\nline 1\nline 2\nli".utf8)  // 21 bytes, next write at 5
        let structure = MsgbufStructure(bytes: msgbufStruct(size: 21, wseq: 21 * 3 + 5, rseq: 21 * 3 + 19))
        let buffer = MessageBuffer(ring: ring, structure: structure)
        #expect(buffer.wrapped)
        #expect(buffer.text == Array("line 1\nline 2\nline 3\n".utf8))
        // The unread part wraps past the end of the ring: "li" then "ne 3\n".
        #expect(buffer.unread == Array("line 3\n".utf8))
    }

    @Test func dmesgStripsPrioritiesAndSkipsOtherFacilitiesUnlessAll() {
        let text = Array("<6>kernel line\n<13>user line\n<4>warn\nplain\n".utf8)
        let structure = MsgbufStructure(bytes: msgbufStruct(size: UInt32(text.count), wseq: UInt32(text.count), rseq: 0))
        let buffer = MessageBuffer(ring: text, structure: structure)
        #expect(buffer.dmesg() == Array("kernel line\nwarn\nplain\n".utf8))
        #expect(buffer.dmesg(all: true) == Array("kernel line\nuser line\nwarn\nplain\n".utf8))
    }

    @Test func badMagicOrSizeFallsBackAndSaysWhy() {
        let badMagic = MessageBuffer(ring: notWrapped, structure: MsgbufStructure(bytes: msgbufStruct(magic: 0xdead, size: 32, wseq: 15, rseq: 0)))
        #expect(badMagic.source == .fallback(reason: "struct msgbuf has magic 0xdead, expected 0x63062"))
        #expect(badMagic.text == Array("<6>hello\nworld\n".utf8))
        #expect(badMagic.unread.isEmpty)
        let badSize = MessageBuffer(ring: notWrapped, structure: MsgbufStructure(bytes: msgbufStruct(size: 4096, wseq: 15, rseq: 0)))
        #expect(badSize.source == .fallback(reason: "struct msgbuf has msg_size 4096, the ring has 32 bytes"))
        let none = MessageBuffer(ring: [], structure: nil)
        #expect(none.text.isEmpty)
        #expect(none.dmesg().isEmpty)
    }

    @Test func hugeSequenceNumbersAreReducedModuloTheSize() {
        let structure = MsgbufStructure(bytes: msgbufStruct(size: 32, wseq: .max, rseq: .max - 3))
        let buffer = MessageBuffer(ring: notWrapped, structure: structure)
        #expect(buffer.unread.count == 3)
    }
}
