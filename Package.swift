// swift-tools-version:5.9
// gasa: Unicode-first char-rnn. Corpus -> shards -> Training (Model, Compute) -> checkpoint -> Sampling.
import PackageDescription

// Release builds keep Swift's runtime checks (overflow, bounds, preconditions): a bad value traps with a
// message instead of running on as undefined behaviour. The hot loops are oneDNN's and the C kernels'.
let optimize: [SwiftSetting] = [.unsafeFlags(["-wmo"], .when(configuration: .release))]

let package = Package(
    name: "gasa",
    products: [
        .executable(name: "gasa", targets: ["gasa"]),
        .executable(name: "gasa-fuzz", targets: ["GasaFuzz"]),
        .library(name: "Corpus", targets: ["Corpus"]),
        .library(name: "Model", targets: ["Model"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // System libraries: the module maps and shim headers only.
        .systemLibrary(name: "CICU", pkgConfig: "icu-uc", providers: [.apt(["libicu-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // The only C code: unversioned wrappers over system ICU (see its header for why), the one entry
        // point into oneDNN (Debian libdnnl-dev), the Linux calls Swift's Glibc module leaves out, and
        // Open MPI's few calls.
        .target(name: "ICUShim", dependencies: ["CICU"]),
        .target(name: "KernelShim", linkerSettings: [.linkedLibrary("dnnl")]),
        .target(name: "SysShim"),
        // Open MPI for training under mpirun, loaded at run time (no build or run dependency otherwise).
        .target(name: "MPIShim", linkerSettings: [.linkedLibrary("dl")]),
        // What the stages share that is not files: the clock, progress lines, text tables, SVG charts, JSON.
        .target(name: "Common", swiftSettings: optimize),
        // Files: atomic writes, memory maps, bounds-checked reads, CRC-32, owned folders. Shared by every stage.
        .target(name: "Storage", dependencies: ["CZlib", "SysShim"], swiftSettings: optimize),
        .target(name: "Corpus", dependencies: ["Common", "ICUShim", "Storage"], swiftSettings: optimize),
        .target(name: "Compute", dependencies: ["KernelShim"], swiftSettings: optimize),
        .target(name: "Model", dependencies: ["Compute", "Storage", "KernelShim"], swiftSettings: optimize),
        .target(name: "Training", dependencies: ["Common", "Model", "Compute", "Corpus", "MPIShim"],
                swiftSettings: optimize),
        .target(name: "Sampling", dependencies: ["Common", "Model", "Compute", "Corpus"], swiftSettings: optimize),
        // gasa serve: the web page and its JSON API over the models of trained runs (Hummingbird 2).
        .target(name: "Serve",
                dependencies: ["Common", "Corpus", "Model", "Compute", "Training", "Sampling",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                swiftSettings: optimize),
        .executableTarget(
            name: "gasa",
            dependencies: [
                "Common", "Corpus", "Model", "Compute", "Storage", "Training", "Sampling", "Serve",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimize),

        // The readers as fuzz targets (tools/fuzz.sh builds it with libFuzzer; as built here it replays files).
        .executableTarget(name: "GasaFuzz", dependencies: ["Storage", "Corpus", "Model", "Training", "Sampling"]),

        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "CorpusTests", dependencies: ["Common", "Corpus"]),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "KernelShim"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Compute", "KernelShim"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Common", "Training", "Model", "Corpus"]),
        .testTarget(name: "SamplingTests", dependencies: ["Sampling", "Model", "Compute", "Corpus"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ServeTests",
                    dependencies: ["Serve", "Training", "Sampling", "Corpus", "Compute",
                                   .product(name: "HummingbirdTesting", package: "hummingbird")]),
        .testTarget(name: "gasaTests", dependencies: ["Common", "Corpus", "Compute", "Storage", "gasa"]),
    ]
)
