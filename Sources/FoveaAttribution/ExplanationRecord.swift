import Foundation
import Fovea
import FoveaIO
import FoveaTensor

/// An ``Explanation`` as a file stores it (`explain --shard` writes these, `fovea merge` draws
/// from them): everything its grid, page and index row are drawn from, bit for bit. Maps are
/// raw little-endian float32 (base64 in JSON), the crop a PNG (8-bit, lossless).
public struct ExplanationRecord: Codable, Sendable {
    struct Entry: Codable, Sendable {
        let method: String
        let height, width: Int
        let layer: String?
        let target: Int
        let values: Data
        let faithfulness: Faithfulness
        let seconds: Double
        /// Integrated Gradients: completeness error and S(x) - S(x').
        let completeness: [Float]?
    }

    struct Skipped: Codable, Sendable {
        let method: String
        let reason: String
    }

    let file, model, label: String
    let crop: Data
    let target: Int
    let probability: Float
    let top: [Prediction.Entry]
    let entries: [Entry]
    let skipped: [Skipped]

    public init(_ e: Explanation) throws {
        (file, model, label, target, probability, top) = (e.file, e.model, e.label, e.target, e.probability, e.top)
        crop = try PNG.encode(e.crop, name: e.file)
        entries = e.entries.map { entry in
            let map = entry.attribution.map
            return Entry(method: entry.attribution.method.rawValue, height: map.height, width: map.width, layer: map.layer,
                         target: map.target, values: map.values.withUnsafeBufferPointer { Data(buffer: $0) },
                         faithfulness: entry.faithfulness, seconds: entry.seconds,
                         completeness: entry.attribution.integrated.map { [$0.completenessError, $0.scoreDifference] })
        }
        skipped = e.skipped.map { Skipped(method: $0.method.rawValue, reason: $0.reason) }
    }

    /// The explanation back; `source` names the file in errors.
    public func explanation(source: String) throws -> Explanation {
        func bad(_ what: String) -> FoveaError { FoveaError("\(source): \(file): \(what)") }
        let entries = try self.entries.map { e -> Explanation.Entry in
            guard let method = AttributionMethod(rawValue: e.method) else { throw bad("unknown method \(e.method)") }
            guard e.height > 0, e.width > 0, e.values.count == 4 * e.height * e.width else {
                throw bad("\(e.method) map is not \(e.height) x \(e.width) floats")
            }
            let values = e.values.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let map = SaliencyMap(values: values, height: e.height, width: e.width, method: e.method, layer: e.layer, target: e.target)
            let integrated = try e.completeness.map { c -> IntegratedGradientsResult in
                guard c.count == 2 else { throw bad("completeness needs 2 numbers") }
                return IntegratedGradientsResult(attribution: Tensor(zeros: [0]), map: map, completenessError: c[0], scoreDifference: c[1])
            }
            return .init(attribution: Attribution(method: method, map: map, integrated: integrated),
                         faithfulness: e.faithfulness, seconds: e.seconds)
        }
        let skipped = try self.skipped.map { s -> (method: AttributionMethod, reason: String) in
            guard let method = AttributionMethod(rawValue: s.method) else { throw bad("unknown method \(s.method)") }
            return (method, s.reason)
        }
        return Explanation(file: file, model: model, crop: try PNG.decode(crop, name: source), target: target, label: label,
                           probability: probability, top: top, entries: entries, skipped: skipped)
    }
}
