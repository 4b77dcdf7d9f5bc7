/// `kvmdump msgbuf`: the kernel message buffer.
import CrashInfo
import CompressedDump
import MinidumpCore

/// Prints the message buffer unwrapped, only its unread part, or the ring bytes as they are.
struct MsgbufCommand: Subcommand {
    static let name = "msgbuf"
    static let abstract = "Print the kernel message buffer (dmesg)."
    static let usage = "[--dmesg [--all] | --all | --unread | --raw] [CORE]"
    static let positionals = [Positional(name: "CORE", help: "The dump, instead of -M.")]
    static let takesDumpPositionally = true
    static let unread = Option.flag(
        "unread", help: "Only the part syslogd has not read (kgdb's \"Unread portion of the kernel message buffer\").")
    static let raw = Option.flag("raw", help: "The ring bytes as they are in the dump, not unwrapped.")
    static let dmesg = Option.flag(
        "dmesg", help: "What dmesg -M prints: priorities removed, other facilities and a wrapped ring's cut first line dropped, vis(3) escapes.")
    static let all = Option.flag(
        "all", help: "Keep every line: alone, the whole text as it is (the default); with --dmesg, what dmesg -a -M prints.")
    static let options = [dmesg, all, unread, raw]
    static let discussion = """
        The text is written as it is in the dump, with a newline added if the last line lacks one.
        --dmesg prints it as FreeBSD's dmesg does: a leading <N> syslog priority is removed from each
        line, lines of facilities other than the kernel are skipped, the first line of a ring that has
        wrapped is dropped (it was cut), and non-printing bytes are shown as vis(3) escapes (\\^C, \\M-x,
        \\\\). --dmesg --all skips nothing (as dmesg -a). The text is found through msgbufp with -N.
        With --json the text is a string (invalid UTF-8 becomes U+FFFD); --raw --json gives the ring as hex digits.
        """

    /// What to print.
    enum Part { case text, dmesg(all: Bool), unread, ring }

    let shared: SharedOptions
    let part: Part

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        try requireAtMostOne(of: [Self.dmesg, Self.unread, Self.raw], in: arguments)
        try requireAtMostOne(of: [Self.all, Self.unread, Self.raw], in: arguments)
        self.shared = shared
        if arguments.has(Self.dmesg) {
            part = .dmesg(all: arguments.has(Self.all))
        } else {
            part = arguments.has(Self.raw) ? .ring : arguments.has(Self.unread) ? .unread : .text
        }
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        // Without a kernel only the msgbuf section is read: a compressed dump's prefix is enough.
        let dump = try shared.openDump(console, access: shared.kernelPath == nil ? .metadata : .pages)
        let kernel = shared.openKernelIfUsable(dump: dump, console: console)
        let located = locateMessageBuffer(dump: dump, kernel: kernel)
        // An ELF full dump has no msgbuf section: only msgbufp finds the buffer.
        if dump.isFullDump, case .section(let note) = located.origin {
            throw CommandFailure(message: "\(dump.path): " + (note.map { "the message buffer cannot be found: \($0)" }
                ?? "an ELF full dump has no msgbuf section: the message buffer is found through msgbufp with the kernel image (-N)"))
        }
        let buffer = located.buffer
        if case .section(let note?) = located.origin, !shared.json {
            console.diagnose("\(dump.path): warning: \(note); using the msgbuf section")
        }
        // Without a valid struct msgbuf the read position is unknown, and so is the unread part.
        var unreadUnknown: String?
        if case .fallback(let reason) = buffer.source {
            if case .unread = part {
                unreadUnknown = "\(dump.path): the unread part is unknown: \(reason)"
            } else if !shared.json {
                console.diagnose("\(dump.path): warning: \(reason)")
            }
        }
        if shared.json {
            var members: [(String, JSON)] = []
            if kernel != nil {
                switch located.origin {
                case .msgbufp(let pointer):
                    members += [("via", .string("msgbufp")), ("msgbufp", .virtualAddress(pointer, dump.addressWidth)), ("via_note", .null)]
                case .section(let note):
                    members += [("via", .string("section")), ("msgbufp", .null), ("via_note", .optional(note, JSON.string))]
                }
            }
            var structure: MsgbufStructure?
            switch buffer.source {
            case .structure(let found):
                structure = found
                members += [("source", .string("structure")), ("fallback_reason", .null)]
            case .fallback(let reason):
                members += [("source", .string("fallback")), ("fallback_reason", .string(reason))]
            }
            members += [
                ("msg_ptr", .optional(structure) { .virtualAddress($0.ringAddress.rawValue, dump.addressWidth) }),
                ("msg_magic", .optional(structure) { .address(UInt64($0.magic)) }),
                ("msg_size", .optional(structure) { .uint(UInt64($0.size)) }),
                ("msg_wseq", .optional(structure) { .uint(UInt64($0.writeSequence)) }),
                ("msg_rseq", .optional(structure) { .uint(UInt64($0.readSequence)) }),
                ("wrapped", .bool(buffer.wrapped)),
            ]
            switch part {
            case .text: members.append(("text", .text(buffer.text)))
            case .dmesg(let all): members.append(("dmesg", .text(dmesgText(buffer, all: all))))
            case .unread: members.append(("unread", unreadUnknown == nil ? .text(buffer.unread) : .null))
            case .ring: members.append(("ring_hex", .hexBytes(buffer.ring)))
            }
            JSON.object(members).writeLine(to: console.out)
            if let unreadUnknown { throw CommandFailure(message: unreadUnknown) }
            return .success
        }
        if let unreadUnknown { throw CommandFailure(message: unreadUnknown) }
        switch part {
        case .ring:
            console.out.write(buffer.ring)
        case .dmesg(let all):
            console.out.write(dmesgText(buffer, all: all))
        case .text, .unread:
            let text: [UInt8]
            if case .text = part { text = buffer.text } else { text = buffer.unread }
            console.out.write(text)
            if let last = text.last, last != 0x0a { console.out.byte(0x0a) }
        }
        return .success
    }
}
