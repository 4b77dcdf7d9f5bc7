import Foundation
import Testing

/// The package root, from this file's path.
private let packageRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// All unsafe pointer code of the product (the libraries and `kvmdump`) is in one file: the brief's rule
/// and issue 9's check (`grep -rl Unsafe`). The generator, the benchmarks and the tests are tools, not product.
@Suite struct UnsafeCodeIsConfined {
    static let productTargets = [
        "MinidumpCore", "KernelImage", "CrashInfo", "MappedBytes", "KernelThreads", "CoreExport", "Decompress", "CompressedDump", "kvmdump",
    ]

    @Test func onlyMappedBytesUsesUnsafePointers() throws {
        let manager = FileManager.default
        var offenders: [String] = []
        var scanned = 0
        for target in Self.productTargets {
            let directory = packageRoot + "/Sources/" + target
            let files = try #require(manager.enumerator(atPath: directory), "cannot list \(directory)")
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
                scanned += 1
                if text.contains("Unsafe") { offenders.append("Sources/\(target)/\(file)") }
            }
        }
        #expect(scanned > 50, "scanned only \(scanned) files under \(packageRoot)/Sources")
        #expect(offenders == ["Sources/MappedBytes/MappedBytes.swift"])
    }

    /// Every library target of the package is in the list above, so a new one cannot slip past.
    @Test func everyLibraryTargetIsChecked() throws {
        let manifest = try String(contentsOfFile: packageRoot + "/Package.swift", encoding: .utf8)
        let libraries = manifest.split(separator: "\n").compactMap { line -> String? in
            guard line.contains(".library(name: \"") else { return nil }
            return line.split(separator: "\"").dropFirst().first.map(String.init)
        }
        #expect(!libraries.isEmpty)
        for library in libraries { #expect(Self.productTargets.contains(library), "library \(library) is not checked") }
    }
}
