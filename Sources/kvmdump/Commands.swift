/// The command structure: the subcommand protocol, the options every subcommand shares, dispatch and help.
import CompressedDump
import MinidumpCore
import MappedBytes

/// The tool's exit statuses.
enum ExitStatus: Int32 {
    /// Everything asked for was printed.
    case success = 0
    /// The dump could not be opened, or an address could not be read or translated.
    case failure = 1
    /// The command line is wrong.
    case usage = 2
}

/// A failure that ends a command; printed as `kvmdump: message`, exit status 1.
struct CommandFailure: Error {
    /// What went wrong, normally starting with the dump's path.
    let message: String
}

/// One subcommand: its declarations (from which parsing and help are generated), validation and work.
protocol Subcommand: Sendable {
    /// The word that selects the subcommand.
    static var name: String { get }
    /// One line for the subcommand list.
    static var abstract: String { get }
    /// The arguments part of the usage line, e.g. `ADDR --len N`.
    static var usage: String { get }
    /// Positional arguments, for help.
    static var positionals: [Positional] { get }
    /// Options besides the shared ones.
    static var options: [Option] { get }
    /// Further help paragraphs.
    static var discussion: String { get }
    /// Whether the only positional argument is the dump (`kvmdump msgbuf vmcore.0`).
    static var takesDumpPositionally: Bool { get }

    /// Validates the parsed command line; every usage error is found here, before any work.
    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError)
    /// Does the work, writing results to `console.out` and per-item errors through `console.diagnose`.
    func run(_ console: Console) throws(CommandFailure) -> ExitStatus
}

extension Subcommand {
    static var positionals: [Positional] { [] }
    static var options: [Option] { [] }
    static var discussion: String { "" }
    static var takesDumpPositionally: Bool { false }
}

/// The options every subcommand accepts, and the dump and kernel paths they resolve to.
struct SharedOptions: Sendable {
    static let core = Option.value(
        "core", short: "M", "PATH", help: "The dump (default: $KVMDUMP_CORE, else /var/crash/vmcore.last).")
    static let kernel = Option.value(
        "kernel", short: "N", "PATH",
        help: "The kernel image (default: $KVMDUMP_KERNEL, else /boot/kernel/kernel if present).")
    static let json = Option.flag("json", help: "Print JSON instead of text.")
    static let help = Option.flag("help", short: "h", help: "Show help.")
    /// The shared options, in help order.
    static let all = [core, kernel, json, help]

    /// Where the dump comes from if nothing else names it.
    static let defaultCore = "/var/crash/vmcore.last"
    /// The kernel image used if present and nothing else names one.
    static let defaultKernel = "/boot/kernel/kernel"

    /// `-M`, else the positional dump, else `$KVMDUMP_CORE`, else `/var/crash/vmcore.last`.
    let corePath: String
    /// `-N`, else `$KVMDUMP_KERNEL`, else `/boot/kernel/kernel` if it exists. Stored for the symbol features.
    let kernelPath: String?
    /// Whether to print JSON.
    let json: Bool

    /// Resolves the paths; `positionalCore` is the dump given as a positional argument, if the command takes one.
    init(_ arguments: ParsedArguments, positionalCore: String? = nil) throws(UsageError) {
        let option = arguments.value(Self.core)
        if let option, let positionalCore, option != positionalCore {
            throw UsageError("two dumps given: '\(option)' (-M) and '\(positionalCore)'")
        }
        corePath = option ?? positionalCore ?? environment("KVMDUMP_CORE") ?? Self.defaultCore
        kernelPath = arguments.value(Self.kernel) ?? environment("KVMDUMP_KERNEL")
            ?? (fileExists(Self.defaultKernel) ? Self.defaultKernel : nil)
        json = arguments.has(Self.json)
    }

    /// Opens the dump (an ELF full dump with its kernel page tables when a kernel image is
    /// configured, see `withKernelTables`); a failure carries the library's message, which starts
    /// with the path.
    func openDump(_ console: Console, access: DumpAccess = .pages) throws(CommandFailure) -> Dump {
        try withKernelTables(try Self.openDump(at: corePath, console, access: access))
    }

    /// Opens the dump at `path`, plain or compressed (`DumpFiles`): `path.zst` or `path.gz` if `path`
    /// is absent; a progress line on a terminal while a compressed dump is first decompressed; a
    /// warning when its stream stopped early (the dump is then read as truncated).
    static func openDump(at path: String, _ console: Console, access: DumpAccess = .pages) throws(CommandFailure) -> Dump {
        try openDumpFile(at: path, console, access: access).dump
    }

