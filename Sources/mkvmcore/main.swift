// mkvmcore: writes deterministic FreeBSD amd64, arm64, riscv and i386 minidumps and amd64 full dumps (fixtures, fuzz corpora, benchmark dumps).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VMCoreBuilder

let usage = """
    usage: mkvmcore [--version 1|2|3] [--seed N] [--preset NAME] [--description-only] OUTPUT
           mkvmcore --goldens DIR
           mkvmcore --corrupt DIR
           mkvmcore --describe-goldens
           mkvmcore --threads N OUTPUT
    presets: \(DumpDescription.presetNames.joined(separator: ", ")) (default standard)
    --description-only prints what the dump contains instead of writing it (OUTPUT is then optional).
    --goldens regenerates every golden fixture into DIR (amd64, arm64, riscv with its thread fixture, i386); --corrupt writes damaged amd64
    v1/v2/v3, riscv v1/v2 and i386 v1/v2 (PAE and non-PAE) dumps (fuzz seeds);
    --describe-goldens prints what each golden fixture contains.
    --threads writes the thread benchmark dump with N threads to OUTPUT and its kernel to OUTPUT.kernel.
    """

/// `0x` and lowercase hex digits.
func hexString(_ x: UInt64) -> String { "0x" + String(x, radix: 16) }

/// Prints `message` to standard error and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
    let line = Array("mkvmcore: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(status)
}

/// Reports a command-line mistake (exit status 2).
func usageError(_ message: String) -> Never { fail("\(message)\n\(usage)", status: 2) }

/// What to do.
enum Mode {
    case single(output: String?)
    case goldens(String)
    case corrupt(String)
    case describeGoldens
    case threads(Int, String)
}

/// Parsed command line.
struct Options {
    var version: UInt32 = 3
    var seed: UInt64 = 0
    var preset = "standard"
    var descriptionOnly = false
    var mode: Mode?

    init(_ arguments: [String]) {
        var args = arguments[...]
        func value(for option: String) -> String {
            guard let v = args.popFirst() else { usageError("\(option) needs a value") }
            return v
        }
        func setMode(_ m: Mode) {
            if mode != nil { usageError("more than one output given") }
            mode = m
        }
        while let arg = args.popFirst() {
            switch arg {
            case "--version":
                guard let v = UInt32(value(for: arg)), (1...3).contains(v) else { usageError("--version must be 1, 2 or 3") }
                version = v
            case "--seed":
                guard let s = UInt64(value(for: arg)) else { usageError("--seed must be an unsigned integer") }
                seed = s
            case "--preset": preset = value(for: arg)
            case "--description-only": descriptionOnly = true
            case "--goldens": setMode(.goldens(value(for: arg)))
            case "--corrupt": setMode(.corrupt(value(for: arg)))
            case "--describe-goldens": setMode(.describeGoldens)
            case "--threads":
                guard let n = Int(value(for: arg)), (10...1_000_000).contains(n) else { usageError("--threads needs 10...1000000") }
                setMode(.threads(n, value(for: "--threads N")))
            case "-h", "--help":
                print(usage)
                exit(0)
            default:
                if arg.hasPrefix("-") { usageError("unknown option \(arg)") }
                setMode(.single(output: arg))
            }
        }
        if mode == nil && descriptionOnly { mode = .single(output: nil) }
    }
}

