/// Kernel variables read by name: the symbol's address from the kernel image, the bytes from the dump.
import KernelImage
import MinidumpCore

/// Why a kernel variable could not be read from the dump.
public enum VariableError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kernel image has no defined symbol `name`.
    case noSymbol(name: String, kernel: String)
    /// The bytes of `what` at `address` are not in the dump.
    case unreadable(what: String, address: UInt64, error: TranslationError)
    /// No NUL within `maxLength` bytes of the string `what` at `address`.
    case unterminated(what: String, address: UInt64, maxLength: Int)
    /// `what` at `address` was read but its contents are not valid; `reason` says why.
    case invalid(what: String, address: UInt64, reason: String)

    /// One line a person can act on, the address in 16 digits.
    public var description: String { description(width: .bits64) }

    /// One line a person can act on, the address `width` wide (`Dump.addressWidth`).
    public func description(width: AddressWidth) -> String {
        switch self {
        case let .noSymbol(name, kernel): return "\(kernel): no symbol '\(name)'"
        case let .unreadable(what, address, error): return "\(what) at \(width.format(address)): \(error.reason)"
        case let .unterminated(what, address, maxLength): return "\(what) at \(width.format(address)): no NUL within \(maxLength) bytes"
        case let .invalid(what, address, reason): return "\(what) at \(width.format(address)): \(reason)"
        }
    }
}

/// A kernel image applied to a dump: variables are located by symbol and read from the dump's
/// kernel memory (the values at the time of the dump, not the image's initial values).
public struct KernelMemory: Sendable {
    /// The kernel image giving the addresses.
    public let kernel: KernelImage
    /// The dump giving the bytes.
    public let dump: Dump

    /// Pairs a kernel image with a dump.
    public init(kernel: KernelImage, dump: Dump) {
        self.kernel = kernel
        self.dump = dump
    }

    /// The defined symbol `name`.
    public func symbol(_ name: String) throws(VariableError) -> Symbol {
        guard let symbol = kernel.symbol(named: name), symbol.isDefined else {
            throw .noSymbol(name: name, kernel: kernel.path)
        }
        return symbol
    }

    /// `count` bytes at `address`; `what` names them in errors.
    public func bytes(at address: UInt64, count: Int, what: String) throws(VariableError) -> [UInt8] {
        let result = dump.read(VirtualAddress(address), count: count)
        if let error = result.error { throw .unreadable(what: what, address: address, error: error) }
        return result.bytes
    }

    /// The first `count` bytes of variable `name`.
    public func bytes(_ name: String, count: Int) throws(VariableError) -> [UInt8] {
        try bytes(at: try symbol(name).value, count: count, what: name)
    }

