/// What `dmesg -M core` prints from a message buffer (spec §4), built on `MessageBuffer`'s text.
import MinidumpCore

/// The message buffer as FreeBSD's `dmesg` prints it, or with `all` as `dmesg -a` does:
///
/// - the text unwrapped from the write position, leading NULs (never-written space) removed;
/// - when the ring has wrapped and not `all`: the first line dropped (it was cut by the wrap);
/// - a leading `<digits>` syslog priority removed from each line; without `all`, lines whose
///   facility is not the kernel's (`priority >> 3 != 0`, as user-space writers to /dev/klog use)
///   are skipped;
/// - every byte passed through vis(3) with no flags (strvis style): printable ASCII, space, tab and
///   newline as they are, `\` as `\\`, control characters as `\^C` (DEL as `\^?`), bytes with the
///   high bit as `\M-c` or `\M^C`;
/// - a final newline if the text does not end with one. Empty text gives no output.
public func dmesgText(_ buffer: MessageBuffer, all: Bool) -> [UInt8] {
    let text = buffer.text
    var output: [UInt8] = []
    output.reserveCapacity(text.count + text.count / 8 + 1)
    var start = text.startIndex
    if buffer.wrapped && !all {
        guard let newline = text.firstIndex(of: 0x0a) else { return [] }
        start = newline + 1
    }
    while start < text.endIndex {
        let end = text[start...].firstIndex(of: 0x0a) ?? text.endIndex
        var body = start
        if text[body] == UInt8(ascii: "<") {
            var index = body + 1
            var priority = 0
            while index < end, text[index] >= 0x30, text[index] <= 0x39, index - body <= 9 {
                priority = priority * 10 + Int(text[index] - 0x30)
                index += 1
            }
            if index > body + 1, index < end, text[index] == UInt8(ascii: ">") {
                if !all && priority >> 3 != 0 {
                    start = end + 1
                    continue
                }
                body = index + 1
            }
        }
        for byte in text[body..<end] { appendVis(byte, to: &output) }
        output.append(0x0a)
        start = end + 1
    }
    return output
}

/// Appends `byte` encoded as vis(3) does with no flags.
@inline(__always)
func appendVis(_ byte: UInt8, to output: inout [UInt8]) {
    if (byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\\")) || byte == 0x09 || byte == 0x0a {
        output.append(byte)
        return
    }
    if byte == UInt8(ascii: "\\") {
        output.append(contentsOf: [0x5c, 0x5c])
        return
    }
    output.append(UInt8(ascii: "\\"))
    var low = byte
    if byte & 0x80 != 0 {
        output.append(UInt8(ascii: "M"))
        low = byte & 0x7f
        if low >= 0x20 && low < 0x7f {
            output.append(UInt8(ascii: "-"))
            output.append(low)
            return
        }
    }
    output.append(UInt8(ascii: "^"))
    output.append(low == 0x7f ? UInt8(ascii: "?") : low + 0x40)
}
