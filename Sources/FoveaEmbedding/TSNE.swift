import Dispatch
import Foundation
import Fovea
import FoveaTensor

/// t-SNE (van der Maaten & Hinton 2008), with exact gradients, Barnes-Hut (van der Maaten 2014)
/// or FFT-accelerated interpolation (FIt-SNE, Linderman et al. 2019; ``FFTRepulsion``).
///
/// P: Gaussian conditional probabilities with per-point bandwidths found by bisection so each
/// row's perplexity is `perplexity`, symmetrised p_ij = (p_j|i + p_i|j) / 2N; over all points
/// (exact) or over each point's 3 x perplexity nearest neighbours (Barnes-Hut, FFT). Q: Student-t,
/// q_ij = w_ij / Z, w_ij = 1 / (1 + |y_i - y_j|^2), Z = sum_{k != l} w_kl. Gradient
/// dC/dy_i = 4 sum_j (a p_ij - q_ij) w_ij (y_i - y_j), a = `exaggeration` for the first
/// `exaggerationIterations` steps, then 1; Barnes-Hut sums the repulsion over quadtree cells
/// with side / distance < `theta`, FFT interpolates it from a grid. Gradient descent with
/// momentum (0.5, then 0.8) and per-coordinate gains (+0.2 when the gradient changes sign,
/// x0.8 otherwise, at least 0.01).
/// Initialisation: PCA, scaled to a standard deviation of 1e-4 on the first axis (or random).
/// Exact costs O(N^2) per iteration; Barnes-Hut O(N log N); FFT O(N) plus the grid's FFTs.
public struct TSNE: Sendable {
    public enum Method: String, Sendable, CaseIterable { case exact, barnesHut = "barnes-hut", fft }

    public var perplexity: Float = 30
    public var iterations = 1000
    public var exaggeration: Float = 12
    public var exaggerationIterations = 250
    /// nil: N / exaggeration (at least 50).
    public var learningRate: Float?
    /// nil: exact up to `exactLimit` points, Barnes-Hut up to `barnesHutLimit`, FFT above.
    public var method: Method?
    public var theta: Float = 0.5
    public enum Initialization: String, Sendable, CaseIterable { case pca, random }
    /// PCA (deterministic), or Gaussian with standard deviation 1e-4 drawn from `seed`.
    public var initialization: Initialization = .pca
    public var seed: UInt64 = 0
    /// Polled every iteration; when it answers true, `fit` stops with `CancellationError`.
    public var shouldStop: (@Sendable () -> Bool)?
    public static let exactLimit = 2500
    /// Fashion-MNIST embeddings, 2 cores: at 10k points Barnes-Hut took 13.8 s to FFT's 19.4 s
    /// (KL as printed 1.431 vs 1.460); at 70k, 126 s to 44 s (KL by scripts/tsne_kl.py 2.523 vs 2.524).
    public static let barnesHutLimit = 20000

    public init() {}

    public struct Result: Sendable {
        /// [N, 2]
        public let coordinates: Tensor
        /// KL(P || Q) of the final embedding, with the P the method optimised (full or sparse)
        /// and Z summed exactly (the method's own estimate of Z above 20000 points).
        public let kl: Float
        public let method: Method
    }

    /// The method `fit` uses for n points.
    public func method(for n: Int) -> Method { method ?? (n <= Self.exactLimit ? .exact : n <= Self.barnesHutLimit ? .barnesHut : .fft) }

    /// Embeds the rows of x [N, D] in 2-D.
    public func fit(_ x: Tensor, progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        guard x.rank == 2 else { throw FoveaError("t-SNE needs an [N, D] matrix, got \(x.shape)") }
        let n = x.shape[0]
        guard Float(n - 1) > 3 * perplexity else {
            throw FoveaError("--perplexity \(perplexity): needs more than 3 x perplexity + 1 points (have \(n))")
        }
        let method = method(for: n)
        var y: [Float]
        switch initialization {
        case .pca: y = try Self.pcaStart(x)
        case .random:
            var generator = SeededGenerator(seed: seed)
            y = Tensor.normal([2 * n], using: &generator).scalars.map { $0 * 1e-4 }
        }
        switch method {
        case .exact:
            let p = try Self.affinities(x, perplexity: perplexity)
            try descend(&y, n: n, progress: progress) { y, a in Self.gradient(y, p, n: n, exaggeration: a) }
            return Result(coordinates: Tensor(shape: [n, 2], values: y), kl: Self.kl(y, p, n: n), method: method)
        case .barnesHut, .fft:
            let p = Self.sparseAffinities(x, perplexity: perplexity)
            var z = 0.0
            try descend(&y, n: n, progress: progress) { y, a in
                let (forces, estimate) = method == .fft ? FFTRepulsion()(y) : Self.barnesHutRepulsion(y, theta: theta)
                z = estimate
                return Self.sparseGradient(y, p, repulsion: forces, z: estimate, exaggeration: a)
            }
            if n <= 20000 { z = Self.exactNormalizer(y) }
            return Result(coordinates: Tensor(shape: [n, 2], values: y), kl: Self.kl(y, p, z: z), method: method)
        }
    }

