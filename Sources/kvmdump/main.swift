/// Entry point: ignore SIGPIPE, run, flush, exit. A reader that closes the pipe early (`| head`) is seen as
/// EPIPE: output stops, no error is printed, and the exit status is 0.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MappedBytes

signal(SIGPIPE, SIG_IGN)
let console = Console()
var status = Tool.run(Array(CommandLine.arguments.dropFirst()), console: console)
console.out.flush()
if let code = console.out.failure {
    console.diagnose("standard output: \(errorText(code))")
    status = .failure
} else if console.readerGone {
    status = .success
}
exit(status.rawValue)
