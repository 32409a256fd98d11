import Fovea
import FoveaTensor

extension ImageClassifier {
    /// Gradient saliency (Simonyan et al. 2014): the gradient of the target logit with respect
    /// to the input; per pixel the largest absolute value over the colour channels, or with
    /// `signed`, that channel's signed value. Map: H x W at the input size.
    public func gradientSaliency(_ input: Tensor, target: Int, signed: Bool = false) throws -> SaliencyMap {
        let g = try backpropagate(input, target: target).inputGradient
        return SaliencyMap(pixelGradient: g, signed: signed, method: "gradient", target: target)
    }
}

extension SaliencyMap {
    /// A pixel-space map from an input gradient [1, C, H, W]: per pixel the channel value of
    /// largest magnitude, as its absolute value or (`signed`) with its sign.
    init(pixelGradient g: Tensor, signed: Bool, method: String, target: Int) {
        let (c, h, w) = (g.shape[1], g.shape[2], g.shape[3])
        let p = g.storage.pointer
        var values = [Float](repeating: 0, count: h * w)
        for i in 0..<(h * w) {
            var best: Float = 0
            for ch in 0..<c where Swift.abs(p[ch * h * w + i]) > Swift.abs(best) { best = p[ch * h * w + i] }
            values[i] = signed ? best : Swift.abs(best)
        }
        self.init(values: values, height: h, width: w, method: method, layer: nil, target: target)
    }
}
