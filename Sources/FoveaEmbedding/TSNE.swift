import Dispatch
import Foundation
import Fovea
import FoveaTensor

/// t-SNE (van der Maaten & Hinton 2008) with exact gradients.
///
/// P: Gaussian conditional probabilities with per-point bandwidths found by bisection so each
/// row's perplexity is `perplexity`, symmetrised p_ij = (p_j|i + p_i|j) / 2N. Q: Student-t,
/// q_ij = w_ij / sum w, w_ij = 1 / (1 + |y_i - y_j|^2). Gradient
/// dC/dy_i = 4 sum_j (a p_ij - q_ij) w_ij (y_i - y_j), a = `exaggeration` for the first
/// `exaggerationIterations` steps, then 1. Gradient descent with momentum (0.5, then 0.8) and
/// per-coordinate gains (+0.2 when the gradient changes sign, x0.8 otherwise, at least 0.01).
/// Initialisation: PCA, scaled to a standard deviation of 1e-4 on the first axis.
/// Cost O(N^2) per iteration: for N up to a few thousand.
public struct TSNE: Sendable {
    public var perplexity: Float = 30
    public var iterations = 1000
    public var exaggeration: Float = 12
    public var exaggerationIterations = 250
    /// nil: N / exaggeration (at least 50).
    public var learningRate: Float?
    public var seed: UInt64 = 0

    public init() {}

    public struct Result: Sendable {
        /// [N, 2]
        public let coordinates: Tensor
        /// KL(P || Q) of the final embedding, exact.
        public let kl: Float
    }

    /// Embeds the rows of x [N, D] in 2-D.
    public func fit(_ x: Tensor, progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        guard x.rank == 2 else { throw FoveaError("t-SNE needs an [N, D] matrix, got \(x.shape)") }
        let n = x.shape[0]
        guard Float(n - 1) > 3 * perplexity else {
            throw FoveaError("--perplexity \(perplexity): needs more than 3 x perplexity + 1 points (have \(n))")
        }
        let p = try Self.affinities(x, perplexity: perplexity)
        var y = try Self.pcaStart(x)
        let lr = learningRate ?? max(Float(n) / exaggeration, 50)
        var update = [Float](repeating: 0, count: 2 * n), gains = [Float](repeating: 1, count: 2 * n)
        for it in 0..<iterations {
            let a = it < exaggerationIterations ? exaggeration : 1
            let momentum: Float = it < exaggerationIterations ? 0.5 : 0.8
            let grad = Self.gradient(y, p, n: n, exaggeration: a)
            for k in 0..<(2 * n) {
                gains[k] = (grad[k] > 0) != (update[k] > 0) ? gains[k] + 0.2 : max(gains[k] * 0.8, 0.01)
                update[k] = momentum * update[k] - lr * gains[k] * grad[k]
                y[k] += update[k]
            }
            if it % 50 == 0 { progress?(it, iterations) }
        }
        progress?(iterations, iterations)
        return Result(coordinates: Tensor(shape: [n, 2], values: y), kl: Self.kl(y, p, n: n))
    }

