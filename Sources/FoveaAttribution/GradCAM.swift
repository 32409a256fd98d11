import Fovea
import FoveaTensor

extension ImageClassifier {
    /// Grad-CAM (Selvaraju et al. 2017) at any layer with a spatial output A [1, K, h, w]:
    /// alpha_k = mean over (h, w) of dS/dA_k, map = ReLU(sum_k alpha_k A_k). Map: h x w.
    public func gradCAM(_ input: Tensor, target: Int, layer: String) throws -> SaliencyMap {
        let (a, g) = try activationAndGradient(input, target: target, layer: layer, method: "Grad-CAM")
        let alpha = g.mean(axes: [2, 3], keepDims: true)                   // [1, K, 1, 1]
        let map = (a * alpha).sum(axes: [1]).relu()                        // [1, h, w]
        return SaliencyMap(values: map.scalars, height: a.shape[2], width: a.shape[3],
                           method: "gradcam", layer: layer, target: target)
    }
}
