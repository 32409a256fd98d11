import Dispatch
import Foundation
import Fovea
import FoveaTensor

/// Exact k-nearest-neighbour search over the rows of an embedding matrix, through one matrix
/// product per query batch.
public struct NearestNeighbors: Sendable {
    public enum Metric: String, CaseIterable, Sendable { case cosine, l2 }

    public let index: Tensor          // [N, D]
    public let metric: Metric
    let squaredNorms: [Float]         // ||x_i||^2
    let prepared: Tensor              // rows normalised for cosine, as is for l2

    public init(index: Tensor, metric: Metric) {
        precondition(index.rank == 2, "index must be [N, D]")
        self.index = index
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

    /// Distances [Q, N] from each query row: cosine distance max(1 - cos, 0), or Euclidean
    /// sqrt(||q||^2 + ||x||^2 - 2 q.x).
    public func distances(_ queries: Tensor) -> Tensor {
        precondition(queries.rank == 2 && queries.shape[1] == index.shape[1],
                     "queries \(queries.shape) do not match the index's \(index.shape[1]) dimensions")
        let qNorms = Self.rowSquaredNorms(queries)
        let q = metric == .cosine ? Self.normalised(queries, qNorms) : queries
        let dots = withNoGrad { q.matmul(prepared, transposeB: true) }        // [Q, N]
        let n = index.shape[0]
        let p = dots.storage.pointer
        return Tensor(shape: dots.shape) { out in
            for i in 0..<queries.shape[0] {
                for j in 0..<n {
                    let v = p[i * n + j]
                    out[i * n + j] = metric == .cosine ? Swift.max(1 - v, 0) : Swift.max(qNorms[i] + squaredNorms[j] - 2 * v, 0).squareRoot()
                }
            }
        }
    }

    /// The k nearest rows of the index for each query (nearest first, ties by row), skipping
    /// row `exclude[i]` for query i (leave-one-out evaluation). Queries go `block` at a time, so
    /// memory is O(block x N) whatever the number of queries.
    public func search(_ queries: Tensor, k: Int, exclude: [Int]? = nil, block: Int = 256) -> [[(row: Int, distance: Float)]] {
        let n = index.shape[0], q = queries.shape[0]
        var results = [[(row: Int, distance: Float)]](repeating: [], count: q)
        for start in stride(from: 0, to: q, by: block) {
            let rows = start..<min(start + block, q)
            let d = distances(queries.slice(axis: 0, rows))
            let p = d.storage.pointer
            results.withUnsafeMutableBufferPointer { out in
                let out = out
                Parallel.split { part, parts in
                    for i in stride(from: rows.lowerBound + part, to: rows.upperBound, by: parts) {
                        out[i] = Self.smallest(k, of: p + (i - start) * n, count: n, skipping: exclude?[i])
                    }
                }
            }
        }
        return results
    }

    /// The k smallest of values[0..<count] (ascending, ties by index), skipping index `skip`:
    /// one pass keeping a sorted list of the best k.
    static func smallest(_ k: Int, of values: UnsafePointer<Float>, count: Int, skipping skip: Int?) -> [(row: Int, distance: Float)] {
        var best: [(row: Int, distance: Float)] = []
        best.reserveCapacity(k + 1)
        for j in 0..<count where j != skip {
            let v = values[j]
            if best.count == k, let worst = best.last, !(v < worst.distance) { continue }
            var at = best.count
            while at > 0 && v < best[at - 1].distance { at -= 1 }
            best.insert((j, v), at: at)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    /// Mean precision@k: the fraction of each row's k nearest other rows with its label.
    public func precisionAtK(labels: [Int], k: Int) -> Float {
        let results = search(index, k: k, exclude: Array(0..<index.shape[0]))
        let hits = results.enumerated().map { i, nn in Float(nn.filter { labels[$0.row] == labels[i] }.count) / Float(max(nn.count, 1)) }
        return hits.reduce(0, +) / Float(max(hits.count, 1))
    }
}
