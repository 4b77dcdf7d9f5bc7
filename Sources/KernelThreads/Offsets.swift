/// The struct proc / struct thread offsets the walk needs: from the kernel's `const int` symbols
/// (FSRC sys/kern/kern_proc.c, `pcb_size` in kern_mib.c), or from an offsets file for older kernels.
import KernelImage
import MappedBytes
import MinidumpCore

/// Field offsets (bytes) into `struct proc` and `struct thread`, and `sizeof(struct pcb)`.
public struct KernelOffsets: Sendable, Equatable {
    public var procList: Int
    public var procPID: Int
    public var procComm: Int
    public var procThreads: Int
    public var threadTID: Int
    public var threadName: Int
    public var threadOnCPU: Int
    public var threadPCB: Int
    public var threadPList: Int
    /// `pcb_size`; nil when neither the kernel nor a file gives it (then the architecture's size is used).
    public var pcbSize: Int?
    /// `p_flag` (no symbol exists; only an offsets file gives it).
    public var procFlag: Int?
    /// `td_state` (no symbol exists; only an offsets file gives it).
    public var threadState: Int?
    /// Where the values came from: "kernel symbols", a file path, or both.
    public var source: String

    /// The largest offset accepted (a struct thread is about 1.5 KiB; 64 KiB leaves room for any kernel).
    public static let maximumOffset = 0xffff
    /// The accepted `pcb_size` range.
    public static let pcbSizeRange = 0x40...0x1000

    /// The required names (the kernel's symbol names, which are also the file's keys).
    public static let requiredNames = [
        "proc_off_p_list", "proc_off_p_pid", "proc_off_p_comm", "proc_off_p_threads", "thread_off_td_tid",
        "thread_off_td_name", "thread_off_td_oncpu", "thread_off_td_pcb", "thread_off_td_plist",
    ]
    /// Optional names: `pcb_size` (a kernel symbol), `proc_off_p_flag` and `thread_off_td_state` (file only).
    public static let optionalNames = ["pcb_size", "proc_off_p_flag", "thread_off_td_state"]

    /// Builds from a name → value table; nil entries for required names are reported by the caller.
    init(values: [String: Int], source: String) {
        procList = values["proc_off_p_list"] ?? 0
        procPID = values["proc_off_p_pid"] ?? 0
        procComm = values["proc_off_p_comm"] ?? 0
        procThreads = values["proc_off_p_threads"] ?? 0
        threadTID = values["thread_off_td_tid"] ?? 0
        threadName = values["thread_off_td_name"] ?? 0
        threadOnCPU = values["thread_off_td_oncpu"] ?? 0
        threadPCB = values["thread_off_td_pcb"] ?? 0
        threadPList = values["thread_off_td_plist"] ?? 0
        pcbSize = values["pcb_size"]
        procFlag = values["proc_off_p_flag"]
        threadState = values["thread_off_td_state"]
        self.source = source
    }

