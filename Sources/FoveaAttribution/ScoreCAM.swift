import Fovea
import FoveaNN
import FoveaTensor

extension ImageClassifier {
    /// Score-CAM (Wang et al. 2020) at a layer with output A [1, K, h, w]: each channel,
    /// upsampled (bilinear) to the input size and scaled to [0, 1], masks the input; the
    /// target's probability on the masked input is the channel's score; w = softmax(scores)
    /// over channels, map = ReLU(sum_k w_k A_k). The K masked inputs go through the network
    /// `batch` at a time (two batches at once, one per core, where the model allows). Map: h x w.
    public func scoreCAM(_ input: Tensor, target: Int, layer: String, batch: Int = 16,
                         progress: ((Int, Int) -> Void)? = nil) throws -> SaliencyMap {
        let capture = try LayerCapture(module, layers: [layer], gradients: false)
        _ = logits(input)
        capture.remove()
        guard let a = capture.outputs[layer], a.rank == 4 else {
            throw FoveaError("--layer \(layer): Score-CAM needs a layer with a [N, C, H, W] output")
        }
        let (k, h, w) = (a.shape[1], a.shape[2], a.shape[3])
        let (height, width) = (input.shape[2], input.shape[3])
        let masks = withNoGrad { a.reshaped([k, 1, h, w]).resized(height: height, width: width, mode: .bilinear) }
        let plane = height * width
        let scores = try targetProbabilities(count: k, batch: batch, target: target, progress: progress) { range in
            // Each mask scaled to [0, 1] by its own min and max (a constant mask becomes 0).
            let scaled = Tensor(overwriting: [range.count, 1, height, width]) { out in
                let src = masks.storage.pointer + range.lowerBound * plane
                for m in 0..<range.count {
                    let p = src + m * plane, o = out.baseAddress! + m * plane
                    var lo = Float.infinity, hi = -Float.infinity
                    for i in 0..<plane { lo = Swift.min(lo, p[i]); hi = Swift.max(hi, p[i]) }
                    let scale: Float = hi > lo ? 1 / (hi - lo) : 0
                    for i in 0..<plane { o[i] = (p[i] - lo) * scale }
                }
            }
            return withNoGrad { input * scaled }                              // [b, C, H, W]
        }
        let weights = Tensor(shape: [1, k], values: scores).softmax(axis: 1).reshaped([1, k, 1, 1])
        let map = withNoGrad { (a * weights).sum(axes: [1]).relu() }
        return SaliencyMap(values: map.scalars, height: h, width: w, method: "scorecam", layer: layer, target: target)
    }
}
