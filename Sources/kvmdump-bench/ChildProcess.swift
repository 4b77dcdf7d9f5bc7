/// Whole-process measurements of the `kvmdump` CLI: posix_spawn, pipes, wait4 and its rusage.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How one child process ended and what it cost.
struct ChildOutcome: Sendable {
    /// Wall time from before spawning to after reaping, in seconds.
    var seconds: Double
    /// `ru_maxrss` from `wait4`, in bytes.
    var peakRSSBytes: Int
    /// Exit status, or 128 + signal number if it was killed.
    var status: Int32
}

/// The path of the running executable (`/proc/self/exe`).
func executablePath() throws(BenchError) -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { throw BenchError("cannot read /proc/self/exe: errno \(errno)") }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The `kvmdump` executable built next to this one.
func kvmdumpPath() throws(BenchError) -> String {
    let me = try executablePath()
    let directory = me.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    let path = directory + "/kvmdump"
    guard access(path, X_OK) == 0 else {
        throw BenchError("\(path) not found: build every product (swift build -c release) before the benchmark")
    }
    return path
}

/// Starts `argv` with standard input and output on the given descriptors (nil: /dev/null); standard
/// error is inherited. Descriptors the caller opened with O_CLOEXEC are not passed on.
func spawn(_ argv: [String], stdin: Int32?, stdout: Int32?) throws(BenchError) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    let arguments = argv.map { strdup($0) } + [nil]
    defer { for argument in arguments { free(argument) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, argv[0], &actions, nil, arguments, environ)
    guard result == 0 else { throw BenchError("cannot start \(argv[0]): errno \(result)") }
    return pid
}

/// Reaps `pid`; returns its exit status (128 + signal if killed) and resource usage.
func reap(_ pid: pid_t) throws(BenchError) -> (status: Int32, usage: rusage) {
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else { throw BenchError("wait4 \(pid): errno \(errno)") }
    }
    let signal = status & 0x7f
    return (signal == 0 ? (status >> 8) & 0xff : 128 + signal, usage)
}

/// A pipe whose both ends are close-on-exec (`dup2` in the child clears the flag on the copy).
func makePipe() throws(BenchError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw BenchError("pipe: errno \(errno)") }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
}

/// Reads `fd` to end of file, calling `body` with each chunk.
func drain(_ fd: Int32, _ body: (UnsafeRawBufferPointer) -> Void) throws(BenchError) {
    let capacity = 1 << 16
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    defer { buffer.deallocate() }
    while true {
        let count = read(fd, buffer, capacity)
        if count < 0 {
            if errno == EINTR { continue }
            throw BenchError("read from child: errno \(errno)")
        }
        if count == 0 { return }
        body(UnsafeRawBufferPointer(start: buffer, count: count))
    }
}

/// Runs `argv` once with output discarded, timing it and taking its `ru_maxrss`. Call it only from a
/// small, freshly started process: `ru_maxrss` also counts the address space the child is spawned
/// from (Linux records the old mm's high-water mark at exec), so a large parent inflates it.
func measureChild(_ argv: [String]) throws(BenchError) -> ChildOutcome {
    let clock = ContinuousClock()
    let start = clock.now
    let pid = try spawn(argv, stdin: nil, stdout: nil)
    let (status, usage) = try reap(pid)
    let seconds = (clock.now - start).seconds
    return ChildOutcome(seconds: seconds, peakRSSBytes: usage.ru_maxrss * 1024, status: status)
}

