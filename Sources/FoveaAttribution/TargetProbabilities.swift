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
        var results = [Result<[Float], Error>](repeating: .success([]), count: batches)
        let lock = NSLock()
        var done = 0
        results.withUnsafeMutableBufferPointer { slots in
            Parallel.concurrently(2) { part in
                for b in stride(from: part, to: batches, by: 2) {
                    slots[b] = Result { try probabilities(b) }
                    guard case .success(let values) = slots[b] else { return }
                    lock.withLock {
                        done += values.count
                        progress?(done, count)
                    }
                }
            }
        }
        return try results.flatMap { try $0.get() }
    }
}
