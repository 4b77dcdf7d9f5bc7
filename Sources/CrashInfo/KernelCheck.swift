/// Whether a kernel image belongs with a dump: its machine type and its version string.
import KernelImage
import MinidumpCore

/// The ELF `e_machine` of the kernels that write minidumps for `architecture` (the name in the
/// dump's magic), or nil for an architecture this table does not know.
public func elfMachine(forArchitecture architecture: String) -> UInt16? {
    switch architecture {
    case "amd64": return 62  // EM_X86_64
    case "i386": return 3  // EM_386
    case "arm": return 40  // EM_ARM
    case "arm64", "aarch64": return 183  // EM_AARCH64
    case "riscv": return 243  // EM_RISCV
    case "powerpc": return 20  // EM_PPC
    case "powerpc64", "powerpc64le": return 21  // EM_PPC64
    case "mips", "mips64": return 8  // EM_MIPS
    default: return nil
    }
}

/// The warning for a kernel image built for another machine than the dump's, or nil when they agree
/// (or the dump's architecture is not in the table).
public func machineMismatch(kernel: KernelImage, dump: Dump) -> String? {
    guard let expected = elfMachine(forArchitecture: dump.header.architecture), kernel.machine != expected else { return nil }
    return "\(kernel.path): kernel image is for ELF machine \(kernel.machine), the dump is \(dump.header.architecture) (machine \(expected))"
}

/// Whether `kernel` is the kernel that wrote `dump`, judged as `kvmdump info` does (the dump's
/// `version` read through the image's symbol, else the boot banner in the message buffer), and how.
/// `matches` is nil when it cannot be told.
public func versionMatch(kernel: KernelImage, dump: Dump) -> (matches: Bool?, basis: String) {
    let image = CrashSummary.imageVersion(kernel)
    var running: Fact<String>
    do throws(VariableError) {
        let bytes = try KernelMemory(kernel: kernel, dump: dump).charArray("version")
        running = .found(trimTrailingNewlines(String(decoding: bytes, as: UTF8.self)), .kernel, "version")
    } catch {
        running = .missing(error.description(width: dump.addressWidth))
    }
    if running.value == nil, let line = MessageLines(dump.messageBuffer()).version {
        running = .found(line, .messageBuffer, "boot banner line")
    }
    return CrashSummary.compare(image: image, dump: running)
}

/// The warning for a page-table map that ends below the kernel's `kernel_vm_end` (read through the
/// image's symbol), or nil when it reaches it or `kernel_vm_end` cannot be read: the writer maps
/// kernbase...kernel_vm_end, so a shorter map was cut, and kernel addresses above its end cannot
/// be read from this dump.
public func kernelMapShortfall(kernel: KernelImage, dump: Dump) -> String? {
    guard let map = dump.kernelMapRange, map.upperBound < UInt64.max,
          let end = try? KernelMemory(kernel: kernel, dump: dump).u64("kernel_vm_end"), end > map.upperBound + 1
    else { return nil }
    let pmapsize = dump.header.fields.first { $0.name == "pmapsize" || $0.name == "ptesize" }
    return "\(dump.path): the page-table map (\(pmapsize.map { "\($0.name) 0x" + String($0.value, radix: 16) } ?? "its size")) ends at 0x\(String(map.upperBound + 1, radix: 16)), below kernel_vm_end 0x\(String(end, radix: 16)): kernel addresses above it are not in the dump's map"
}

/// The warnings a command using `kernel`'s symbols on `dump` prints (at most three: machine,
/// version, a page-table map shorter than kernel_vm_end).
public func kernelWarnings(kernel: KernelImage, dump: Dump) -> [String] {
    var warnings: [String] = []
    if let machine = machineMismatch(kernel: kernel, dump: dump) { warnings.append("warning: " + machine) }
    if let short = kernelMapShortfall(kernel: kernel, dump: dump) { warnings.append("warning: " + short) }
    let (matches, basis) = versionMatch(kernel: kernel, dump: dump)
    if matches == false {
        warnings.append("warning: \(kernel.path): kernel image version does not match the dump (\(basis)); symbols may point at the wrong place")
    }
    return warnings
}
