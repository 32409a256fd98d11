import CFoveaHDF5
import Foundation
import FoveaTensor

/// A read-only HDF5 file (through libhdf5): string attributes and float datasets by path.
///
/// Debian's libhdf5 is the serial build, which is not thread-safe: every call into it, from any
/// file, holds one process-wide lock, so models can load on several threads at once (as the
/// tests do).
final class HDF5File {
    let path: String
    private let handle: Int64
    private static let library = NSLock()

    /// `label`: the name errors use (an archive's member is unpacked to a temporary path).
    init(path: String, label: String? = nil) throws {
        self.path = label ?? path
        handle = Self.library.withLock { fovea_h5_open(path) }
        guard handle >= 0 else { throw KerasError("\(label ?? path): not an HDF5 file") }
    }

    deinit { Self.library.withLock { fovea_h5_close(handle) } }

    /// Seconds one libhdf5 call may take (FOVEA_HDF5_TIMEOUT, default 30). Debian's libhdf5
    /// loops forever on some corrupt files (found by `make fuzz`); past this, the process stops
    /// with one line naming the file instead of hanging.
    static let timeout = Double(ProcessInfo.processInfo.environment["FOVEA_HDF5_TIMEOUT"] ?? "") ?? 30

    /// `body` (a libhdf5 call) under the library lock and the watchdog.
    private func call<T>(_ body: () -> T) -> T {
        Self.library.withLock {
            let finished = DispatchSemaphore(value: 0)
            let file = path
            Thread.detachNewThread {
                guard finished.wait(timeout: .now() + Self.timeout) == .timedOut else { return }
                fputs("fovea: error: \(file): libhdf5 did not finish reading the file in \(Int(Self.timeout)) s (a corrupt HDF5 file)\n", stderr)
                _exit(1)
            }
            defer { finished.signal() }
            return body()
        }
    }

    func exists(_ object: String) -> Bool { call { fovea_h5_exists(handle, object) != 0 } }

    func stringAttribute(_ object: String, _ name: String) -> String? {
        guard let raw = call({ fovea_h5_string_attribute(handle, object, name) }) else { return nil }
        defer { free(raw) }
        return String(cString: raw)
    }

    func stringArrayAttribute(_ object: String, _ name: String) -> [String]? {
        var strings: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = call { fovea_h5_string_array_attribute(handle, object, name, &strings) }
        guard count >= 0 else { return nil }
        defer { fovea_h5_free_strings(strings, count) }
        return (0..<count).map { strings![$0].map { String(cString: $0) } ?? "" }
    }

    /// The dataset at `path` as float32, with its shape.
    func floats(_ path: String) throws -> Tensor {
        var dims = [Int64](repeating: 0, count: 8)
        let rank = call { fovea_h5_dataset_shape(handle, path, &dims) }
        guard rank >= 0 else { throw KerasError("\(self.path): dataset \(path) is missing") }
        let shape = dims.prefix(Int(rank)).map { Int(clamping: $0) }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) < 1 << 30 else {
            throw KerasError("\(self.path): dataset \(path) has shape \(shape)")
        }
        let count = shape.reduce(1, *)
        var status: Int32 = 0
        let t = Tensor(overwriting: shape) { buffer in
            status = call { fovea_h5_read_floats(handle, path, buffer.baseAddress, Int64(count)) }
        }
        guard status == 0 else { throw KerasError("\(self.path): dataset \(path) is not numeric or cannot be read") }
        return t
    }
}

/// A problem with a Keras file; the message names the file and the layer.
public struct KerasError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
