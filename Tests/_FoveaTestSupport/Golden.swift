import Foundation
import Fovea
import FoveaIO
import FoveaTensor

/// Golden files written by Tests/Golden/make_golden.py (PyTorch), committed beside it.
public enum Golden {
    public static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Golden/efficientnet_lite0")   // Tests/Golden

    public static func npy(_ name: String) throws -> Tensor { try NPY.read(folder.appendingPathComponent(name)) }
    public static func image(_ name: String) throws -> Image { try Image.load(path: folder.appendingPathComponent(name).path) }
    public static var json: [String: Any] {
        get throws {
            let data = try Data(contentsOf: folder.appendingPathComponent("golden.json"))
            return try JSONSerialization.jsonObject(with: data) as! [String: Any]
        }
    }
}

/// The fetched EfficientNet-Lite0 (`make test` fetches it first), loaded once.
public enum Pretrained {
    public static let workspace = Workspace()
    /// A freshly loaded model per call: tests in different suites run in parallel and install
    /// hooks, so they must not share one module.
    public static var efficientNet: Result<ImageClassifier, Error> { Result { try ImageClassifier.load("efficientnet-lite0") } }
}

/// ||a - b|| / ||b||
public func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
    return (num / max(den, 1e-30)).squareRoot()
}

public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
