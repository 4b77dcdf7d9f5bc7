/// A small JSON value and its compact serialisation.
///
/// Conventions used by every command: virtual addresses are strings `"0x%016x"` (`"0x%08x"` on a dump
/// with 4-byte pointers: `Dump.addressWidth`), raw 64-bit table entries `"0x%016x"`; physical addresses and file offsets are strings `"0x%x"`; sizes and counts are numbers;
/// byte data that need not be text is a string of hex digits (`"7f454c46"`).
import MappedBytes
import MinidumpCore

/// A JSON value. Objects keep their keys in the order given.
enum JSON {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case string(String)
    /// Bytes from the dump shown as text: valid UTF-8 is kept, invalid sequences become U+FFFD.
    case text([UInt8])
    /// Bytes as a string of lowercase hex digits, two per byte.
    case hexBytes([UInt8])
    case array([JSON])
    case object([(String, JSON)])

    /// A virtual address: `"0x%016x"`, or as many digits as `width` says.
    static func virtualAddress(_ value: UInt64, _ width: AddressWidth) -> JSON { .string(Hex.address(value, width)) }
    /// A physical address or file offset: `"0x%x"`.
    static func address(_ value: UInt64) -> JSON { .string(Hex.short(value)) }
    /// A raw 64-bit entry (PDE, PTE): `"0x%016x"`.
    static func entry(_ value: UInt64) -> JSON { .string(Hex.entry(value)) }
    /// A header field: a size as a number, an address as an address string `width` wide.
    static func headerField(_ field: HeaderField, _ width: AddressWidth) -> JSON {
        switch field.kind {
        case .size: .uint(field.value)
        case .address: .virtualAddress(field.value, width)
        case .physicalAddress: .address(field.value)
        }
    }
    /// The value, or null.
    static func optional<T>(_ value: T?, _ wrap: (T) -> JSON) -> JSON { value.map(wrap) ?? .null }

    /// Writes the value on one line, followed by a newline.
    func writeLine(to out: OutputBuffer) {
        write(to: out)
        out.byte(0x0a)
    }

    /// Writes the value without a newline.
    func write(to out: OutputBuffer) {
        switch self {
        case .null: out.write("null")
        case .bool(let value): out.write(value ? "true" : "false")
        case .int(let value): out.write(String(value))
        case .uint(let value): out.write(String(value))
        case .string(let value): JSON.writeString(value, to: out)
        case .text(let bytes): JSON.writeString(String(decoding: bytes, as: UTF8.self), to: out)
        case .hexBytes(let bytes):
            out.byte(UInt8(ascii: "\""))
            for byte in bytes {
                out.byte(Hex.digits[Int(byte >> 4)])
                out.byte(Hex.digits[Int(byte & 0xf)])
            }
            out.byte(UInt8(ascii: "\""))
        case .array(let elements):
            out.byte(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.byte(UInt8(ascii: ",")) }
                element.write(to: out)
            }
            out.byte(UInt8(ascii: "]"))
        case .object(let members):
            out.byte(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.byte(UInt8(ascii: ",")) }
                JSON.writeString(key, to: out)
                out.byte(UInt8(ascii: ":"))
                value.write(to: out)
            }
            out.byte(UInt8(ascii: "}"))
        }
    }

    /// Writes `value` as a quoted JSON string: quote, backslash and control characters (and DEL) are escaped,
    /// everything else is written as UTF-8. A Swift `String` is always valid UTF-8, so the output is too.
    static func writeString(_ value: String, to out: OutputBuffer) {
        out.byte(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.write("\\\"")
            case UInt8(ascii: "\\"): out.write("\\\\")
            case 0x0a: out.write("\\n")
            case 0x0d: out.write("\\r")
            case 0x09: out.write("\\t")
            case 0x08: out.write("\\b")
            case 0x0c: out.write("\\f")
            case 0..<0x20, 0x7f:
                out.write("\\u00")
                out.byte(Hex.digits[Int(byte >> 4)])
                out.byte(Hex.digits[Int(byte & 0xf)])
            default: out.byte(byte)
            }
        }
        out.byte(UInt8(ascii: "\""))
    }
}
