import Fovea
import FoveaTensor

extension ImageClassifier {
    /// SmoothGrad (Smilkov et al. 2017) of any pixel-space gradient method: the mean over
    /// `samples` inputs x + N(0, sigma^2), sigma = noise * (max(x) - min(x)), of `gradient`
    /// (the raw input gradient of one noisy input), then reduced to a map like gradient saliency.
    public func smoothGrad(_ input: Tensor, target: Int, samples: Int = 25, noise: Float = 0.15, seed: UInt64 = 0,
                           signed: Bool = false, method: String = "smoothgrad",
                           gradient: (Tensor) throws -> Tensor) throws -> SaliencyMap {
        guard samples >= 1, noise >= 0 else {
            throw FoveaError("--samples \(samples) / --noise \(noise): need at least one sample and a non-negative noise level")
        }
        let values = input.scalars
        let sigma = noise * ((values.max() ?? 0) - (values.min() ?? 0))
        var generator = SeededGenerator(seed: seed)
        var total = Tensor(zeros: input.shape)
        for _ in 0..<samples {
            let noisy = withNoGrad { input + Tensor.normal(input.shape, std: sigma, using: &generator) }
            let g = try gradient(noisy)
            total = withNoGrad { total + g }
        }
        let mean = withNoGrad { total / Float(samples) }
        return SaliencyMap(pixelGradient: mean, signed: signed, method: method, target: target)
    }
}
