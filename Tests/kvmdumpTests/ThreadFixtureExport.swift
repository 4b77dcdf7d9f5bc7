/// What the arm64, riscv and i386 export tests share: exporting an architecture's thread fixture and
/// reading its ground truth in the core's thread order.
import Foundation
import Testing
import VMCoreBuilder

/// Exports `Fixtures/vmcore.ARCH.threads` with `Fixtures/kernel.ARCH.threads` copied to `scratch/kernel` (gdb
/// compares the core's 15-character program name with the executable's), expects 13 threads, and returns the
/// command kvmdump printed to open the core.
func exportThreadFixture(_ architecture: String, _ scratch: TemporaryDirectory, flavor: String) throws -> String {
    let kernel = scratch.url.appendingPathComponent("kernel")
    try FileManager.default.copyItem(at: Paths.root.appendingPathComponent("Fixtures/kernel.\(architecture).threads"), to: kernel)
    let core = scratch.url.appendingPathComponent("core.\(flavor)").path
    let result = try Tool.run(["-N", kernel.path, "-M", "Fixtures/vmcore.\(architecture).threads", "export", "-o", core, "--for", flavor])
    #expect(result.status == 0, "\(result.stderrText)")
    #expect(result.stderrText.contains("13 threads"), "\(result.stderrText)")
    let prefix = "kvmdump: open it with: "
    guard let line = result.stderrText.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
        throw HarnessError("no command printed: \(result.stderrText)")
    }
    return String(line.dropFirst(prefix.count))
}

/// The threads of `truth` in an exported core's order: the crashed one first.
func coreOrder(_ truth: ThreadsTruth) -> [ThreadTruth] {
    truth.threads.filter(\.crashed) + truth.threads.filter { !$0.crashed }
}

/// The pcs a debugger must show: kvmdump's frames up to and including the first trapframe's frame.
func framesToFirstTrap(_ t: ThreadTruth) -> [UInt64] {
    var pcs: [UInt64] = []
    for frame in t.frames {
        pcs.append(frame.pc)
        if frame.trap != nil { break }
    }
    return pcs
}