    /// Symmetric P [N * N] (row-major, zero diagonal) at the given perplexity.
    static func affinities(_ x: Tensor, perplexity: Float) throws -> [Float] {
        let n = x.shape[0]
        let norms = NearestNeighbors.rowSquaredNorms(x)
        let dots = withNoGrad { x.matmul(x, transposeB: true) }.scalars      // [N, N]
        let target = log(Double(perplexity))
        var conditional = [Float](repeating: 0, count: n * n)
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            var row = [Double](repeating: 0, count: n)
            for i in stride(from: part, to: n, by: 2) {
                var d2 = [Double](repeating: 0, count: n)
                for j in 0..<n where j != i { d2[j] = max(Double(norms[i] + norms[j] - 2 * dots[i * n + j]), 0) }
                // Bisection on beta = 1 / (2 sigma^2) so that H(P_i) = log(perplexity).
                // Distances are shifted by their minimum so exp() cannot underflow to all zeros.
                let minD = d2.enumerated().filter { $0.offset != i }.map(\.element).min() ?? 0
                var (beta, lo, hi) = (1.0, 0.0, Double.infinity)
                for _ in 0..<100 {
                    var sum = 0.0, weighted = 0.0
                    for j in 0..<n where j != i {
                        row[j] = exp(-beta * (d2[j] - minD))
                        sum += row[j]
                        weighted += row[j] * (d2[j] - minD)
                    }
                    let entropy = log(sum) + beta * weighted / sum
                    if abs(entropy - target) < 1e-5 { break }
                    if entropy > target { lo = beta; beta = hi.isInfinite ? beta * 2 : (beta + hi) / 2 }
                    else { hi = beta; beta = (beta + lo) / 2 }
                }
                let sum = (0..<n).filter { $0 != i }.reduce(0.0) { $0 + row[$1] }
                for j in 0..<n { conditional[i * n + j] = j == i ? 0 : Float(row[j] / sum) }
            }
        }
        var p = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { p[i * n + j] = (conditional[i * n + j] + conditional[j * n + i]) / Float(2 * n) } }
        return p
    }

    /// PCA coordinates scaled to standard deviation 1e-4 on the first axis, interleaved [y0x, y0y, ...].
    static func pcaStart(_ x: Tensor) throws -> [Float] {
        let coords = try PCA(x, components: 2).transform(x).scalars
        let n = coords.count / 2
        let first = (0..<n).map { coords[2 * $0] }
        let mean = first.reduce(0, +) / Float(n)
        let std = (first.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(n)).squareRoot()
        return coords.map { $0 / max(std, 1e-12) * 1e-4 }
    }

    /// dC/dy [2N], exact.
    static func gradient(_ y: [Float], _ p: [Float], n: Int, exaggeration: Float) -> [Float] {
        // Pass 1: the normaliser Z = sum_{i != j} w_ij.
        var partial = [Double](repeating: 0, count: 2)
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            var z = 0.0
            for i in stride(from: part, to: n, by: 2) {
                let (xi, yi) = (y[2 * i], y[2 * i + 1])
                var s: Float = 0
                for j in 0..<n where j != i {
                    let (dx, dy) = (xi - y[2 * j], yi - y[2 * j + 1])
                    s += 1 / (1 + dx * dx + dy * dy)
                }
                z += Double(s)
            }
            partial[part] = z
        }
        let invZ = Float(1 / (partial[0] + partial[1]))
        // Pass 2: 4 sum_j (a p_ij - w_ij / Z) w_ij (y_i - y_j).
        var grad = [Float](repeating: 0, count: 2 * n)
        grad.withUnsafeMutableBufferPointer { g in
            let out = g.baseAddress!
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                for i in stride(from: part, to: n, by: 2) {
                    let (xi, yi) = (y[2 * i], y[2 * i + 1])
                    var (gx, gy): (Float, Float) = (0, 0)
                    for j in 0..<n where j != i {
                        let (dx, dy) = (xi - y[2 * j], yi - y[2 * j + 1])
                        let w = 1 / (1 + dx * dx + dy * dy)
                        let m = (exaggeration * p[i * n + j] - w * invZ) * w
                        gx += m * dx
                        gy += m * dy
                    }
                    out[2 * i] = 4 * gx
                    out[2 * i + 1] = 4 * gy
                }
            }
        }
        return grad
    }

    /// KL(P || Q) = sum p_ij log(p_ij / q_ij), exact.
    static func kl(_ y: [Float], _ p: [Float], n: Int) -> Float {
        var z = 0.0
        for i in 0..<n { for j in 0..<n where j != i {
            let (dx, dy) = (Double(y[2 * i] - y[2 * j]), Double(y[2 * i + 1] - y[2 * j + 1]))
            z += 1 / (1 + dx * dx + dy * dy)
        } }
        var kl = 0.0
        for i in 0..<n { for j in 0..<n where j != i && p[i * n + j] > 0 {
            let (dx, dy) = (Double(y[2 * i] - y[2 * j]), Double(y[2 * i + 1] - y[2 * j + 1]))
            let q = 1 / (1 + dx * dx + dy * dy) / z
            kl += Double(p[i * n + j]) * log(Double(p[i * n + j]) / q)
        } }
        return Float(kl)
    }
}
