import Foundation
import FoveaTensor
@testable import FoveaONNX

/// Tests/Golden/onnx, written by Tests/Golden/make_onnx_golden.py.
let onnxGoldenFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Golden/onnx")

/// The committed graph `name`.onnx copied into a fresh temporary folder, with its external data
/// file written from `weight(initializerName, shape)` at the offsets the graph records. Returns the
/// copy's URL.
func graphWithExternalData(_ name: String, weight: (String, [Int]) throws -> Tensor) throws -> URL {
    let source = onnxGoldenFolder.appendingPathComponent("\(name).onnx")
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-onnx-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: source))
    var data = Data()
    for initializer in model.graph.initializer {
        var fields: [String: String] = [:]
        for e in initializer.externalData { fields[e.key] = e.value }
        guard let location = fields["location"], let offset = Int(fields["offset"] ?? "0") else { continue }
        let expected = initializer.dims.map(Int.init)
        let t = try weight(initializer.name, expected)
        guard t.shape == expected || t.count == expected.reduce(1, *) else {
            throw ONNXError("\(initializer.name): weight shape \(t.shape), graph \(expected)")
        }
        if data.count < offset { data.append(Data(count: offset - data.count)) }
        var bytes = Data(count: t.count * 4)
        if initializer.dataType == ONNXDataType.int64.rawValue {
            bytes = Data(count: t.count * 8)
            bytes.withUnsafeMutableBytes { raw in for (k, v) in t.scalars.enumerated() { raw.storeBytes(of: Int64(v), toByteOffset: k * 8, as: Int64.self) } }
        } else {
            bytes.withUnsafeMutableBytes { raw in for (k, v) in t.scalars.enumerated() { raw.storeBytes(of: v, toByteOffset: k * 4, as: Float.self) } }
        }
        data.replaceSubrange(offset..<min(offset + bytes.count, data.count), with: bytes)
        _ = location
    }
    let location = model.graph.initializer.lazy.compactMap { $0.externalData.first { $0.key == "location" }?.value }.first ?? "\(name).onnx.data"
    try data.write(to: folder.appendingPathComponent(location))
    let copy = folder.appendingPathComponent("\(name).onnx")
    try FileManager.default.copyItem(at: source, to: copy)
    return copy
}
