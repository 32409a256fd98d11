// libFuzzer targets for every file loader, one binary: FOVEA_FUZZ_TARGET names the loader.
// Built by `make fuzz` with -sanitize=fuzzer -DFUZZING (libFuzzer supplies main); a plain build
// makes a stub that says how to run it. Any input may be rejected with an error; none may
// crash, hang or allocate without bound.
import Foundation
@testable import FoveaIO
import FoveaKeras
import FoveaONNX

enum FuzzTarget: String, CaseIterable {
    case png, jpeg, pickle, safetensors, onnx, hdf5, npy, idx

    /// Loads `bytes` as this format; errors are the expected outcome for most inputs.
    func load(_ bytes: [UInt8]) {
        switch self {
        case .png: _ = try? PNG.decode(Data(bytes))
        case .jpeg: _ = try? JPEG.decode(Data(bytes))
        case .pickle: _ = try? TorchCheckpoint.parse(bytes)
        case .safetensors: _ = try? Safetensors.parse(bytes)
        case .onnx: _ = try? ONNXGraph(serialized: Data(bytes), source: "fuzz.onnx")
        case .npy: _ = try? NPY.parse(bytes)
        case .hdf5: withFile(bytes, "h5") { _ = try? KerasModel(contentsOf: $0) }
        case .idx: withFile(bytes, "gz") { _ = try? IDXArray(contentsOf: $0) }
        }
    }

    /// Loaders that read a path get the bytes in a file in memory-backed /dev/shm (or /tmp).
    private func withFile(_ bytes: [UInt8], _ ext: String, _ body: (URL) -> Void) {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let url = URL(fileURLWithPath: "\(folder)/fovea-fuzz-\(getpid()).\(ext)")
        guard (try? Data(bytes).write(to: url)) != nil else { return }
        body(url)
        try? FileManager.default.removeItem(at: url)
    }

    static let current: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["FOVEA_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fputs("FOVEA_FUZZ_TARGET must be one of: \(allCases.map(\.rawValue).joined(separator: ", "))\n", stderr)
            exit(2)
        }
        return target
    }()
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.current.load(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links an executable target's entry point as `<Target>_main`; here it hands over to
/// libFuzzer's driver.
@_cdecl("FoveaFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc, arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOneInput)
}
#else
@main
struct FuzzStub {
    static func main() {
        print("Build and run the fuzz targets with `make fuzz` (libFuzzer: swift build -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING).")
        print("Targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
}
#endif
