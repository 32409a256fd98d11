import Foundation
import Fovea
import FoveaTensor

/// scikit-learn's digits (`sklearn/datasets/data/digits.csv`, fetched to the cache's
/// `datasets/digits.csv`): rows of 64 pixel values (8x8, 0...16) followed by the label.
public enum Digits {
    public static func load(_ url: URL) throws -> (pixels: Tensor, labels: [Int]) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw FoveaError("\(url.path): cannot read the digits CSV")
        }
        var values: [Float] = [], labels: [Int] = []
        for (n, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            let fields = line.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard fields.count == 65, fields.allSatisfy({ $0 != nil }), let label = fields[64], label >= 0, label <= 9 else {
                throw FoveaError("\(url.path):\(n + 1): expected 64 pixel values and a label 0-9")
            }
            values += fields[0..<64].map { $0! }
            labels.append(Int(label))
        }
        guard !labels.isEmpty else { throw FoveaError("\(url.path): no rows") }
        return (Tensor(shape: [labels.count, 64], values: values), labels)
    }
}
