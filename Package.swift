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
        .executable(name: "kvmdump", targets: ["kvmdump"]),
        .executable(name: "mkvmcore", targets: ["mkvmcore"]),
    ],
    targets: [
        // The dump reader: file bytes -> sections -> index -> translator -> reads. No Foundation.
        .target(name: "MinidumpCore", dependencies: ["MappedBytes"]),
        // ELF64 reader for the kernel image (symbols, initialised data). No Foundation.
        .target(name: "KernelImage", dependencies: ["MappedBytes"]),
        // Read-only mapped files and bounds-checked byte views: the package's unsafe code, in one file.
        .target(name: "MappedBytes", dependencies: ["CBitCount"]),
        // Popcount over runs of bitmap words, with POPCNT chosen at load time where the CPU has it.
        .target(name: "CBitCount"),
        // Kernel symbols applied to a dump: symbol expressions, msgbuf via msgbufp, the crash summary.
        .target(name: "CrashInfo", dependencies: ["MinidumpCore", "KernelImage"]),
        // Processes, threads and backtraces from the kernel's offset symbols (amd64 rules in one file).
        // A minidump as an ELF core for gdb and LLDB (kvmdump export), streamed. No Foundation.
        .target(name: "CoreExport", dependencies: ["MinidumpCore", "MappedBytes"]),
        .target(name: "KernelThreads", dependencies: ["MinidumpCore", "KernelImage", "MappedBytes"]),
        // Deterministic fixture generator (the tests' ground truth); independent of MinidumpCore.
        .target(name: "VMCoreBuilder"),
        .executableTarget(name: "mkvmcore", dependencies: ["VMCoreBuilder"]),
        .executableTarget(name: "kvmdump", dependencies: ["MinidumpCore", "KernelImage", "CrashInfo", "KernelThreads", "CoreExport"]),
        .executableTarget(name: "kvmdump-bench", dependencies: ["MinidumpCore", "VMCoreBuilder"]),
        .testTarget(name: "MinidumpCoreTests", dependencies: ["MinidumpCore", "MappedBytes", "VMCoreBuilder"]),
        .testTarget(name: "KernelImageTests", dependencies: ["KernelImage", "VMCoreBuilder"]),
        .testTarget(name: "CrashInfoTests", dependencies: ["CrashInfo", "MinidumpCore", "KernelImage", "VMCoreBuilder"]),
        .testTarget(name: "CoreExportTests", dependencies: ["CoreExport", "MinidumpCore", "MappedBytes", "KernelImage", "KernelThreads", "VMCoreBuilder"]),
        .testTarget(name: "KernelThreadsTests", dependencies: ["KernelThreads", "MinidumpCore", "KernelImage", "VMCoreBuilder"]),
        .testTarget(name: "kvmdumpTests", dependencies: ["VMCoreBuilder"]),
    ]
)
