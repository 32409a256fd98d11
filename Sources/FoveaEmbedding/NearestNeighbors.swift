import Dispatch
import Foundation
import Fovea
import FoveaTensor

/// Exact k-nearest-neighbour search over the rows of an embedding matrix, through one matrix
/// product per query batch. Only the prepared rows are kept: for cosine a normalised copy, so
/// an index the caller does not hold itself costs its size once, not twice.
public struct NearestNeighbors: Sendable {
    public enum Metric: String, CaseIterable, Sendable { case cosine, l2 }

    public let metric: Metric
    let squaredNorms: [Float]         // ||x_i||^2
    let prepared: Tensor              // [N, D]: rows normalised for cosine, as given for l2

    /// Rows N and dimensions D of the index.
    public var count: Int { prepared.shape[0] }
    public var dimensions: Int { prepared.shape[1] }

    public init(index: Tensor, metric: Metric) {
        precondition(index.rank == 2, "index must be [N, D]")
        self.metric = metric
        let norms = Self.rowSquaredNorms(index)
        squaredNorms = norms
        prepared = metric == .cosine ? Self.normalised(index, norms) : index
    }

    static func rowSquaredNorms(_ x: Tensor) -> [Float] {
        let (n, d) = (x.shape[0], x.shape[1]), p = x.storage.pointer
        return (0..<n).map { i in (0..<d).reduce(0) { $0 + p[i * d + $1] * p[i * d + $1] } }
    }

    static func normalised(_ x: Tensor, _ norms: [Float]) -> Tensor {
        let d = x.shape[1], p = x.storage.pointer
        return Tensor(shape: x.shape) { out in
            for i in 0..<norms.count {
                let s = norms[i] > 0 ? 1 / norms[i].squareRoot() : 0
                for j in 0..<d { out[i * d + j] = p[i * d + j] * s }
            }
        }
    }

    /// The k nearest rows of the index for each query (nearest first, ties by row), skipping
    /// row `exclude[i]` for query i (leave-one-out evaluation). Distances: cosine max(1 - cos, 0),
    /// or Euclidean sqrt(max(||q||^2 + ||x||^2 - 2 q.x, 0)). Queries go `block` at a time
    /// through one matrix product, so memory is O(block x N) whatever the number of queries;
    /// then each query's row of products is scanned on its own core.
    public func search(_ queries: Tensor, k: Int, exclude: [Int]? = nil, block: Int = 256) -> [[(row: Int, distance: Float)]] {
        precondition(queries.rank == 2 && queries.shape[1] == dimensions,
                     "queries \(queries.shape) do not match the index's \(dimensions) dimensions")
        let n = count, q = queries.shape[0]
        var results = [[(row: Int, distance: Float)]](repeating: [], count: q)
        for start in stride(from: 0, to: q, by: block) {
            let rows = start..<min(start + block, q)
            let batch = queries.slice(axis: 0, rows)
            let qNorms = Self.rowSquaredNorms(batch)
            let prepared = metric == .cosine ? Self.normalised(batch, qNorms) : batch
            let dots = withNoGrad { prepared.matmul(self.prepared, transposeB: true) }     // [rows, N]
            let p = dots.storage.pointer
            results.withUnsafeMutableBufferPointer { out in
                let out = out
                Parallel.forEach(rows.count) { part in
                    for r in part {
                        out[start + r] = nearest(k, dots: p + r * n, queryNorm: qNorms[r], skipping: exclude?[start + r])
                    }
                }
            }
        }
        return results
    }

    /// The k smallest distances from one query given its dot products with every index row
    /// (ascending, ties by row), skipping row `skip`. The scan is 16 rows at a time on a key that
    /// rises with the distance (1 - cos, or the squared distance) against the current k-th best,
    /// with a margin of a few ulps; the rows that pass get their distance by the scalar formula.
    func nearest(_ k: Int, dots: UnsafePointer<Float>, queryNorm: Float, skipping skip: Int?) -> [(row: Int, distance: Float)] {
        guard k > 0 else { return [] }
        let n = count, cosine = metric == .cosine
        var best: [(row: Int, distance: Float)] = []
        best.reserveCapacity(k + 1)
        var (worst, worstKey) = (Float.infinity, Float.infinity)    // the k-th best once there are k
        squaredNorms.withUnsafeBufferPointer { norms in
            let norms = norms.baseAddress!
            func consider(_ j: Int) {
                let v = cosine ? Swift.max(1 - dots[j], 0) : Swift.max(queryNorm + norms[j] - 2 * dots[j], 0).squareRoot()
                guard j != skip, v < worst else { return }
                var at = best.count
                while at > 0 && v < best[at - 1].distance { at -= 1 }
                best.insert((j, v), at: at)
                if best.count > k { best.removeLast() }
                if best.count == k {
                    worst = best[k - 1].distance
                    worstKey = (cosine ? worst : worst * worst) * (1 + 1e-5) + 1e-30
                }
            }
            var j = 0
            while j + 16 <= n {
                let dot = UnsafeRawPointer(dots + j).loadUnaligned(as: SIMD16<Float>.self)
                let key = cosine ? 1 - dot : queryNorm + UnsafeRawPointer(norms + j).loadUnaligned(as: SIMD16<Float>.self) - 2 * dot
                if any(key .<= worstKey) { for l in 0..<16 { consider(j + l) } }
                j += 16
            }
            while j < n { consider(j); j += 1 }
        }
        return best
    }

    /// Mean precision@k: the fraction of each row's k nearest other rows with its label.
    public func precisionAtK(labels: [Int], k: Int) -> Float {
        // The prepared rows as queries: the same neighbours (cosine normalises them again).
        let results = search(prepared, k: k, exclude: Array(0..<count))
        let hits = results.enumerated().map { i, nn in Float(nn.filter { labels[$0.row] == labels[i] }.count) / Float(max(nn.count, 1)) }
        return hits.reduce(0, +) / Float(max(hits.count, 1))
    }
}
