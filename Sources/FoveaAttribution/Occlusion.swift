import Fovea
import FoveaTensor

extension ImageClassifier {
    /// Occlusion (Zeiler & Fergus 2014): a `window` x `window` patch of `value` (in the model's
    /// input space; 0 is the mean colour after normalisation) slides over the input with
    /// `stride`; the map holds the target's probability with the patch at each position,
    /// rows x cols = (floor((H - window) / stride) + 1) x (floor((W - window) / stride) + 1).
    /// Occluded images go through the network `batch` at a time, so memory stays bounded (two
    /// batches at once, one per core, where the model allows).
    public func occlusion(_ input: Tensor, target: Int, window: Int = 32, stride: Int = 16,
                          value: Float = 0, batch: Int = 16,
                          progress: ((Int, Int) -> Void)? = nil) throws -> SaliencyMap {
        let (c, h, w) = (input.shape[1], input.shape[2], input.shape[3])
        guard window >= 1, stride >= 1, window <= h, window <= w else {
            throw FoveaError("--window \(window) / --stride \(stride): the window must fit in the \(h)x\(w) input and both must be positive")
        }
        let rows = (h - window) / stride + 1, cols = (w - window) / stride + 1
        let positions = rows * cols
        let probabilities = try targetProbabilities(count: positions, batch: batch, target: target, progress: progress) { range in
            Tensor.concat(range.map { pos -> Tensor in
                let (y0, x0) = ((pos / cols) * stride, (pos % cols) * stride)
                let image = input.copy()
                let p = image.storage.pointer
                for ch in 0..<c {
                    for y in y0..<(y0 + window) { (p + (ch * h + y) * w + x0).update(repeating: value, count: window) }
                }
                return image
            }, axis: 0)
        }
        return SaliencyMap(values: probabilities, height: rows, width: cols, method: "occlusion", layer: nil, target: target)
    }
}