    /// `openDump(at:_:access:)` with how the dump was decompressed (and whether only its metadata was).
    static func openDumpFile(at path: String, _ console: Console, access: DumpAccess = .pages) throws(CommandFailure) -> OpenedDumpFile {
        let progress = Progress(enabled: standardErrorIsTerminal, label: "decompressing \(DumpFiles.resolve(path))")
        defer { progress.end() }
        let opened: OpenedDumpFile
        do {
            opened = try DumpFiles.open(path, access: access, progress: { progress.update($0, $1) })
        } catch {
            throw CommandFailure(message: error.description)
        }
        progress.end()
        if let stopped = opened.decompression?.stopped {
            console.warnOnce("\(opened.dump.path): warning: \(stopped); the \(opened.dump.fileSize) bytes decoded before it are read as the dump")
        }
        return opened
    }
}

/// For subcommands whose only positional argument is the dump: returns it, or nil.
private func dumpPositional(_ arguments: ParsedArguments) throws(UsageError) -> String? {
    guard arguments.positionals.count <= 1 else {
        throw UsageError("unexpected argument '\(arguments.positionals[1])'")
    }
    return arguments.positionals.first
}

/// Throws a usage error if more than one of `options` was given.
func requireAtMostOne(of options: [Option], in arguments: ParsedArguments) throws(UsageError) {
    let given = options.filter { arguments.has($0) || arguments.value($0) != nil }
    if given.count > 1 {
        throw UsageError("options " + given.map { "'--\($0.long)'" }.joined(separator: " and ") + " cannot be combined")
    }
}

/// The tool: global options, subcommand dispatch and help.
enum Tool {
    /// The version printed by `--version`.
    static let version = "0.1.0"
    /// Every subcommand, in help order.
    static let subcommands: [any Subcommand.Type] = [
        HeaderCommand.self, MsgbufCommand.self, ReadCommand.self, TranslateCommand.self,
        PagesCommand.self, StatsCommand.self, SymCommand.self, InfoCommand.self,
        PsCommand.self, ThreadsCommand.self, BtCommand.self, ExportCommand.self,
    ]
    static let versionOption = Option.flag("version", help: "Show the version.")

    /// Parses `arguments` (without the program name), runs the subcommand and returns the exit status.
    static func run(_ arguments: [String], console: Console) -> ExitStatus {
        do throws(UsageError) {
            let (global, rest) = try ArgumentParser.parse(
                arguments[...], options: SharedOptions.all + [versionOption], stopAtPositional: true)
            if global.has(versionOption) {
                console.out.line("kvmdump " + version)
                return .success
            }
            guard rest < arguments.count else {
                if global.has(SharedOptions.help) {
                    writeToolHelp(to: console.out)
                    return .success
                }
                throw UsageError("missing subcommand")
            }
            let name = arguments[rest]
            if name == "help" {
                return try help(arguments[(rest + 1)...], console: console)
            }
            guard let command = subcommands.first(where: { $0.name == name }) else {
                throw UsageError("unknown subcommand '\(name)'")
            }
            return try run(command, global: global, arguments[(rest + 1)...], console: console)
        } catch {
            console.diagnose(error)
            return .usage
        }
    }

    private static func run(
        _ command: any Subcommand.Type, global: ParsedArguments, _ arguments: ArraySlice<String>, console: Console
    ) throws(UsageError) -> ExitStatus {
        var parsed = global
        let instance: any Subcommand
        do throws(UsageError) {
            parsed.merge(try ArgumentParser.parse(arguments, options: SharedOptions.all + command.options).0)
            if parsed.has(SharedOptions.help) {
                writeHelp(command, to: console.out)
                return .success
            }
            let positionalCore = command.takesDumpPositionally ? try dumpPositional(parsed) : nil
            instance = try command.init(parsed, shared: try SharedOptions(parsed, positionalCore: positionalCore))
        } catch {
            throw UsageError(error.message, command: command.name)
        }
        do {
            return try instance.run(console)
        } catch {
            console.diagnose(error.message)
            return .failure
        }
    }

    /// `kvmdump help [SUBCOMMAND]`.
    private static func help(_ arguments: ArraySlice<String>, console: Console) throws(UsageError) -> ExitStatus {
        guard let name = arguments.first else {
            writeToolHelp(to: console.out)
            return .success
        }
        if name == "--help" || name == "-h" {
            guard arguments.count == 1 else { throw UsageError("help takes one subcommand") }
            writeHelpHelp(to: console.out)
            return .success
        }
        if name == "help", arguments.count == 1 {
            writeHelpHelp(to: console.out)
            return .success
        }
        guard arguments.count == 1, let command = subcommands.first(where: { $0.name == name }) else {
            throw UsageError(arguments.count == 1 ? "unknown subcommand '\(name)'" : "help takes one subcommand")
        }
        writeHelp(command, to: console.out)
        return .success
    }

