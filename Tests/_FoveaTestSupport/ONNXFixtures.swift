import Foundation
import FoveaONNX
import FoveaTensor

/// The ONNX golden files (Tests/Golden/onnx, written by Tests/Golden/make_onnx_golden.py).
public enum ONNXFixtures {
    public static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Golden/onnx")

    /// The committed graph `name`.onnx copied into a fresh temporary folder, with its external
    /// data file written from `weight(initializerName, shape)` at the offsets the graph records.
    /// Returns the copy's URL; delete its folder when done.
    public static func graphWithExternalData(_ name: String, weight: (String, [Int]) throws -> Tensor) throws -> URL {
        let source = folder.appendingPathComponent("\(name).onnx")
        let target = Scratch.url("fovea-onnx")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        var files: [String: Data] = [:]
        for t in try ONNXGraph.externalTensors(of: source) {
            let values = try weight(t.name, t.shape).scalars
            precondition(values.count == t.shape.reduce(1, *), "\(t.name): \(values.count) values for \(t.shape)")
            var bytes = Data()
            if t.dataType == 7 {
                for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { bytes.append(contentsOf: $0) } }
            } else {
                precondition(t.dataType == 1, "\(t.name): element type \(t.dataType)")
                for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            }
            var data = files[t.location] ?? Data()
            if data.count < t.offset + bytes.count { data.append(Data(count: t.offset + bytes.count - data.count)) }
            data.replaceSubrange(t.offset..<(t.offset + bytes.count), with: bytes)
            files[t.location] = data
        }
        for (location, data) in files { try data.write(to: target.appendingPathComponent(location)) }
        let copy = target.appendingPathComponent("\(name).onnx")
        try FileManager.default.copyItem(at: source, to: copy)
        return copy
    }
}
