// swift-tools-version: 6.0
import PackageDescription

// Layers, bottom up: C shims -> FoveaTensor (tensor + autodiff) -> FoveaNN (modules) ->
// FoveaModels (architectures) -> FoveaIO (weights, arrays, images), FoveaONNX, FoveaKeras (imported graphs) -> Fovea (models with their
// weights, labels and preprocessing) -> FoveaOptim (optimisers) -> techniques (FoveaAttribution, FoveaFeatures, FoveaAdversarial,
// FoveaEmbedding, FoveaSynthesis, FoveaStyle) -> FoveaViewer (web) -> fovea (CLI).
let linuxOnly = TargetDependencyCondition.when(platforms: [.linux])

let package = Package(
    name: "Fovea",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fovea", targets: ["FoveaCLI"]),
        .library(name: "Fovea", targets: ["Fovea", "FoveaAttribution", "FoveaFeatures", "FoveaAdversarial", "FoveaEmbedding", "FoveaTraining", "FoveaSynthesis", "FoveaStyle", "FoveaOptim", "FoveaTensor", "FoveaNN", "FoveaModels", "FoveaIO", "FoveaONNX", "FoveaKeras"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),          // tests only: the Kubernetes manifest
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CFFTW", path: "Sources/CFFTW", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CPangoCairo", path: "Sources/CPangoCairo", pkgConfig: "pangocairo",
                       providers: [.apt(["libpango1.0-dev", "libcairo2-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", providers: [.apt(["libjpeg-dev"])]),
        .target(name: "CFoveaParallel"),
        // oneDNN convolutions (Debian libdnnl-dev; libdnnl.so.2 opened at run time), Linux only.
        .target(name: "CFoveaDNNL"),
        .target(name: "FoveaTensor",
                dependencies: [.target(name: "CBLAS", condition: linuxOnly), .target(name: "CFoveaDNNL", condition: linuxOnly),
                               "CFFTW", "CFoveaParallel"],
                // Kernels are compiled for AVX2 + FMA (x86-64 from 2013 on) on Linux, so loops
                // vectorise 8-wide and fused multiply-adds are single instructions.
                swiftSettings: [.unsafeFlags(["-Ounchecked"]),
                                .unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux]))]),
        .target(name: "FoveaNN", dependencies: ["FoveaTensor"]),
        .target(name: "FoveaModels", dependencies: ["FoveaNN"]),
        .target(name: "CFoveaPNG", dependencies: ["CPNG"], linkerSettings: [.linkedLibrary("png16")]),
        .target(name: "CFoveaJPEG", dependencies: ["CJPEG"], linkerSettings: [.linkedLibrary("jpeg")]),
        // ONNX import: Generated/onnx.pb.swift comes from scripts/generate-onnx-proto.sh.
        .target(name: "FoveaONNX", dependencies: ["FoveaNN", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Keras .h5 import through libhdf5 (Debian libhdf5-dev).
        .target(name: "CFoveaHDF5", linkerSettings: [.linkedLibrary("hdf5_serial")]),
        .target(name: "FoveaKeras", dependencies: ["FoveaNN", "FoveaIO", "CFoveaHDF5"]),
        .target(name: "FoveaIO", dependencies: ["FoveaTensor", "CPNG", "CJPEG", "CZlib", "CFoveaPNG", "CFoveaJPEG", "CPangoCairo"]),
        .target(name: "Fovea", dependencies: ["FoveaModels", "FoveaIO", "FoveaONNX", "FoveaKeras"],
                // fashion-cnn's trained weights (fovea train; see README).
                resources: [.copy("Resources/fashion-cnn.safetensors")]),
        .target(name: "FoveaAttribution", dependencies: ["Fovea"]),
        .target(name: "FoveaFeatures", dependencies: ["Fovea"]),
        .target(name: "FoveaAdversarial", dependencies: ["Fovea", "FoveaAttribution"]),
        // t-SNE's and the neighbour search's loops, 8 and 16 lanes wide, for AVX2 + FMA as FoveaTensor.
        .target(name: "FoveaEmbedding", dependencies: ["Fovea"],
                swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux]))]),
        // Optimisers for any tensor (SGD, Adam, L-BFGS), below the techniques that use them.
        .target(name: "FoveaOptim", dependencies: ["FoveaTensor"]),
        .target(name: "FoveaTraining", dependencies: ["Fovea", "FoveaOptim"]),
        // Image synthesis: objectives x parameterisations x transforms x priors, one loop.
        .target(name: "FoveaSynthesis", dependencies: ["Fovea", "FoveaOptim"],
                resources: [.copy("Resources/maco-spectrum.npy")]),
        // Texture and style: Gram statistics, Gatys transfer, feed-forward (Johnson) and AdaIN networks.
        // Networks trained by `fovea train-style` / `train-adain`, shipped (see README).
        .target(name: "FoveaStyle", dependencies: ["FoveaSynthesis", "FoveaOptim"],
                resources: [.copy("Resources/scream.safetensors"), .copy("Resources/adain-decoder.safetensors")]),
        // `fovea serve`: the local web viewer, over Hummingbird 2.
        .target(name: "FoveaViewer", dependencies: ["Fovea", "FoveaAttribution", "FoveaFeatures", "FoveaEmbedding", "FoveaSynthesis", "FoveaAdversarial", "FoveaStyle",
                                                    .product(name: "Hummingbird", package: "hummingbird"),
                                                    .product(name: "Logging", package: "swift-log"),
                                                    .product(name: "HTTPTypes", package: "swift-http-types")]),
        // libFuzzer targets for the file loaders (`make fuzz`).
        .executableTarget(name: "FoveaFuzz", dependencies: ["FoveaIO", "FoveaONNX", "FoveaKeras"],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "FoveaCLI",
                          dependencies: ["Fovea", "FoveaIO", "FoveaAttribution", "FoveaFeatures", "FoveaAdversarial", "FoveaEmbedding", "FoveaTraining", "FoveaSynthesis", "FoveaStyle", "FoveaOptim", "FoveaTensor", "FoveaNN", "FoveaModels", "FoveaViewer",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "FoveaTensorTests", dependencies: ["FoveaTensor"]),
        .testTarget(name: "FoveaIOTests", dependencies: ["FoveaIO"], resources: [.copy("Fixtures")]),
        .target(name: "_FoveaTestSupport", dependencies: ["Fovea", "FoveaONNX"], path: "Tests/_FoveaTestSupport"),
        .testTarget(name: "FoveaKerasTests", dependencies: ["FoveaKeras", "Fovea", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaONNXTests", dependencies: ["FoveaONNX", "Fovea", "FoveaAttribution", "FoveaEmbedding", "FoveaFeatures", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaModelTests", dependencies: ["Fovea", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaAttributionTests", dependencies: ["FoveaAttribution", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaFeaturesTests", dependencies: ["FoveaFeatures", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaAdversarialTests", dependencies: ["FoveaAdversarial", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaEmbeddingTests", dependencies: ["FoveaEmbedding", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaSynthesisTests", dependencies: ["FoveaSynthesis", "FoveaOptim", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaStyleTests", dependencies: ["FoveaStyle", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaTrainingTests", dependencies: ["FoveaTraining", "_FoveaTestSupport"]),
        .testTarget(name: "FoveaViewerTests", dependencies: ["FoveaViewer", "FoveaAdversarial", "FoveaStyle", "FoveaTensor", "_FoveaTestSupport",
                                                            .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                            .product(name: "HTTPTypes", package: "swift-http-types")]),
        .testTarget(name: "FoveaCLITests", dependencies: ["FoveaCLI", "_FoveaTestSupport", .product(name: "Yams", package: "Yams")]),
    ],
    swiftLanguageModes: [.v5]
)