    /// The tool's help: usage, subcommands, shared options, environment and exit statuses.
    static func writeToolHelp(to out: OutputBuffer) {
        let architectures = Dump.supportedArchitectures.joined(separator: ", ")
        out.line("kvmdump: read FreeBSD \(architectures) kernel crash dumps (minidumps; amd64 full dumps) on any host.")
        out.line()
        out.line("USAGE: kvmdump [OPTIONS] SUBCOMMAND [ARGUMENTS]")
        out.line()
        out.line("SUBCOMMANDS:")
        var list = Table()
        list.rows = subcommands.map { ["  " + $0.name, $0.abstract] }
        list.rows.append(["  help", "Show help for a subcommand: kvmdump help SUBCOMMAND."])
        list.write(to: out)
        out.line()
        out.line("OPTIONS (accepted by every subcommand):")
        writeOptions(SharedOptions.all + [versionOption], to: out)
        out.line()
        out.line("ENVIRONMENT:")
        out.line("  KVMDUMP_CORE    The dump used when -M is not given.")
        out.line("  KVMDUMP_KERNEL  The kernel image used when -N is not given.")
        out.line("  KVMDUMP_CACHE   Where decompressed dumps and page indexes are cached (else")
        out.line("                  $XDG_CACHE_HOME/kvmdump, else ~/.cache/kvmdump).")
        out.line("  KVMDUMP_INDEX_CACHE=0  Count a large bitmap at every command instead of keeping its")
        out.line("                  page index in the cache directory (see INDEX CACHE in kvmdump(1)).")
        out.line()
        out.line("COMPRESSED DUMPS: vmcore.N.gz and vmcore.N.zst (dumpon -z / -Z, savecore -z) are read in")
        out.line("place, recognised by their magic; -M PATH also finds PATH.zst or PATH.gz when PATH is absent.")
        out.line("header, and msgbuf without a kernel, decode only the metadata at the front. Every other")
        out.line("command needs one pass over the stream the first time (progress on a terminal), kept in the")
        out.line("cache directory above for the next: for .zst a decompressed sparse copy, as large as the")
        out.line("dump less its zero pages; for .gz a checkpoint index (about 1/128 of the dump, less its zero")
        out.line("windows) from which a read decodes at most 4 MiB. Clear it with: rm -r ~/.cache/kvmdump (or")
        out.line("the directory set). A damaged or cut stream is read as a truncated dump, with a warning.")
        out.line()
        out.line("EXIT STATUS: 0 success, 1 dump or address error, 2 usage error.")
        out.line("See 'kvmdump help SUBCOMMAND' and kvmdump(1).")
    }

    /// `kvmdump help --help`.
    static func writeHelpHelp(to out: OutputBuffer) {
        out.line("kvmdump help: Show help for the tool or for a subcommand.")
        out.line()
        out.line("USAGE: kvmdump help [SUBCOMMAND]")
        out.line()
        out.line("ARGUMENTS:")
        var list = Table()
        list.rows = [["  SUBCOMMAND", "One of: " + (subcommands.map { $0.name } + ["help"]).joined(separator: ", ") + "."]]
        list.write(to: out)
        out.line()
        out.line("Without SUBCOMMAND: the tool's help (as kvmdump --help). 'kvmdump help SUBCOMMAND' is")
        out.line("'kvmdump SUBCOMMAND --help'. The manual page is kvmdump(1).")
    }

    /// A subcommand's help, generated from its declarations.
    static func writeHelp(_ command: any Subcommand.Type, to out: OutputBuffer) {
        out.line("kvmdump \(command.name): \(command.abstract)")
        out.line()
        out.line("USAGE: kvmdump \(command.name) [OPTIONS] \(command.usage)")
        if !command.positionals.isEmpty {
            out.line()
            out.line("ARGUMENTS:")
            var list = Table()
            list.rows = command.positionals.map { ["  " + $0.name, $0.help] }
            list.write(to: out)
        }
        out.line()
        out.line("OPTIONS:")
        writeOptions(command.options + SharedOptions.all, to: out)
        if !command.discussion.isEmpty {
            out.line()
            out.write(command.discussion)
            if !command.discussion.hasSuffix("\n") { out.line() }
        }
    }

    private static func writeOptions(_ options: [Option], to out: OutputBuffer) {
        var list = Table()
        list.rows = options.map { ["  " + $0.synopsis, $0.help] }
        list.write(to: out)
    }
}
