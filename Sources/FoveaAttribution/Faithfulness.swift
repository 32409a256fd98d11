import Foundation
import Fovea
import FoveaTensor

/// Deletion and insertion scores (Petsiuk et al. 2018, RISE) of a saliency map.
///
/// Pixels are ranked by the map (upsampled bilinearly to the input size). Deletion replaces the
/// most salient fraction f of pixels by a baseline image and records the target's probability
/// for f = 0, 1/n, ..., 1; insertion starts from the baseline and puts the original pixels back in
/// the same order. Each score is the area under its curve (trapezoidal, f in [0, 1]): a
/// faithful map has a low deletion AUC and a high insertion AUC.
public struct Faithfulness: Codable, Sendable {
    public enum Baseline: String, CaseIterable, Codable, Sendable {
        /// Gaussian blur of the input (sigma 5 px, as in RISE): removes detail, keeps colour.
        case blur
        /// All zeros in the model's input space (the mean colour after normalisation).
        case zero
    }

    public let baseline: Baseline
    public let deletionAUC: Float
    public let insertionAUC: Float
    /// Target probability after each step, f = 0, 1/n, ..., 1.
    public let deletionCurve: [Float]
    public let insertionCurve: [Float]
}

extension ImageClassifier {
    /// Deletion and insertion AUCs of `map` for its target, in `steps` steps.
    public func faithfulness(of map: SaliencyMap, input: Tensor, baseline: Faithfulness.Baseline = .blur,
                             steps: Int = 32, batch: Int = 8) -> Faithfulness {
        FrozenWeights.run {
            let (c, h, w) = (input.shape[1], input.shape[2], input.shape[3])
            let reference = baselineImage(input, baseline)
            let importance = map.importance
            let ranked = withNoGrad {
                importance.tensor.reshaped([1, 1, map.height, map.width]).resized(height: h, width: w, mode: .bilinear)
            }.scalars
            // Pixel indices, most salient first (ties broken by position, so runs are reproducible).
            let order = ranked.indices.sorted { ranked[$0] != ranked[$1] ? ranked[$0] > ranked[$1] : $0 < $1 }
            let fractions = (0...steps).map { Float($0) / Float(steps) }

            /// Probability curve for images that take `first` at the k most salient pixels and `rest`
            /// elsewhere, k = fraction * H * W.
            func curve(first: Tensor, rest: Tensor) -> [Float] {
                var probabilities: [Float] = []
                for start in stride(from: 0, to: fractions.count, by: batch) {
                    let chunk = Array(fractions[start..<min(start + batch, fractions.count)])
                    let images = chunk.map { f -> Tensor in
                        let k = Int((f * Float(h * w)).rounded())
                        let image = rest.copy()
                        let dst = image.storage.pointer, src = first.storage.pointer
                        for i in order.prefix(k) { for ch in 0..<c { dst[ch * h * w + i] = src[ch * h * w + i] } }
                        return image
                    }
                    let p = logits(Tensor.concat(images, axis: 0)).softmax(axis: 1)
                    for row in 0..<chunk.count { probabilities.append(p.storage.pointer[row * p.shape[1] + map.target]) }
                }
                return probabilities
            }
            let deletion = curve(first: reference, rest: input)
            let insertion = curve(first: input, rest: reference)
            func auc(_ y: [Float]) -> Float {
                zip(y, y.dropFirst()).reduce(0) { $0 + ($1.0 + $1.1) / 2 } / Float(y.count - 1)
            }
            return Faithfulness(baseline: baseline, deletionAUC: auc(deletion), insertionAUC: auc(insertion),
                                deletionCurve: deletion, insertionCurve: insertion)
        }
    }

    /// The image that removed pixels take: a Gaussian blur (sigma 5, 31 taps, reflected
    /// borders, separable) or zeros.
    public func baselineImage(_ x: Tensor, _ baseline: Faithfulness.Baseline) -> Tensor {
        switch baseline {
        case .zero:
            return Tensor(zeros: x.shape)
        case .blur:
            let sigma: Float = 5, radius = 15, c = x.shape[1]
            var taps = (-radius...radius).map { Foundation.exp(-Float($0 * $0) / (2 * sigma * sigma)) }
            let total = taps.reduce(0, +)
            taps = taps.map { $0 / total }
            return withNoGrad {
                let row = Tensor(shape: [1, 1, 1, 2 * radius + 1], values: taps).expanded(to: [c, 1, 1, 2 * radius + 1])
                let column = row.reshaped([c, 1, 2 * radius + 1, 1])
                let r = min(radius, x.shape[2] - 1, x.shape[3] - 1)
                let horizontal = x.padded(top: 0, bottom: 0, left: r, right: r, mode: .reflect)
                    .conv2d(weight: r == radius ? row : row.slice(axis: 3, (radius - r)..<(radius + r + 1)), groups: c)
                return horizontal.padded(top: r, bottom: r, left: 0, right: 0, mode: .reflect)
                    .conv2d(weight: r == radius ? column : column.slice(axis: 2, (radius - r)..<(radius + r + 1)), groups: c)
            }
        }
    }
}
