/// `info.N`: the text savecore(8) writes beside `vmcore.N`, rendering the kernel dump header.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MappedBytes

/// The fields of a savecore `info.N` file (text style), each nil when the line is absent.
///
/// The parser is tolerant: it accepts the pre-libxo, libxo and current renderings (`Dump Length:
/// 270336B (0 MB)` or `270336`; a ctime or `%F %T %z` Dumptime), lines in any order, CRLF line ends,
/// and continuation lines of a multi-line version string. Lines it does not understand are kept
/// in `unrecognised`. Numbers that do not parse leave their field nil and the line in `unrecognised`.
public struct SavecoreInfo: Sendable, Equatable {
    /// The dump device, from `Dump header from device[:] DEV`.
    public var device: String?
    /// `Architecture:` (e.g. `amd64`).
    public var architecture: String?
    /// `Architecture Version:` (the kerneldumpheader's architectureversion).
    public var architectureVersion: UInt32?
    /// `Dump Length:` in bytes (the payload savecore copied to vmcore.N).
    public var dumpLength: UInt64?
    /// `Blocksize:` in bytes.
    public var blockSize: UInt32?
    /// `Compression:` (`none`, `gzip`, `zstd`); absent before FreeBSD 12.
    public var compression: String?
    /// `Dumptime:` as written (ctime or `YYYY-MM-DD HH:MM:SS +ZZZZ`, local time of the savecore host).
    public var dumpTime: String?
    /// `Hostname:`.
    public var hostname: String?
    /// `Magic:` (`FreeBSD Kernel Dump`, or `FreeBSD Text Dump` for textdumps).
    public var magic: String?
    /// `Version String:`, with continuation lines joined by newlines, trailing newlines removed.
    public var versionString: String?
    /// `Panic String:` (empty for a dump taken without a panic).
    public var panicString: String?
    /// `Dump Parity:`.
    public var parity: UInt32?
    /// `Bounds:` (the N of the file set).
    public var bounds: Int64?
    /// `Dump Status:` (`good`, `bad`, `unknown`).
    public var status: String?
    /// Non-empty lines that were not understood, in order.
    public var unrecognised: [String] = []

    /// The largest info file read, in bytes (real ones are under 1 KiB).
    public static let maximumFileSize = 64 * 1024