/// The `--probe-child RUNS -- ARGV...` mode: runs ARGV RUNS times and prints one line per run,
/// `nanoseconds maxrss-bytes status`, then `self maxrss-bytes` for this process.
func probeChildMain(runs: Int, argv: [String]) throws(BenchError) {
    var text = ""
    for _ in 0..<runs {
        let outcome = try measureChild(argv)
        text += "\(Int(outcome.seconds * 1e9)) \(outcome.peakRSSBytes) \(outcome.status)\n"
    }
    text += "self \(addressSpacePeakRSSBytes())\n"
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

/// Measures `argv` `runs` times through a fresh copy of this executable in `--probe-child` mode, so
/// the peak RSS is the child's own and not this (large) process's. Also returns the probe's own peak
/// RSS: the floor below which a child's figure cannot go.
func probeChild(_ argv: [String], runs: Int) throws(BenchError) -> (runs: [ChildOutcome], probeRSSBytes: Int) {
    let output = try makePipe()
    let pid: pid_t
    do {
        pid = try spawn([try executablePath(), "--probe-child", String(runs), "--"] + argv, stdin: nil,
                        stdout: output.write)
    } catch {
        close(output.read)
        close(output.write)
        throw error
    }
    close(output.write)
    var bytes: [UInt8] = []
    let drained = Result { () throws(BenchError) in try drain(output.read) { bytes.append(contentsOf: $0) } }
    close(output.read)
    let (status, _) = try reap(pid)
    try drained.get()
    guard status == 0 else { throw BenchError("probe for \(argv.joined(separator: " ")) exited with status \(status)") }
    var outcomes: [ChildOutcome] = []
    var floor = 0
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count == 2, fields[0] == "self", let rss = Int(fields[1]) {
            floor = rss
        } else if fields.count == 3, let ns = Double(fields[0]), let rss = Int(fields[1]), let code = Int32(fields[2]) {
            outcomes.append(ChildOutcome(seconds: ns / 1e9, peakRSSBytes: rss, status: code))
        } else {
            throw BenchError("probe printed an unexpected line: \(line)")
        }
    }
    guard outcomes.count == runs else { throw BenchError("probe returned \(outcomes.count) of \(runs) runs") }
    return (outcomes, floor)
}

/// What `translate -` did with the piped input.
struct PipeOutcome: Sendable {
    /// Wall time from spawn to the child reaped and its output drained.
    var seconds: Double
    /// Answer lines received.
    var lines: Int
    /// Answer lines starting with "error".
    var errors: Int
    /// The child's exit status.
    var status: Int32
}

/// The input a writer thread sends into a pipe and then closes.
private final class PipeFeed: @unchecked Sendable {
    let fd: Int32
    let bytes: [UInt8]
    var failure: Int32 = 0
    init(fd: Int32, bytes: [UInt8]) {
        self.fd = fd
        self.bytes = bytes
    }

    /// Writes everything, then closes the descriptor (the child sees end of input).
    func run() {
        var done = 0
        bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let count = write(fd, raw.baseAddress! + done, raw.count - done)
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                done += count
            }
        }
        close(fd)
    }
}

/// Spawns `kvmdump SUBCOMMAND -M dump -` (`translate` unless told), writes `input` into its standard
/// input from a second thread, drains its standard output on this one, and times the whole exchange.
func pipeThroughTranslate(kvmdump: String, dump: String, input: [UInt8], subcommand: String = "translate") throws(BenchError) -> PipeOutcome {
    let toChild = try makePipe()
    let fromChild = try makePipe()
    let clock = ContinuousClock()
    let start = clock.now
    let pid: pid_t
    do {
        pid = try spawn([kvmdump, subcommand, "-M", dump, "-"], stdin: toChild.read, stdout: fromChild.write)
    } catch {
        for fd in [toChild.read, toChild.write, fromChild.read, fromChild.write] { close(fd) }
        throw error
    }
    close(toChild.read)
    close(fromChild.write)
    let feed = PipeFeed(fd: toChild.write, bytes: input)
    var thread = pthread_t()
    let context = Unmanaged.passRetained(feed).toOpaque()
    let created = pthread_create(&thread, nil, { context in
        let feed = Unmanaged<PipeFeed>.fromOpaque(context!).takeRetainedValue()
        feed.run()
        return nil
    }, context)
    guard created == 0 else {
        Unmanaged<PipeFeed>.fromOpaque(context).release()
        close(toChild.write)
        close(fromChild.read)
        _ = try? reap(pid)
        throw BenchError("pthread_create: errno \(created)")
    }
    var lines = 0
    var errors = 0
    // An error line starts "er"; answers start "va " (translate) or with hex digits (read), never "er".
    var column = 0
    var startsWithE = false
    let drained = Result { () throws(BenchError) in
        try drain(fromChild.read) { chunk in
            for byte in chunk {
                if column == 0 { startsWithE = byte == UInt8(ascii: "e") }
                if column == 1 && startsWithE && byte == UInt8(ascii: "r") { errors += 1 }
                column += 1
                if byte == 0x0a {
                    lines += 1
                    column = 0
                }
            }
        }
    }
    close(fromChild.read)
    pthread_join(thread, nil)
    let (status, _) = try reap(pid)
    let seconds = (clock.now - start).seconds
    try drained.get()
    if feed.failure != 0 { throw BenchError("writing to kvmdump \(subcommand): errno \(feed.failure)") }
    return PipeOutcome(seconds: seconds, lines: lines, errors: errors, status: status)
}
