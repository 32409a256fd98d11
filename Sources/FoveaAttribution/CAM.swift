import Fovea
import FoveaNN
import FoveaTensor

extension ImageClassifier {
    /// Class activation mapping (Zhou et al. 2016) for networks that end in global average
    /// pooling and one linear layer: M_c = sum_k w_k^c f_k, with f [1, K, h, w] the features
    /// entering the pooling and w the classifier's weights. Map: h x w.
    public func cam(_ input: Tensor, target: Int) throws -> SaliencyMap {
        let (poolPath, weight) = try globalPoolingHead()
        guard let pool = module.module(at: poolPath) else { throw FoveaError("CAM: \(poolPath) not found") }
        var features: Tensor?
        // The pooling module's input, or the output of the layer a functional pooling reads.
        let handle = spec.pooledFeatures == nil
            ? pool.addForwardPreHook { _, x in features = x; return nil }
            : pool.addForwardHook { _, y in features = y; return nil }
        defer { handle.remove() }
        _ = logits(input)
        guard var f = features, f.rank == 4, f.shape[1] == weight.shape[1] else {
            throw FoveaError("--method cam: the features entering \(poolPath) do not match \(spec.classifier)")
        }
        guard target >= 0 && target < weight.shape[0] else {
            throw FoveaError("--target \(target): class index out of range 0..<\(weight.shape[0])")
        }
        if spec.reluBeforePooling { f = withNoGrad { f.relu() } }
        let (k, h, w) = (f.shape[1], f.shape[2], f.shape[3])
        // [1, K] x [K, h*w] -> [1, h*w]
        let weights = withNoGrad { weight.slice(axis: 0, target..<(target + 1)) }
        let map = withNoGrad { weights.matmul(f.reshaped([k, h * w])) }
        return SaliencyMap(values: map.scalars, height: h, width: w, method: "cam", layer: poolPath, target: target)
    }

    /// The global-average-pooling module and the linear classifier's weight [classes, K] after
    /// it, or an error that says why CAM does not apply and what to use instead.
    func globalPoolingHead() throws -> (pool: String, weight: Tensor) {
        if let pooled = spec.pooledFeatures, let weight = spec.classifierWeight { return (pooled, weight) }
        if let pooled = spec.pooledFeatures, let fc = module.module(at: spec.classifier) as? Linear {
            return (pooled, fc.weight)
        }
        let modules = module.namedModules()
        guard let fc = module.module(at: spec.classifier) as? Linear,
              let fcIndex = modules.firstIndex(where: { $0.path == spec.classifier }),
              let pool = modules[..<fcIndex].last(where: { $0.module is AdaptiveAvgPool2d }),
              let gap = pool.module as? AdaptiveAvgPool2d, gap.height == 1, gap.width == 1,
              // Only parameter-free modules (dropout, flatten) between the pooling and the classifier.
              modules[(modules.firstIndex(where: { $0.path == pool.path })! + 1)..<fcIndex]
                .allSatisfy({ $0.module.parameters.isEmpty }) else {
            throw FoveaError("--method cam: \(spec.name) does not end in global average pooling followed by one linear layer; use --method gradcam, which works at any layer")
        }
        return (pool.path, fc.weight)
    }
}