    /// Parses the text of an info file.
    public init(text: String) {
        // "\r\n" is one Character in Swift, so split on both spellings of a line end.
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map { line -> Substring in
            line.last == "\r" ? line.dropLast() : line
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        var continuing: WritableKeyPath<SavecoreInfo, String?>?
        for line in lines {
            if line.drop(while: { $0 == " " || $0 == "\t" }).isEmpty {
                continuing = nil
                continue
            }
            if let rest = SavecoreInfo.value(after: "Dump header from device", in: line) {
                device = rest
                continuing = nil
                continue
            }
            if let (label, value) = SavecoreInfo.labelled(line), apply(label: label, value: value, line: line, continuing: &continuing) {
                continue
            }
            // newvers.sh indents the later lines of a version string; anything else ends the field.
            if let key = continuing, let previous = self[keyPath: key], line.first == " " || line.first == "\t",
               !SavecoreInfo.looksLikeField(line) {
                self[keyPath: key] = previous + "\n" + line
            } else {
                unrecognised.append(String(line))
                continuing = nil
            }
        }
    }

    /// Sets the field for `label`; false if the label is unknown.
    private mutating func apply(label: Substring, value: String, line: Substring,
                                continuing: inout WritableKeyPath<SavecoreInfo, String?>?) -> Bool {
        guard SavecoreInfo.labels.contains(String(label)) else { return false }
        continuing = nil
        func number<T: FixedWidthInteger>(_ type: T.Type) -> T? {
            let digits = value.prefix { $0 == "-" || $0.isASCII && $0.isNumber }
            guard let parsed = T(digits) else {
                unrecognised.append(String(line))
                return nil
            }
            return parsed
        }
        switch label {
        case "Architecture": architecture = value
        case "Architecture Version": architectureVersion = number(UInt32.self)
        case "Dump Length": dumpLength = number(UInt64.self)
        case "Blocksize": blockSize = number(UInt32.self)
        case "Compression": compression = value
        case "Dumptime": dumpTime = value
        case "Hostname": hostname = value
        case "Magic": magic = value
        case "Version String":
            versionString = value
            continuing = \.versionString
        case "Panic String":
            panicString = value
            continuing = \.panicString
        case "Dump Parity": parity = number(UInt32.self)
        case "Bounds": bounds = number(Int64.self)
        case "Dump Status": status = value
        default: return false
        }
        return true
    }

    private static let labels: Set<String> = [
        "Architecture", "Architecture Version", "Dump Length", "Blocksize", "Compression", "Dumptime", "Hostname",
        "Magic", "Version String", "Panic String", "Dump Parity", "Bounds", "Dump Status",
    ]

    /// True for `  Label: ...` (two blanks, then letters and spaces up to a colon): a field this parser
    /// does not know, never the continuation of a version string (whose later lines are indented deeper).
    private static func looksLikeField(_ line: Substring) -> Bool {
        guard line.hasPrefix("  "), let first = line.dropFirst(2).first, first.isLetter,
              let colon = line.firstIndex(of: ":") else { return false }
        return line[line.index(line.startIndex, offsetBy: 2)..<colon].allSatisfy { $0.isLetter || $0 == " " }
    }

    /// `(label, value)` for a line `  Label: value`, the value with trailing blanks removed.
    private static func labelled(_ line: Substring) -> (Substring, String)? {
        let body = line.drop { $0 == " " || $0 == "\t" }
        guard let colon = body.firstIndex(of: ":") else { return nil }
        var value = body[body.index(after: colon)...]
        if value.first == " " { value = value.dropFirst() }
        while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
        return (body[..<colon], String(value))
    }

    /// The text after `prefix` (and an optional colon), or nil if the line does not start with it.
    private static func value(after prefix: String, in line: Substring) -> String? {
        guard line.hasPrefix(prefix) else { return nil }
        var rest = line.dropFirst(prefix.count)
        if rest.first == ":" { rest = rest.dropFirst() }
        return String(rest.drop { $0 == " " || $0 == "\t" })
    }

    /// `DIR/info.N` for a dump at `DIR/vmcore.N` (also `vmcore.N.gz`/`.zst`, `vmcore.last`,
    /// `livecore.N`); nil when the name does not follow savecore's convention.
    public static func companionPath(forDump path: String) -> String? {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        for prefix in ["vmcore.", "vmcore_encrypted.", "livecore."] where name.hasPrefix(prefix) {
            var suffix = name.dropFirst(prefix.count)
            for compressed in [".gz", ".zst"] where suffix.hasSuffix(compressed) {
                suffix = suffix.dropLast(compressed.count)
            }
            guard !suffix.isEmpty else { return nil }
            return directory + "info." + suffix
        }
        return nil
    }

    /// Reads and parses the info file at `path`.
    public static func load(path: String) throws(SavecoreInfoError) -> SavecoreInfo {
        let bytes: [UInt8]
        do throws(SmallFileError) {
            bytes = try readSmallFile(path: path, limit: maximumFileSize)
        } catch {
            switch error {
            case .open(let code): throw .openFailed(path: path, errno: code)
            case .read(let code): throw .readFailed(path: path, errno: code)
            case .notRegularFile: throw .notARegularFile(path: path)
            case .tooLarge(let limit): throw .tooLarge(path: path, limit: limit)
            }
        }
        return SavecoreInfo(text: String(decoding: bytes, as: UTF8.self))
    }
}

/// Why an info file could not be read.
public enum SavecoreInfoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `open(2)` failed with `errno` (ENOENT when there is no info file).
    case openFailed(path: String, errno: Int32)
    /// `read(2)` failed with `errno`.
    case readFailed(path: String, errno: Int32)
    /// The path names something other than a regular file.
    case notARegularFile(path: String)
    /// The file is larger than `limit` bytes, so it is not an info file.
    case tooLarge(path: String, limit: Int)

    /// True when the file simply does not exist.
    public var isMissing: Bool {
        if case .openFailed(_, let errno) = self { return errno == ENOENT }
        return false
    }

    /// One line starting with the path.
    public var description: String {
        switch self {
        case let .openFailed(path, code): return "\(path): cannot open (\(errorText(code)))"
        case let .readFailed(path, code): return "\(path): cannot read (\(errorText(code)))"
        case let .notARegularFile(path): return "\(path): not a regular file"
        case let .tooLarge(path, limit): return "\(path): larger than \(limit) bytes, not a savecore info file"
        }
    }
}
