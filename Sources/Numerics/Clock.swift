// Wall-clock time for throughput figures and time limits (monotonic: unaffected by clock changes).
#if canImport(Glibc)
import Glibc
#endif

public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
