/// libFuzzer entry point over CrashInfo: the parsers of text and images that come with a dump.
/// Built by `make fuzz-build` with MinidumpCore, KernelImage and CrashInfo as modules and the
/// VMCoreBuilder linked in (for the fixture dump the kernel images are tried against).
///
/// The first byte picks what the rest is:
///   0: message-buffer bytes (the crash summary's line parsing, `dmesg` filtering, times);
///   1: a savecore `info.N` file;
///   2: a symbol expression, evaluated against the fixture kernel and dump;
///   3: a kernel ELF image: symbols, strings, the crash summary and expressions against the fixture dump.
@testable import CrashInfo
import KernelImage
import MinidumpCore
import VMCoreBuilder

/// The fixture dump (`vmcore.1`) and kernel (`kernel.1`), made once.
nonisolated(unsafe) private var fixture: (dump: Dump, kernel: KernelImage)? = {
    guard let generated = try? generateDump(KernelFixture.dumpDescription()),
          let dump = try? Dump(contents: generated.bytes, name: "vmcore.1"),
          let kernel = try? KernelImage(bytes: makeKernelELF(KernelFixture.kernelDescription()), name: "kernel.1")
    else { return nil }
    return (dump, kernel)
}()

/// Expressions tried against every fuzzed kernel image.
private let expressions = ["hz", "&version", "*panicstr", "*msgbufp+8", "*(msgbufp+0x10)", "panic+0x10", "btext-1", "0x10"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCrashInfo(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0, let (dump, kernel) = fixture else { return 0 }
    let payload = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] & 3 {
    case 0: messageBuffer(payload)
    case 1: infoFile(payload)
    case 2: expression(payload, kernel: kernel, dump: dump)
    default: kernelImage(payload, dump: dump)
    }
    return 0
}

private func messageBuffer(_ bytes: [UInt8]) {
    let plain = MessageBuffer(ring: bytes, structure: nil)
    exercise(plain)
    if bytes.count > MsgbufStructure.size, let structure = MsgbufStructure(bytes: Array(bytes.prefix(MsgbufStructure.size))) {
        let ring = Array(bytes.dropFirst(MsgbufStructure.size))
        exercise(MessageBuffer(ring: ring, structure: structure))
        // The same positions with a valid magic and size, so the unwrapping paths are reached.
        var fixed = Array(bytes.prefix(MsgbufStructure.size))
        for (i, b) in [0x62, 0x30, 0x06, 0x00].enumerated() { fixed[8 + i] = UInt8(b) }
        let count = UInt32(truncatingIfNeeded: ring.count)
        for i in 0..<4 { fixed[12 + i] = UInt8(truncatingIfNeeded: count >> (8 * UInt32(i))) }
        exercise(MessageBuffer(ring: ring, structure: MsgbufStructure(bytes: fixed)))
    }
    var offset = 0
    while offset + 8 <= bytes.count && offset < 64 {
        let word = Int64(bitPattern: bytes[offset..<(offset + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        _ = formatUTC(seconds: word)
        _ = formatDuration(seconds: word)
        offset += 8
    }
}

private func exercise(_ buffer: MessageBuffer) {
    let lines = MessageLines(buffer)
    _ = lines.uptime
    _ = dmesgText(buffer, all: false)
    _ = dmesgText(buffer, all: true)
    for line in lines.kernelLines.prefix(256) where line.hasPrefix("Uptime: ") {
        _ = MessageLines.duration(line.dropFirst(8))
    }
}

private func infoFile(_ bytes: [UInt8]) {
    let info = SavecoreInfo(text: String(decoding: bytes, as: UTF8.self))
    _ = info.unrecognised.count
    _ = info.versionString.map { trimTrailingNewlines($0) }
    _ = firstLine(info.panicString ?? "")
}

private func expression(_ bytes: [UInt8], kernel: KernelImage, dump: Dump) {
    let text = String(decoding: bytes, as: UTF8.self)
    do throws(SymbolExpressionError) {
        let parsed = try SymbolExpression.parse(text)
        _ = parsed.symbolNames
        _ = parsed.description
        _ = try? parsed.evaluate(kernel: kernel, dump: dump)
        _ = try? parsed.evaluate(kernel: nil, dump: nil)
    } catch {
        _ = error.description
    }
}

private func kernelImage(_ bytes: [UInt8], dump: Dump) {
    let image: KernelImage
    do throws(KernelImageError) {
        image = try KernelImage(bytes: bytes, name: "fuzz.elf")
    } catch {
        _ = error.description
        return
    }
    for name in ["version", "hz", "panicstr", "msgbufp", "nosuch"] { _ = image.symbol(named: name) }
    for symbol in image.symbols.prefix(32) {
        _ = image.symbolize(symbol.value)
        _ = image.symbolize(symbol.value &+ 1)
        _ = try? image.cString(at: symbol.value, maxLength: 64)
    }
    _ = kernelWarnings(kernel: image, dump: dump)
    _ = locateMessageBuffer(dump: dump, kernel: image)
    let summary = CrashSummary(dump: dump, kernel: image, info: nil, infoPath: nil, infoNote: "fuzz")
    _ = summary.warnings
    for text in expressions {
        _ = try? SymbolExpression.parse(text).evaluate(kernel: image, dump: dump)
    }
}
