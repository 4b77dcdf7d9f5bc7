/// Entry point: ignore SIGPIPE (a closed pipe is seen as EPIPE and ends output quietly), run, flush, exit.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

signal(SIGPIPE, SIG_IGN)
let console = Console()
var status = Tool.run(Array(CommandLine.arguments.dropFirst()), console: console)
console.out.flush()
if let code = console.out.failure {
    console.diagnose("standard output: \(errorText(code))")
    status = .failure
}
exit(status.rawValue)