    /// Parses an offsets file: one `name = value` (or `name value`) per line, `#` starts a comment,
    /// values decimal or `0x` hexadecimal; names are the kernel's symbol names plus `proc_off_p_flag`.
    /// Returns the values found (the file may give only some; the kernel's symbols fill the rest).
    public static func parseFile(_ text: String, path: String) throws(ThreadError) -> [String: Int] {
        var values: [String: Int] = [:]
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            guard lineNumber <= 10_000 else { throw .badOffsetsFile(path: path, line: lineNumber, reason: "more than 10000 lines") }
            let line = raw.prefix { $0 != "#" }
            let words = line.split { $0 == " " || $0 == "\t" || $0 == "=" || $0 == "\r" }
            if words.isEmpty { continue }
            guard words.count == 2 else {
                throw .badOffsetsFile(path: path, line: lineNumber, reason: "expected 'name = value', got '\(line.prefix(80))'")
            }
            let name = String(words[0])
            guard requiredNames.contains(name) || optionalNames.contains(name) else {
                throw .badOffsetsFile(path: path, line: lineNumber, reason: "unknown name '\(name.prefix(64))' (known: "
                    + (requiredNames + optionalNames).joined(separator: ", ") + ")")
            }
            guard let value = parseNumber(words[1]), value <= maximumOffset else {
                throw .badOffsetsFile(path: path, line: lineNumber,
                                      reason: "\(name): '\(words[1].prefix(40))' is not a number in 0...\(maximumOffset)")
            }
            guard values[name] == nil else { throw .badOffsetsFile(path: path, line: lineNumber, reason: "\(name) given twice") }
            values[name] = value
        }
        return values
    }

    private static func parseNumber(_ text: Substring) -> Int? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            let digits = text.dropFirst(2)
            guard !digits.isEmpty, digits.count <= 8 else { return nil }
            return Int(digits, radix: 16)
        }
        guard !text.isEmpty, text.count <= 8 else { return nil }
        return Int(text, radix: 10)
    }

    /// Reads the offsets from the kernel's symbols (values from the dump's memory, else from the image's
    /// initialised data), with `file` values taking precedence. Every value is range checked.
    static func resolve(memory: Memory, kernel: KernelImage, file: (path: String, values: [String: Int])?) throws(ThreadError) -> KernelOffsets {
        var values: [String: Int] = [:]
        var fromSymbols = false
        var fromFile = false
        for name in requiredNames + optionalNames {
            if let given = file?.values[name] {
                values[name] = given
                fromFile = true
                continue
            }
            guard let symbol = kernel.symbol(named: name), symbol.isDefined, symbol.sectionIndex != Symbol.absoluteSection else {
                continue
            }
            let raw: UInt32
            if let word = memory.u32(symbol.value) {
                raw = word
            } else if let word = try? kernel.readU32(at: symbol.value) {
                raw = word
            } else {
                throw .unreadable(what: name, address: symbol.value, reason: "not in the dump and not initialised in the kernel image")
            }
            let value = Int(Int32(bitPattern: raw))
            let limit = name == "pcb_size" ? pcbSizeRange.upperBound : maximumOffset
            let lower = name == "pcb_size" ? pcbSizeRange.lowerBound : 0
            guard value >= lower, value <= limit else {
                throw .absurdOffset(name: name, value: Int64(value), source: kernel.path, limit: limit)
            }
            values[name] = value
            fromSymbols = true
        }
        let missing = requiredNames.filter { values[$0] == nil }
        guard missing.isEmpty else { throw .noOffsets(missing: missing, kernel: kernel.path) }
        if let size = values["pcb_size"], !pcbSizeRange.contains(size) {
            throw .absurdOffset(name: "pcb_size", value: Int64(size), source: file?.path ?? kernel.path, limit: pcbSizeRange.upperBound)
        }
        let source = [fromSymbols ? "kernel symbols" : nil, fromFile ? file?.path : nil].compactMap { $0 }.joined(separator: " + ")
        return KernelOffsets(values: values, source: source)
    }
}

extension KernelOffsets {
    /// The largest offsets file read (it has a dozen lines).
    public static let maximumFileSize: UInt64 = 64 * 1024

    /// Reads and parses the offsets file at `path` (see `parseFile`).
    public static func loadFile(path: String) throws(ThreadError) -> [String: Int] {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            let reason: String
            switch error {
            case .open(let code), .stat(let code), .map(let code, _): reason = errorText(code)
            case .notRegularFile: reason = "not a regular file"
            case .tooLarge: reason = "too large"
            }
            throw .badOffsetsFile(path: path, line: 0, reason: reason)
        }
        guard file.size <= maximumFileSize, let bytes = file.bytes.bytes(at: 0, length: file.size) else {
            throw .badOffsetsFile(path: path, line: 0, reason: "larger than \(maximumFileSize) bytes")
        }
        return try parseFile(String(decoding: bytes, as: UTF8.self), path: path)
    }
}
