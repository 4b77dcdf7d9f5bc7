// swift-tools-version:6.1
// kvmdump: read FreeBSD kernel crash dumps on any host. No package dependencies, by design.
import PackageDescription

let package = Package(
    name: "kvmdump",
    products: [
        .library(name: "MinidumpCore", targets: ["MinidumpCore"]),
        .library(name: "KernelImage", targets: ["KernelImage"]),
        .library(name: "CrashInfo", targets: ["CrashInfo"]),
        .library(name: "KernelThreads", targets: ["KernelThreads"]),
        .library(name: "CoreExport", targets: ["CoreExport"]),
        .library(name: "Decompress", targets: ["Decompress"]),
        .library(name: "CompressedDump", targets: ["CompressedDump"]),
        .executable(name: "kvmdump", targets: ["kvmdump"]),
        .executable(name: "mkvmcore", targets: ["mkvmcore"]),
    ],
    targets: [
        // The dump reader: file bytes -> sections -> index -> translator -> reads. No Foundation.
        .target(name: "MinidumpCore", dependencies: ["MappedBytes"]),
        // ELF64 reader for the kernel image (symbols, initialised data). No Foundation.
        .target(name: "KernelImage", dependencies: ["MappedBytes"]),
        // Read-only mapped files, bounds-checked byte views, the tool's output and line buffers: all of the
        // product's unsafe pointer code, in one file.
        .target(name: "MappedBytes", dependencies: ["CBitCount", "CMappingGuard"]),
        // Popcount over runs of bitmap words, with POPCNT chosen at load time where the CPU has it.
        .target(name: "CBitCount"),
        // A SIGBUS handler that turns a read past the end of a mapped file that shrank into zeros
        // and a fault count the readers check, instead of the death of the process.
        .target(name: "CMappingGuard"),
        // Kernel symbols applied to a dump: symbol expressions, msgbuf via msgbufp, the crash summary.
        .target(name: "CrashInfo", dependencies: ["MinidumpCore", "KernelImage", "MappedBytes"]),
        // A minidump as an ELF core for gdb and LLDB (kvmdump export), streamed. No Foundation.
        .target(name: "CoreExport", dependencies: ["MinidumpCore", "MappedBytes"]),
        // Processes, threads and backtraces from the kernel's offset symbols (amd64 rules in one file).
        .target(name: "KernelThreads", dependencies: ["MinidumpCore", "KernelImage", "MappedBytes"]),
        // Our own gzip/DEFLATE and Zstandard decoders for kernel-compressed dumps, streaming in bounded
        // memory, with gzip checkpoints for random access. No dependencies, no Foundation, no unsafe code.
        .target(name: "Decompress"),
        // Dumps opened by path, plain or compressed (by magic): a decoded prefix for the metadata, a
        // decompressed sparse cache file for everything else. No Foundation.
        .target(name: "CompressedDump", dependencies: ["MinidumpCore", "Decompress", "MappedBytes"]),
        // Deterministic fixture generator (the tests' ground truth); independent of MinidumpCore.
        .target(name: "VMCoreBuilder"),
        .executableTarget(name: "mkvmcore", dependencies: ["VMCoreBuilder"]),
        .executableTarget(name: "kvmdump", dependencies: ["MinidumpCore", "CompressedDump", "KernelImage", "CrashInfo", "KernelThreads", "CoreExport", "MappedBytes"]),
        // Decoder throughput against gzip -dc / zstd -dc (make bench-decompress).
        .executableTarget(name: "decompress-bench", dependencies: ["Decompress", "MappedBytes", "VMCoreBuilder"]),
        .executableTarget(name: "kvmdump-bench", dependencies: ["MinidumpCore", "VMCoreBuilder"]),
        .testTarget(name: "MinidumpCoreTests", dependencies: ["MinidumpCore", "MappedBytes", "VMCoreBuilder"]),
        .testTarget(name: "KernelImageTests", dependencies: ["KernelImage", "VMCoreBuilder"]),
        .testTarget(name: "CrashInfoTests", dependencies: ["CrashInfo", "MinidumpCore", "KernelImage", "VMCoreBuilder"]),
        .testTarget(name: "CoreExportTests", dependencies: ["CoreExport", "MinidumpCore", "MappedBytes", "KernelImage", "KernelThreads", "VMCoreBuilder"]),
        .testTarget(name: "KernelThreadsTests", dependencies: ["KernelThreads", "MinidumpCore", "KernelImage", "VMCoreBuilder"]),
        .testTarget(name: "DecompressTests", dependencies: ["Decompress", "VMCoreBuilder"]),
        .testTarget(name: "CompressedDumpTests", dependencies: ["CompressedDump", "MinidumpCore", "Decompress", "MappedBytes", "VMCoreBuilder"]),
        .testTarget(name: "kvmdumpTests", dependencies: ["VMCoreBuilder"]),
        // The tool's internals (output buffer, formatters, batch parsing), through @testable import.
        .testTarget(name: "kvmdumpUnitTests", dependencies: ["kvmdump", "MappedBytes"]),
    ]
)
