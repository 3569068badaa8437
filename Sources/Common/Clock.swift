// The one clock of gasa (monotonic: unaffected by changes of the wall clock), for speeds, time limits
// and progress, and the short form of a duration that progress lines show.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Seconds since an arbitrary fixed moment.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// 42s, 3m07s, 2h05m; "?" for a value that is not a duration.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0, seconds < 1e15 else { return "?" }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
}
