@testable import kvmdump
import Foundation
import MappedBytes
import Testing

/// kvmdump.1 at the package root.
private let manualPath: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/kvmdump.1"
}()

private func manual() throws -> String {
    let bytes = try #require(readWholeFile(manualPath), "cannot read \(manualPath)")
    return String(decoding: bytes, as: UTF8.self)
}

/// The bytes of a small file, or nil.
private func readWholeFile(_ path: String) -> [UInt8]? {
    try? readSmallFile(path: path, limit: 1 << 20)
}

/// The manual page stays in step with the subcommands and options the tool declares.
@Suite struct ManualPage {
    /// The `.Cm` names in SYNOPSIS (up to DESCRIPTION).
    private func synopsisCommands(_ text: String) -> Set<String> {
        guard let start = text.range(of: ".Sh SYNOPSIS"), let end = text.range(of: ".Sh DESCRIPTION") else { return [] }
        var names: Set<String> = []
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix(".Cm ") {
            if let name = line.dropFirst(4).split(separator: " ").first { names.insert(String(name)) }
        }
        return names
    }

    @Test func everySubcommandIsInTheSynopsis() throws {
        let names = synopsisCommands(try manual())
        for command in Tool.subcommands {
            #expect(names.contains(command.name), "kvmdump.1 SYNOPSIS has no '.Cm \(command.name)'")
        }
        #expect(names.contains("help"))
    }

    @Test func everySubcommandIsDescribedAndEveryOptionNamed() throws {
        let text = try manual()
        for command in Tool.subcommands {
            #expect(text.contains("\n.It Cm \(command.name)"), "kvmdump.1 does not describe '\(command.name)'")
            for option in command.options + SharedOptions.all {
                #expect(text.contains("Fl -\(option.long)"), "kvmdump.1 never names '\(command.name) --\(option.long)'")
            }
            if command.usage.hasSuffix("| -") {
                // One synopsis entry (from .Nm to the next) names the command and the bare '-' (".Fl").
                let entries = text.components(separatedBy: "\n.Nm\n")
                let found = entries.contains { entry in
                    let lines = entry.split(separator: "\n")
                    return lines.contains { $0 == ".Cm \(command.name)" } && lines.contains(".Fl")
                }
                #expect(found, "kvmdump.1 SYNOPSIS lacks '\(command.name) -'")
            }
        }
    }

    @Test func theSynopsisCheckFindsAMissingSubcommand() {
        let names = synopsisCommands(".Sh SYNOPSIS\n.Nm\n.Cm header\n.Sh DESCRIPTION\n.Cm read\n")
        #expect(names == ["header"])
    }
}
