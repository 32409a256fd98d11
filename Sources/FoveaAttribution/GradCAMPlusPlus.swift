import Fovea
import FoveaTensor

extension ImageClassifier {
    /// Grad-CAM++ (Chattopadhyay et al. 2018) at a layer with output A [1, K, h, w] and gradient
    /// g = dS/dA: a_kij = g^2 / (2 g^2 + sum_ab(A_kab) g^3) (0 where g = 0),
    /// w_k = sum_ij a_kij max(g_kij, 0), map = ReLU(sum_k w_k A_k). Map: h x w.
    public func gradCAMPlusPlus(_ input: Tensor, target: Int, layer: String) throws -> SaliencyMap {
        let (a, g) = try activationAndGradient(input, target: target, layer: layer, method: "Grad-CAM++")
        let (k, h, w) = (a.shape[1], a.shape[2], a.shape[3])
        let pa = a.storage.pointer, pg = g.storage.pointer
        var weights = [Float](repeating: 0, count: k)
        for ch in 0..<k {
            let base = ch * h * w
            var activationSum: Float = 0
            for i in 0..<(h * w) { activationSum += pa[base + i] }
            var wk: Float = 0
            for i in 0..<(h * w) {
                let gi = pg[base + i]
                guard gi != 0 else { continue }
                let g2 = gi * gi, g3 = g2 * gi
                let alpha = g2 / (2 * g2 + activationSum * g3 + 1e-7)
                wk += alpha * max(gi, 0)
            }
            weights[ch] = wk
        }
        let map = withNoGrad { (a * Tensor(shape: [1, k, 1, 1], values: weights)).sum(axes: [1]).relu() }
        return SaliencyMap(values: map.scalars, height: h, width: w, method: "gradcam++", layer: layer, target: target)
    }
}
