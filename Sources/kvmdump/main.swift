/// Entry point: ignore SIGPIPE, run, flush, exit. A reader that closes the pipe early (`| head`) is seen as
/// EPIPE: output stops, no error is printed, and the exit status is 0.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MappedBytes
import MinidumpCore

signal(SIGPIPE, SIG_IGN)
let console = Console()
var status = Tool.run(Array(CommandLine.arguments.dropFirst()), console: console)
// A file that shrank while it was mapped did not kill the process (SIGBUS is guarded), but what was
// read past its new end was zeros: a command that did not fail already (with its own message) fails here.
if status == .success {
    for report in Dump.shrunkFileReports() {
        console.diagnose(report)
        status = .failure
    }
}
console.out.flush()
if let code = console.out.failure {
    console.diagnose("standard output: \(errorText(code))")
    status = .failure
} else if console.readerGone {
    status = .success
}
exit(status.rawValue)
