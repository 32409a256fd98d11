import Foundation
import Fovea
import FoveaTensor

/// The repulsion of t-SNE by FFT-accelerated interpolation (FIt-SNE, Linderman et al. 2019).
///
/// The sums over all j, with w_ij = K1(y_i - y_j) = 1 / (1 + |y_i - y_j|^2) and K2 = K1^2,
///
///   Z   = sum_i sum_{j != i} K1(y_i - y_j)
///   r_i = sum_j K2(y_i - y_j) (y_i - y_j) = y_i sum_j K2 - sum_j K2 y_j
///
/// are potentials of point charges (1, x_j, y_j) under smooth kernels. The embedding's bounding
/// square is cut into boxes x boxes boxes (at least 50 per side, each at most `boxWidth` wide)
/// with 3 x 3 equispaced nodes each; each point's charges are spread onto the 3 x 3 nodes of its
/// box by Lagrange interpolation weights, the node grid is convolved with the kernels by FFT
/// (``GridConvolution``), and the potentials are interpolated back with the same weights.
/// O(N + M^2 log M) per iteration for M = 3 x boxes nodes per side.
///
/// The grid follows the map: its side is the map's, so the spacing changes every iteration and
/// the interpolation error with it. (Boxes of a fixed width, which would let the kernels'
/// spectra be kept, left the 70k Fashion-MNIST map at KL 2.60 instead of 2.52: an error pattern
/// that stays put is a potential the points settle into.)
struct FFTRepulsion {
    /// Interpolation nodes per box side, the fewest boxes per side: FIt-SNE's defaults.
    static let nodesPerBox = 3
    static let minimumBoxes = 50
    /// The widest box (embedding units; FIt-SNE's default 1).
    var boxWidth: Float = 1

    /// r [2N] and Z (see the type's formulas).
    func callAsFunction(_ y: [Float]) -> (forces: [Float], z: Double) {
        let n = y.count / 2, nodesPerBox = Self.nodesPerBox
        var (lo, hi) = ((Float.infinity, Float.infinity), (-Float.infinity, -Float.infinity))
        for i in 0..<n {
            lo = (min(lo.0, y[2 * i]), min(lo.1, y[2 * i + 1]))
            hi = (max(hi.0, y[2 * i]), max(hi.1, y[2 * i + 1]))
        }
        let span = max(hi.0 - lo.0, hi.1 - lo.1, 1e-6) * (1 + 1e-5)
        let boxes = GridConvolution.fiveSmooth(atLeast: max(Self.minimumBoxes, Int((span / boxWidth).rounded(.up))))
        let (width, m) = (span / Float(boxes), nodesPerBox * boxes)
        let spacing = width / Float(nodesPerBox)
        // Coordinates relative to the square's centre keep the charges x_j, y_j small.
        let centre = (lo.0 + span / 2, lo.1 + span / 2)

        // Each point's box, and its Lagrange weights on the box's nodes along x and along y.
        var base = [Int32](repeating: 0, count: 2 * n)
        var weights = [Float](repeating: 0, count: 2 * n * nodesPerBox)
        base.withUnsafeMutableBufferPointer { base in
        weights.withUnsafeMutableBufferPointer { weights in
            let (base, weights) = (base, weights)
            Parallel.forEach(2 * n, grain: 1024) { range in
                for k in range {
                    let t = (y[k] - (k % 2 == 0 ? lo.0 : lo.1)) / width
                    let box = min(max(Int(t), 0), boxes - 1)
                    base[k] = Int32(box * nodesPerBox)
                    Self.lagrangeWeights(t - Float(box), into: weights.baseAddress! + k * nodesPerBox)
                }
            }
        } }
        // Spread the charges 1, x, y onto the nodes: each core a share of the points on grids of
        // its own, added up after.
        let parts = Parallel.threads
        var shares = [[Float]](repeating: [], count: parts)
        shares.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.run(parts) { part in
                var grid = [Float](repeating: 0, count: 3 * m * m)
                for i in (part * n / parts)..<((part + 1) * n / parts) {
                    let (x, yy) = (y[2 * i] - centre.0, y[2 * i + 1] - centre.1)
                    let (bx, by) = (Int(base[2 * i]), Int(base[2 * i + 1]))
                    for l in 0..<nodesPerBox {
                        let wy = weights[(2 * i + 1) * nodesPerBox + l]
                        for k in 0..<nodesPerBox {
                            let w = weights[2 * i * nodesPerBox + k] * wy
                            let node = (by + l) * m + bx + k
                            grid[node] += w
                            grid[m * m + node] += w * x
                            grid[2 * m * m + node] += w * yy
                        }
                    }
                }
                out[part] = grid
            }
        }
        var total = shares[0]
        total.withUnsafeMutableBufferPointer { t in
            for share in shares.dropFirst() { share.withUnsafeBufferPointer { s in for k in t.indices { t[k] += s[k] } } }
        }
        let grids = (0..<3).map { Array(total[($0 * m * m)..<(($0 + 1) * m * m)]) }
        let h2 = spacing * spacing
        let kernel = GridConvolution.make(size: m, evenKernels: [
            { dx, dy in let w = 1 / (1 + h2 * Float(dx * dx + dy * dy)); return w * w },
            { dx, dy in 1 / (1 + h2 * Float(dx * dx + dy * dy)) },
        ])
        // At the nodes: sum_j K2, sum_j K2 x_j, sum_j K2 y_j, and sum_j K1.
        let potentials = GridConvolution.convolve(grids, [(0, kernel[0]), (1, kernel[0]), (2, kernel[0]), (0, kernel[1])])
        // Interpolate back: r_i and sum_{j} K1(y_i - y_j) (the j = i term, K1(0) = 1, comes off Z).
        var forces = [Float](repeating: 0, count: 2 * n)
        var zParts = [Double](repeating: 0, count: Parallel.threads)
        forces.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.split { part, parts in
                var z = 0.0
                for i in stride(from: part, to: n, by: parts) {
                    let (bx, by) = (Int(base[2 * i]), Int(base[2 * i + 1]))
                    var (s0, sx, sy, s1): (Float, Float, Float, Float) = (0, 0, 0, 0)
                    for l in 0..<nodesPerBox {
                        let wy = weights[(2 * i + 1) * nodesPerBox + l]
                        for k in 0..<nodesPerBox {
                            let w = weights[2 * i * nodesPerBox + k] * wy
                            let node = (by + l) * m + bx + k
                            s0 += w * potentials[0][node]
                            sx += w * potentials[1][node]
                            sy += w * potentials[2][node]
                            s1 += w * potentials[3][node]
                        }
                    }
                    out[2 * i] = (y[2 * i] - centre.0) * s0 - sx
                    out[2 * i + 1] = (y[2 * i + 1] - centre.1) * s0 - sy
                    z += Double(s1) - 1
                }
                zParts[part] = z
            }
        }
        return (forces, zParts.reduce(0, +))
    }

    /// Lagrange weights of the nodes at (k + 1/2) / 3, k = 0, 1, 2, of a unit box, at t in 0...1:
    /// L_k(t) = prod_{l != k} (t - s_l) / (s_k - s_l); the denominators are 2/9, -1/9, 2/9.
    @inline(__always)
    static func lagrangeWeights(_ t: Float, into w: UnsafeMutablePointer<Float>) {
        let (d0, d1, d2) = (t - 1.0 / 6, t - 0.5, t - 5.0 / 6)
        w[0] = d1 * d2 * 4.5
        w[1] = -d0 * d2 * 9
        w[2] = d0 * d1 * 4.5
    }
}
