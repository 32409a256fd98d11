import FoveaTensor

/// What a style is made of, in a layer's features F [B, C, H, W] (N = C channels, M = H W positions).
extension Tensor {
    /// Gram matrices G_b = F_b F_b^T, F_b reshaped [C, H W]: [B, C, C], unnormalised.
    public func gramMatrices() -> Tensor {
        precondition(rank == 4, "gramMatrices needs [B, C, H, W] features, got \(shape)")
        let (b, c, m) = (shape[0], shape[1], shape[2] * shape[3])
        let grams = (0..<b).map { i -> Tensor in
            let f = batchItem(i).reshaped([c, m])
            return f.matmul(f, transposeB: true).reshaped([1, c, c])
        }
        return b == 1 ? grams[0] : Tensor.concat(grams, axis: 0)
    }

    /// Per-channel mean and standard deviation over the positions, [B, C, 1, 1] each:
    /// std = sqrt(var + eps) with the biased variance (AdaIN's statistics).
    public func channelMoments(eps: Float = 1e-5) -> (mean: Tensor, std: Tensor) {
        let moments = planeMoments(eps: eps), (b, c) = (shape[0], shape[1])
        return (moments.slice(axis: 2, 0..<1).reshaped([b, c, 1, 1]), moments.slice(axis: 2, 1..<2).reshaped([b, c, 1, 1]))
    }
}

/// A transform of features before the style and content losses compare them.
public enum FeatureTransform: String, Sendable, CaseIterable {
    /// The features as they are (VGG).
    case none
    /// SWAG (Wang, Li & Vasconcelos, CVPR 2021): a softmax over all n = C H W activations of
    /// each image, n exp(F / T) / sum exp(F / T), with the temperature T the image's standard
    /// deviation over those activations (constant), so a peaky layer's softmax is not one-hot,
    /// and scaled by n so its mean is 1 and the losses keep the magnitudes L-BFGS and the
    /// default weights expect. It evens out the peaky activations of
    /// residual and efficient networks, which otherwise stylise poorly.
    case softmax

    public func callAsFunction(_ features: Tensor) -> Tensor {
        switch self {
        case .none: return features
        case .softmax:
            let b = features.shape[0]
            let n = features.count / b
            let flat = features.reshaped([b, n])
            // Temperature: each image's standard deviation (constant), so the softmax is not one-hot on peaky layers.
            let std = withNoGrad { (flat - flat.mean(axes: [1], keepDims: true)).pow(2).mean(axes: [1], keepDims: true).sqrt() + 1e-6 }.detached()
            return ((flat / std).softmax(axis: 1) * Float(n)).reshaped(features.shape)
        }
    }
}
