import Foundation
import Fovea
import FoveaNN
import FoveaTensor

extension ImageClassifier {
    /// The target's probability on each of `count` images, made `batch` at a time by
    /// `images(range)` (forward passes only). When the model can run concurrently
    /// (``Module/runsConcurrently``) batches go two at a time, one whole pass per core, with no
    /// fork-join inside; the probabilities come back in image order either way. `progress` is
    /// called with the images done so far, from one thread at a time.
    func targetProbabilities(count: Int, batch: Int, target: Int, progress: ((Int, Int) -> Void)?,
                             _ images: (Range<Int>) -> Tensor) throws -> [Float] {
        let batches = (count + batch - 1) / batch
        func probabilities(_ b: Int) throws -> [Float] {
            let range = (b * batch)..<min(count, (b + 1) * batch)
            let p = logits(images(range)).softmax(axis: 1)
            guard target >= 0 && target < p.shape[1] else {
                throw FoveaError("--target \(target): class index out of range 0..<\(p.shape[1])")
            }
            return range.indices.map { p.storage.pointer[($0 - range.lowerBound) * p.shape[1] + target] }
        }
        guard batches > 1 && module.runsConcurrently else {
            var out: [Float] = []
            for b in 0..<batches {
                out += try probabilities(b)
                progress?(out.count, count)
            }
            return out
        }
        let lock = NSLock()
        var done = 0
        // Part p holds batches p, p + n, ...: interleaved back into batch order.
        let n = min(Parallel.threads, batches)
        let parts = try Parallel.concurrently(n) { part in
            try stride(from: part, to: batches, by: n).map { b in
                let values = try probabilities(b)
                lock.withLock {
                    done += values.count
                    progress?(done, count)
                }
                return values
            }
        }
        return (0..<batches).flatMap { parts[$0 % n][$0 / n] }
    }
}
