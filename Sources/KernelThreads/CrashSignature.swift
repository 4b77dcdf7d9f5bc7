/// A crash signature: the panic string and the first frames after the panic machinery, as stable,
/// address-free text and a hash, so thousands of dumps can be grouped by cause.

/// The signature of a crash.
public struct CrashSignature: Sendable, Equatable {
    /// The panic string with addresses and long numbers replaced (`0x?`, `N`).
    public let panic: String
    /// The function names used (innermost first), after the panic machinery.
    public let functions: [String]
    /// `panic: <panic> | <f1> <f2> <f3>`.
    public let text: String
    /// FNV-1a 64 of `text`, 16 lowercase hex digits.
    public let hash: String

    /// How many frames after the machinery make the signature.
    public static let frameCount = 3

    /// Functions that belong to panicking, dumping, the debugger and fault handling (amd64, arm64, riscv, and i386, which shares the x86 names),
    /// not to the cause.
    public static func isMachinery(_ function: String) -> Bool {
        let exact: Set<String> = [
            "panic", "vpanic", "kassert_panic", "doadump", "kern_reboot", "dump_savectx", "savectx", "trap_fatal",
            "trap_pfault", "trap", "trap_check", "calltrap", "nmi_calltrap", "mchk_calltrap", "dblfault_handler",
            "Xdblfault", "sched_panic", "witness_checkorder", "__mtx_assert", "_mtx_lock_sleep", "shutdown_panic",
            "vfs_badlock", "assert_vop_locked", "assert_vop_elocked", "_sx_assert", "_rw_assert", "__panic",
            "kassert", "breakpoint", "kdb_enter", "kdb_trap", "kdb_backtrace",
            // arm64's fault path (sys/arm64/arm64/trap.c, exception.S).
            "data_abort", "align_abort", "external_abort", "do_el1h_sync", "handle_el1h_sync",
            // riscv's (sys/riscv/riscv/trap.c, exception.S).
            "page_fault_handler", "do_trap_supervisor", "cpu_exception_handler_supervisor",
        ]
        return exact.contains(function) || function.hasPrefix("kdb_") || function.hasPrefix("db_")
    }

    /// Builds the signature from the panic string and the crashed thread's backtrace.
    public init(panicString: String?, backtrace: Backtrace?) {
        panic = CrashSignature.normalise(panicString ?? "(no panic string)")
        var names: [String] = []
        var pastMachinery = false
        for frame in backtrace?.frames ?? [] {
            let name = frame.function ?? "??"
            if !pastMachinery && (CrashSignature.isMachinery(name) || frame.trap != nil) { continue }
            pastMachinery = true
            if frame.trap != nil { continue }
            names.append(name)
            if names.count == CrashSignature.frameCount { break }
        }
        functions = names
        text = "panic: \(panic) | " + (names.isEmpty ? "(no frames)" : names.joined(separator: " "))
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let digits = String(h, radix: 16)
        hash = String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Replaces `0x…` hexadecimal numbers by `0x?` and decimal runs of 5 or more digits by `N`; collapses blanks.
    static func normalise(_ text: String) -> String {
        var out: [UInt8] = []
        let bytes = Array(text.utf8.prefix(1024))
        var i = 0
        func isHex(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x66) }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x30, i + 2 < bytes.count, bytes[i + 1] | 0x20 == 0x78, isHex(bytes[i + 2]) {
                out += Array("0x?".utf8)
                i += 2
                while i < bytes.count && isHex(bytes[i]) { i += 1 }
                continue
            }
            if isDigit(b) && (i == 0 || !isHex(bytes[i - 1])) {
                var j = i
                while j < bytes.count && isDigit(bytes[j]) { j += 1 }
                if j - i >= 5 {
                    out.append(0x4e)
                } else {
                    out += bytes[i..<j]
                }
                i = j
                continue
            }
            if b == 0x0a || b == 0x09 || b == 0x0d { if out.last != 0x20 { out.append(0x20) } } else { out.append(b) }
            i += 1
        }
        while out.last == 0x20 { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }
}