func run(_ o: Options) throws(GeneratorError) {
    switch o.mode {
    case .goldens(let dir):
        for golden in goldenFixtures() {
            let dump = try generateDump(golden.description)
            try dump.write(to: dir + "/" + golden.fileName)
            print("\(dir)/\(golden.fileName): \(dump.bytes.count) bytes")
        }
        for file in try goldenKernelFiles() + goldenCompressedFiles() + RISCVFixture.goldenFiles() + I386Fixture.goldenFiles() + goldenFullDumpFiles() + goldenARM64Files() {
            try writeFile(file.bytes, toPath: dir + "/" + file.fileName)
            print("\(dir)/\(file.fileName): \(file.bytes.count) bytes")
        }
    case .describeGoldens:
        for golden in goldenFixtures() {
            print("== \(golden.fileName)\n" + (try groundTruth(for: golden.description).summary()))
        }
        for version: UInt32 in 1...2 {
            print("== vmcore.riscv.v\(version)\n" + (try generateRISCVDump(RISCVFixture.description(version: version)).truth.summary()))
        }
        for file in try goldenCompressedFiles() {
            let what = file.fileName.hasSuffix(".gz") ? "one gzip member of stored deflate blocks, the kernel's 10-byte header, CRC-32 and ISIZE"
                : file.fileName.contains(".cut.") ? "the first \(file.bytes.count) bytes of vmcore.0.zst: the stream ends inside a raw block"
                : "one zstd frame (window 2 MiB, no content size, XXH64 checksum) of 4 KiB raw and RLE blocks"
            print("== \(file.fileName)\nvmcore.0 compressed without compression: \(what); \(file.bytes.count) bytes\n")
        }
        print("== vmcore.i386.pae\n" + (try I386Fixture.summary(version: 2, pae: true)))
        print("== vmcore.i386.nopae\n" + (try I386Fixture.summary(version: 1, pae: false)))
        let i386Threads = try makeI386ThreadFixture(.golden())
        print("== vmcore.i386.threads + kernel.i386.threads\n" + I386Fixture.summary(truth: try generateI386Dump(i386Threads.dump).truth))
        for (name, d) in try goldenFullDumps() {
            print("== \(name)\n" + (try describeFullDump(d)))
        }
        for golden in goldenARM64Fixtures() {
            print("== \(golden.fileName)\n" + (try generateARM64Dump(golden.description).truth.summary()))
        }
        let threads = try makeARM64ThreadFixture(.golden())
        print("== vmcore.arm64.threads + kernel.arm64.threads\n" + (try generateARM64Dump(threads.dump).truth.summary()))
        print("threads (allproc order): " + threads.truth.threads.map { "\($0.tid) \($0.displayName): \($0.frames.count) frames, \($0.stop)" }.joined(separator: "; ") + "\n")
        let riscvThreads = try makeRISCVThreadFixture(.golden())
        print("== vmcore.riscv.threads + kernel.riscv.threads\n" + (try generateRISCVDump(riscvThreads.dump).truth.summary()))
        print("threads (allproc order): " + riscvThreads.truth.threads.map { "\($0.tid) \($0.displayName): \($0.frames.count) frames, \($0.stop)" }.joined(separator: "; ") + "\n")
        print("== kernel.arm64\nthe EM_AARCH64 kernel of the arm64 dumps: .text at \(hexString(ARM64Fixture.textBase)), .data at \(hexString(ARM64Fixture.dataBase)), .bss at \(hexString(ARM64Fixture.bssBase)); version, osreldate, hostname, panicstr (a PAC-signed pointer), msgbufp, kernel_vm_end, ...\n")
    case .corrupt(let dir):
        var count = 0
        for v: UInt32 in 1...3 {
            let dump = try generateDump(.standard(version: v, seed: 0))
            for variant in corruptVariants(of: dump) {
                try GeneratedDump(bytes: variant.bytes, truth: dump.truth).write(to: "\(dir)/vmcore.v\(v).\(variant.name)")
                count += 1
            }
        }
        for v: UInt32 in 1...2 {
            let dump = try generateRISCVDump(RISCVFixture.description(version: v))
            for variant in corruptVariants(of: dump) {
                try RISCVGeneratedDump(bytes: variant.bytes, truth: dump.truth).write(to: "\(dir)/vmcore.riscv.v\(v).\(variant.name)")
                count += 1
            }
        }
        for v: UInt32 in 1...2 {
            for pae in [false, true] {
                let dump = try generateI386Dump(I386Fixture.description(version: v, pae: pae))
                for variant in i386CorruptVariants(of: dump) {
                    try writeFile(variant.bytes, toPath: "\(dir)/vmcore.i386.v\(v)\(pae ? ".pae" : "").\(variant.name)")
                    count += 1
                }
            }
        }
        print("\(dir): \(count) corrupt dumps")
    case .single(let output):
        guard let d = DumpDescription.preset(o.preset, version: o.version, seed: o.seed) else {
            usageError("unknown preset \(o.preset)")
        }
        if o.descriptionOnly {
            print(try groundTruth(for: d).summary(), terminator: "")
        } else {
            guard let output else { usageError("missing OUTPUT") }
            let truth = try writeDump(d, to: output)
            print("\(output): \(truth.fileSize) bytes, \(truth.dumpedPages.count) data pages")
        }
    case .threads(let n, let output):
        let fixture = try benchThreadFixture(threads: n)
        let truth = try writeDump(fixture.dump, to: output)
        try writeFile(makeKernelELF(fixture.kernel), toPath: output + ".kernel")
        print("\(output): \(truth.fileSize) bytes, \(fixture.truth.threads.count) threads; kernel \(output).kernel")
    case nil:
        usageError("missing OUTPUT")
    }
}

do throws(GeneratorError) {
    try run(Options(Array(CommandLine.arguments.dropFirst())))
} catch {
    fail(error.description, status: 1)
}