    /// Variable `name` as a little-endian 32-bit integer (`int`, `u_int`, `lwpid_t`).
    public func u32(_ name: String) throws(VariableError) -> UInt32 {
        try bytes(name, count: 4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Variable `name` as a little-endian 64-bit integer (`long`, `time_t`, a pointer).
    public func u64(_ name: String) throws(VariableError) -> UInt64 {
        try bytes(name, count: 8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Variable `name` as a pointer or `long` of the dump's pointer size (8 bytes, 4 on i386),
    /// zero-extended.
    public func pointer(_ name: String) throws(VariableError) -> UInt64 {
        dump.pointerSize == 4 ? UInt64(try u32(name)) : try u64(name)
    }

    /// Variable `name` as a signed `long` or `time_t` of the dump's pointer size (`time_t` is
    /// 32 bits only on i386, where `long` is too), sign-extended.
    public func long(_ name: String) throws(VariableError) -> Int64 {
        dump.pointerSize == 4 ? Int64(Int32(bitPattern: try u32(name))) : Int64(bitPattern: try u64(name))
    }

    /// The NUL-terminated bytes at `address` (without the NUL), at most `maxLength` of them;
    /// read page by page so a string ending just before an unreadable page is still found.
    public func cString(at address: UInt64, maxLength: Int, what: String) throws(VariableError) -> [UInt8] {
        var bytes: [UInt8] = []
        var next = address
        while bytes.count <= maxLength {
            let pageRest = Int(0x1000 - (next & 0xfff))
            let result = dump.read(VirtualAddress(next), count: min(pageRest, maxLength + 1 - bytes.count))
            if let nul = result.bytes.firstIndex(of: 0) { return bytes + result.bytes[..<nul] }
            bytes += result.bytes
            if let error = result.error { throw .unreadable(what: what, address: address, error: error) }
            let (advanced, overflow) = next.addingReportingOverflow(UInt64(result.bytes.count))
            if overflow { break }
            next = advanced
        }
        throw .unterminated(what: what, address: address, maxLength: maxLength)
    }

    /// The character array `name` (like `version` or `hostname`), up to its NUL.
    ///
    /// The limit is the symbol's size when it has one, else `maxLength`.
    public func charArray(_ name: String, maxLength: Int = 4096) throws(VariableError) -> [UInt8] {
        let symbol = try symbol(name)
        let limit = symbol.size > 0 ? Int(min(symbol.size, UInt64(maxLength))) : maxLength
        return try cString(at: symbol.value, maxLength: limit, what: name)
    }

    /// The string the `char *` variable `name` points to (like `panicstr`), or nil if the pointer is NULL.
    public func stringPointer(_ name: String, maxLength: Int = 4096) throws(VariableError) -> [UInt8]? {
        let pointer = try pointer(name)
        guard pointer != 0 else { return nil }
        return try cString(at: pointer, maxLength: maxLength, what: "*\(name)")
    }
}

/// Where a message buffer's positions came from when it was located for a command.
public enum MessageBufferOrigin: Sendable, Equatable {
    /// Through the kernel's `msgbufp` pointer, whose value is `pointer` (exact, as `dmesg -M` does).
    case msgbufp(pointer: UInt64)
    /// From the msgbuf section of the dump; `note` says why `msgbufp` was not used (nil when no
    /// kernel image was given, which is the normal case).
    case section(note: String?)
}

/// A message buffer and how it was found.
public struct LocatedMessageBuffer: Sendable, Equatable {
    /// The decoded buffer.
    public let buffer: MessageBuffer
    /// How it was found.
    public let origin: MessageBufferOrigin
}

/// The largest `msg_size` followed through `msgbufp` (the kernel's default is 96 KiB); the same
/// limit applies to the msgbuf section.
public let maximumMessageBufferSize: UInt32 = MsgbufStructure.maximumRingSize

/// The message buffer through `msgbufp` when `kernel` is given and every step works (read the
/// pointer, the 72-byte `struct msgbuf`, check its magic, read `msg_size` bytes at `msg_ptr`),
/// else the dump's msgbuf section, with the reason in `origin`.
///
/// The `struct msgbuf` layout (72 bytes, or 40 before FreeBSD 9) comes from the kernel's `osreldate`
/// when it can be read, else from the msgbuf section's padding.
public func locateMessageBuffer(dump: Dump, kernel: KernelImage?) -> LocatedMessageBuffer {
    guard let kernel else { return LocatedMessageBuffer(buffer: dump.messageBuffer(), origin: .section(note: nil)) }
    let memory = KernelMemory(kernel: kernel, dump: dump)
    let layout = (try? memory.u32("osreldate")).map(MsgbufLayout.of(osreldate:))
    do throws(VariableError) {
        let buffer = try messageBufferThroughPointer(memory, layout: layout ?? dump.messageBufferLayout ?? .current)
        return buffer
    } catch {
        return LocatedMessageBuffer(buffer: dump.messageBuffer(layout: layout), origin: .section(note: "msgbufp not used: \(error.description(width: dump.addressWidth))"))
    }
}

private func messageBufferThroughPointer(_ memory: KernelMemory, layout: MsgbufLayout) throws(VariableError) -> LocatedMessageBuffer {
    let shape = memory.dump.msgbufShape
    let pointer = try memory.pointer("msgbufp")
    let raw = try memory.bytes(at: pointer, count: shape.size(of: layout), what: "struct msgbuf (*msgbufp)")
    let what = "struct msgbuf (*msgbufp)"
    guard let structure = MsgbufStructure(bytes: raw, layout: layout, shape: shape) else {
        throw .invalid(what: what, address: pointer, reason: "only \(raw.count) bytes")
    }
    guard structure.magic == MsgbufStructure.magic else {
        throw .invalid(what: what, address: pointer,
                       reason: "msg_magic is 0x\(String(structure.magic, radix: 16)), expected 0x63062")
    }
    guard structure.size > 0, structure.size <= maximumMessageBufferSize else {
        throw .invalid(what: what, address: pointer, reason: "msg_size \(structure.size) is not in 1...\(maximumMessageBufferSize)")
    }
    let ring = try memory.bytes(at: structure.ringAddress.rawValue, count: Int(structure.size), what: "message buffer ring (msg_ptr)")
    return LocatedMessageBuffer(buffer: MessageBuffer(ring: ring, structure: structure), origin: .msgbufp(pointer: pointer))
}
