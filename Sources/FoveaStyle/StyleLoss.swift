import Foundation
import Fovea
import FoveaSynthesis
import FoveaTensor

/// The layers a style is read from, each with its weight w_l.
public struct StyleLayers: Sendable, Equatable {
    public var names: [String]
    public var weights: [Float]

    /// Equal weights 1 / L.
    public init(_ names: [String]) {
        self.names = names
        self.weights = Array(repeating: 1 / Float(max(names.count, 1)), count: names.count)
    }

    public init(_ names: [String], weights: [Float]) throws {
        guard names.count == weights.count else {
            throw FoveaError("--layer-weights: \(weights.count) weights for \(names.count) layers (\(names.joined(separator: ",")))")
        }
        guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw FoveaError("--layer-weights: weights must be non-negative numbers") }
        self.names = names
        self.weights = weights
    }

    /// Gatys et al. 2016: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 ("conv1_1" ... "conv5_1" in
    /// Caffe, whose ReLUs work in place), w = 1/5.
    public static let gatys = StyleLayers(["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    /// Johnson et al. 2016: relu1_2, relu2_2, relu3_3, relu4_3.
    public static let johnson = StyleLayers(["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    /// Huang & Belongie 2017: relu1_1 ... relu4_1.
    public static let adain = StyleLayers(["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
}

/// Gram targets of one or more style images: G^_l = sum_s v_s G_l(s) / M_l(s), the weighted mean
/// of per-position Gram matrices, [C, C] per layer (scaled by an image's M_l when compared).
public struct GramTargets {
    public let layers: StyleLayers
    public let perPosition: [String: Tensor]
    public let transform: FeatureTransform

    /// `styles`: images [1, 3, H, W] in 0...1 with their (non-negative) weights, normalised to sum 1.
    public init(styles: [(image: Tensor, weight: Float)], layers: StyleLayers, transform: FeatureTransform = .none,
                with synthesizer: Synthesizer) throws {
        let total = styles.reduce(0) { $0 + $1.weight }
        guard total > 0 else { throw FoveaError("--style-weights: the weights must not all be zero") }
        var sums: [String: Tensor] = [:]
        for (image, weight) in styles {
            let features = try withNoGrad { try synthesizer.module.outputs(of: layers.names, for: synthesizer.modelInput(image)) }
            for layer in layers.names {
                let f = transform(features[layer]!)
                let g = withNoGrad { f.gramMatrices().reshaped([f.shape[1], f.shape[1]]) * (weight / total / Float(f.shape[2] * f.shape[3])) }
                sums[layer] = sums[layer].map { sum in withNoGrad { sum + g } } ?? g
            }
        }
        self.layers = layers
        self.perPosition = sums.mapValues { $0.detached() }
        self.transform = transform
    }

    /// sum_l w_l E_l with E_l = 1/(4 N_l^2 M_l^2) sum (G_l - M_l G^_l)^2 (Gatys et al. 2015),
    /// for features of one image (B = 1); recorded for backward.
    public func loss(_ features: [String: Tensor]) -> Tensor {
        var total: Tensor?
        for (layer, weight) in zip(layers.names, layers.weights) where weight > 0 {
            let f = transform(features[layer]!)
            let (n, m) = (Float(f.shape[1]), Float(f.shape[2] * f.shape[3]))
            let g = f.gramMatrices().reshaped([f.shape[1], f.shape[1]])
            let e = (g - perPosition[layer]! * m).pow(2).sum() * (weight / (4 * n * n * m * m))
            total = total.map { $0 + e } ?? e
        }
        return total ?? Tensor(scalar: 0)
    }
}

/// The content loss 1/2 sum (F - P)^2 (Gatys et al.) against constant features P.
public func contentLoss(_ features: Tensor, _ target: Tensor) -> Tensor {
    (features - target).pow(2).sum() * 0.5
}

/// The last values of a loss's parts, for a progress bar (written while the objective runs).
public final class LossParts {
    public var content: Float = .nan
    public var style: Float = .nan
    public init() {}
}
