// Writing to standard output and standard error. Results go to stdout through `emit`, which checks
// every write: a full disk or a closed pipe is an error with a non-zero exit, never a trap and never
// output silently lost. Messages and progress go to stderr through `printError`, best effort: when
// stderr itself cannot be written there is nobody left to tell, and the work goes on.
import Storage
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

enum Output {
    /// Writes all of `bytes` to `fd` (Storage's writeFully); returns errno on failure.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        do { try writeFully(fd, bytes, path: "") } catch let e as FileError { return e.code } catch { return EIO }
        return nil
    }

    /// Standard output, checked. A reader that went away (EPIPE, as with `| head`) ends the program
    /// quietly with 141, the status a shell reports for a process stopped by SIGPIPE; any other failure
    /// (ENOSPC, EIO, ...) is reported on stderr with exit status 1.
    static func stdout(_ text: String) {
        var text = text
        let failure: Int32? = text.withUTF8 { $0.isEmpty ? nil : writeAll(1, UnsafeRawBufferPointer($0)) }
        guard let code = failure else { return }
        if code == EPIPE { exit(141) }
        stderr("Error: cannot write to standard output: \(String(cString: strerror(code)))")
        exit(1)
    }

    /// Standard error, best effort (see above).
    static func stderr(_ text: String) {
        var line = text
        if !line.hasSuffix("\n") { line += "\n" }
        _ = line.withUTF8 { writeAll(2, UnsafeRawBufferPointer($0)) }
    }
}

/// A line of results on standard output (checked; see Output.stdout).
func emit(_ line: String) {
    Output.stdout(line + "\n")
}

/// A message on standard error (best effort).
func printError(_ s: String) {
    Output.stderr(s)
}
