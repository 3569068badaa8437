// Two ways in. Built with -sanitize=fuzzer -D FUZZING (tools/fuzz.sh), libFuzzer's main drives
// LLVMFuzzerTestOneInput, the target named by GASA_FUZZ_TARGET. Built as usual, gasa-fuzz replays files
// through a target (gasa-fuzz TARGET FILE...), so that a crash libFuzzer found is rerun as a test.
import Foundation

private let selected: FuzzTarget = {
    guard let name = ProcessInfo.processInfo.environment["GASA_FUZZ_TARGET"], let t = FuzzTarget(rawValue: name) else {
        fputs("GASA_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n",
              stderr)
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    fuzz(selected, bytes)
    return 0
}

#if FUZZING
// SwiftPM links an executable's entry point under the name MODULE_main; libFuzzer's driver takes over
// from there.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("GasaFuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v, { data, size in fuzzOneInput(data, size) })
}
#else
@main
struct Replay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: gasa-fuzz TARGET FILE...   (replays files through one reader; TARGET is one of:)")
            for t in FuzzTarget.allCases { print("  \(t.rawValue): \(t.reader)") }
            exit(args.isEmpty ? 0 : 2)
        }
        for path in args.dropFirst() {
            guard let d = FileManager.default.contents(atPath: path) else { fputs("\(path): cannot read\n", stderr); exit(1) }
            fuzz(target, Array(d))
        }
        print("replayed \(args.count - 1) input(s) through \(target.rawValue)")
    }
}
#endif