    /// Gradient descent with momentum and gains; `gradient(y, a)` is dC/dy at exaggeration a.
    func descend(_ y: inout [Float], n: Int, progress: ((Int, Int) -> Void)?, gradient: ([Float], Float) -> [Float]) throws {
        let lr = learningRate ?? max(Float(n) / exaggeration, 50)
        var update = [Float](repeating: 0, count: 2 * n), gains = [Float](repeating: 1, count: 2 * n)
        for it in 0..<iterations {
            if let shouldStop, shouldStop() { throw CancellationError() }
            let a = it < exaggerationIterations ? exaggeration : 1
            let momentum: Float = it < exaggerationIterations ? 0.5 : 0.8
            let grad = gradient(y, a)
            for k in 0..<(2 * n) {
                gains[k] = (grad[k] > 0) != (update[k] > 0) ? gains[k] + 0.2 : max(gains[k] * 0.8, 0.01)
                update[k] = momentum * update[k] - lr * gains[k] * grad[k]
                y[k] += update[k]
            }
            if it % 10 == 0 { progress?(it, iterations) }
        }
        progress?(iterations, iterations)
    }

    /// Symmetric P [N * N] (row-major, zero diagonal) at the given perplexity.
    static func affinities(_ x: Tensor, perplexity: Float) throws -> [Float] {
        let n = x.shape[0]
        let norms = NearestNeighbors.rowSquaredNorms(x)
        let dots = withNoGrad { x.matmul(x, transposeB: true) }.scalars      // [N, N]
        var conditional = [Float](repeating: 0, count: n * n)
        conditional.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.split { part, parts in
                for i in stride(from: part, to: n, by: parts) {
                    let others = (0..<n).filter { $0 != i }
                    let d2 = others.map { j in max(Double(norms[i] + norms[j] - 2 * dots[i * n + j]), 0) }
                    for (j, v) in zip(others, conditionalRow(d2, perplexity: perplexity)) { out[i * n + j] = Float(v) }
                }
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

    /// dC/dy [2N], exact: 4 sum_j (a p_ij - w_ij / Z) w_ij (y_i - y_j), w_ij = 1 / (1 + |y_i - y_j|^2).
    /// The j = i term is 0 (y_i - y_i = 0), so rows run over every j, 8 lanes at a time.
    static func gradient(_ y: [Float], _ p: [Float], n: Int, exaggeration: Float) -> [Float] {
        let invZ = Float(1 / exactNormalizer(y))
        let (xs, ys) = coordinates(y)
        var grad = [Float](repeating: 0, count: 2 * n)
        grad.withUnsafeMutableBufferPointer { g in
            let out = g.baseAddress!
            xs.withUnsafeBufferPointer { xb in ys.withUnsafeBufferPointer { yb in p.withUnsafeBufferPointer { pb in
                let (xp, yp) = (xb.baseAddress!, yb.baseAddress!)
                Parallel.split { part, parts in
                    for i in stride(from: part, to: n, by: parts) {
                        let row = pb.baseAddress! + i * n
                        let (xi, yi) = (SIMD8<Float>(repeating: xp[i]), SIMD8<Float>(repeating: yp[i]))
                        let (a, iz) = (SIMD8<Float>(repeating: exaggeration), SIMD8<Float>(repeating: invZ))
                        var (gx, gy) = (SIMD8<Float>(), SIMD8<Float>())
                        var j = 0
                        while j + 8 <= n {
                            let dx = xi - UnsafeRawPointer(xp + j).loadUnaligned(as: SIMD8<Float>.self)
                            let dy = yi - UnsafeRawPointer(yp + j).loadUnaligned(as: SIMD8<Float>.self)
                            let w = 1 / (1 + dx * dx + dy * dy)
                            let m = (a * UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self) - w * iz) * w
                            gx += m * dx
                            gy += m * dy
                            j += 8
                        }
                        var (sx, sy) = (gx.sum(), gy.sum())
                        while j < n {
                            let (dx, dy) = (xp[i] - xp[j], yp[i] - yp[j])
                            let w = 1 / (1 + dx * dx + dy * dy)
                            let m = (exaggeration * row[j] - w * invZ) * w
                            sx += m * dx
                            sy += m * dy
                            j += 1
                        }
                        out[2 * i] = 4 * sx
                        out[2 * i + 1] = 4 * sy
                    }
                }
            } } }
        }
        return grad
    }

    /// Interleaved [x0, y0, x1, y1, ...] as separate x and y arrays.
    static func coordinates(_ y: [Float]) -> (x: [Float], y: [Float]) {
        let n = y.count / 2
        return ((0..<n).map { y[2 * $0] }, (0..<n).map { y[2 * $0 + 1] })
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
