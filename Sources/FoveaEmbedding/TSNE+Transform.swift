import Dispatch
import Foundation
import Fovea
import FoveaTensor

extension TSNE {
    /// Places new points into an existing t-SNE map without moving the map (openTSNE's
    /// "transform"). For a new point i: p_j|i over its k = 3 x perplexity nearest reference
    /// points (Gaussian, perplexity-calibrated, summing to 1); start at sum_j p_j|i y_j; then
    /// minimise KL(p_.|i || q_.|i) with q_j|i = w_ij / Z_i, Z_i = sum over all reference points,
    /// w_ij = 1 / (1 + |y_i - y_j|^2): gradient 2 (sum_j p_j|i w_ij (y_i - y_j) - (1 / Z_i)
    /// sum_j w_ij^2 (y_i - y_j)), the second sum by Barnes-Hut over the fixed map. Points move
    /// independently, so the result does not depend on how many are placed at once.
    public struct Placement: Sendable {
        /// Low perplexity: a new point should sit with its closest reference points.
        public var perplexity: Float = 5
        public var iterations = 250
        public var learningRate: Float = 1
        public var momentum: Float = 0.5
        /// Largest step of one point in one iteration, in map units.
        public var maxStep: Float = 1
        public var theta: Float = 0.5

        public init() {}

        /// Coordinates [N, 2] of the rows of x [N, D], placed into `map` [M, 2], the t-SNE map of
        /// `reference` [M, D].
        public func place(_ x: Tensor, reference: Tensor, map: Tensor, progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
            guard x.rank == 2, reference.rank == 2, x.shape[1] == reference.shape[1] else {
                throw FoveaError("t-SNE transform: new points \(x.shape) and reference \(reference.shape) differ in width")
            }
            let (n, m) = (x.shape[0], reference.shape[0])
            guard map.shape == [m, 2] else { throw FoveaError("t-SNE transform: map \(map.shape) for \(m) reference points") }
            let k = min(m, Int((3 * perplexity).rounded(.up)))
            guard k >= 1 else { throw FoveaError("t-SNE transform: the reference map is empty") }
            let fixed = map.scalars
            let tree = QuadTree(fixed)
            let found = NearestNeighbors(index: reference, metric: .l2).search(x, k: k)
            let rowPerplexity = min(perplexity, max(Float(k) / 3, 1))                 // few reference points
            let affinities = found.map { nn in conditionalRow(nn.map { Double($0.distance) * Double($0.distance) }, perplexity: rowPerplexity) }
            var y = [Float](repeating: 0, count: 2 * n)
            for i in 0..<n {
                for (hit, p) in zip(found[i], affinities[i]) {
                    y[2 * i] += Float(p) * fixed[2 * hit.row]
                    y[2 * i + 1] += Float(p) * fixed[2 * hit.row + 1]
                }
            }
            var velocity = [Float](repeating: 0, count: 2 * n)
            for it in 0..<iterations {
                y.withUnsafeMutableBufferPointer { yb in
                    velocity.withUnsafeMutableBufferPointer { vb in
                        let (yb, vb) = (yb, vb)
                        Parallel.split { part, parts in
                            for i in stride(from: part, to: n, by: parts) {
                                let (xi, yi) = (yb[2 * i], yb[2 * i + 1])
                                let r = tree.repulsion(x: xi, y: yi, theta: theta)
                                var (ax, ay): (Float, Float) = (0, 0)
                                for (hit, p) in zip(found[i], affinities[i]) {
                                    let (dx, dy) = (xi - fixed[2 * hit.row], yi - fixed[2 * hit.row + 1])
                                    let w = Float(p) / (1 + dx * dx + dy * dy)
                                    ax += w * dx
                                    ay += w * dy
                                }
                                let (gx, gy) = (2 * (ax - r.fx / max(r.z, 1e-12)), 2 * (ay - r.fy / max(r.z, 1e-12)))
                                var (sx, sy) = (momentum * vb[2 * i] - learningRate * gx, momentum * vb[2 * i + 1] - learningRate * gy)
                                let length = (sx * sx + sy * sy).squareRoot()
                                if length > maxStep { (sx, sy) = (sx * maxStep / length, sy * maxStep / length) }
                                (vb[2 * i], vb[2 * i + 1]) = (sx, sy)
                                yb[2 * i] += sx
                                yb[2 * i + 1] += sy
                            }
                        }
                    }
                }
                if it % 10 == 0 { progress?(it, iterations) }
            }
            progress?(iterations, iterations)
            return Tensor(shape: [n, 2], values: y)
        }
    }
}
