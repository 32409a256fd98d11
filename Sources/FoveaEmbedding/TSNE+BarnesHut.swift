import Dispatch
import Foundation
import Fovea
import FoveaTensor

/// Sparse symmetric affinities in compressed rows: row i's neighbours are
/// `columns[rowStart[i]..<rowStart[i + 1]]` with values p_ij (the whole matrix sums to 1).
struct SparseAffinities: Sendable {
    let n: Int
    let rowStart: [Int]
    let columns: [Int32]
    let values: [Float]
}

extension TSNE {
    /// Gaussian conditionals p_j|i over the given squared distances, with the bandwidth found by
    /// bisection on beta = 1 / (2 sigma^2) so that the row's entropy is log(perplexity).
    /// Distances are shifted by their minimum so exp() cannot underflow to all zeros.
    static func conditionalRow(_ d2: [Double], perplexity: Float) -> [Double] {
        let target = log(Double(perplexity))
        let minD = d2.min() ?? 0
        var row = [Double](repeating: 0, count: d2.count)
        var (beta, lo, hi) = (1.0, 0.0, Double.infinity)
        for _ in 0..<100 {
            var sum = 0.0, weighted = 0.0
            for j in d2.indices {
                row[j] = exp(-beta * (d2[j] - minD))
                sum += row[j]
                weighted += row[j] * (d2[j] - minD)
            }
            let entropy = log(sum) + beta * weighted / sum
            if abs(entropy - target) < 1e-5 { break }
            if entropy > target { lo = beta; beta = hi.isInfinite ? beta * 2 : (beta + hi) / 2 }
            else { hi = beta; beta = (beta + lo) / 2 }
        }
        let sum = row.reduce(0, +)
        return row.map { $0 / sum }
    }

    /// P from each point's k = min(N - 1, 3 x perplexity) exact nearest neighbours (Euclidean):
    /// p_j|i over those neighbours, then p_ij = (p_j|i + p_i|j) / 2N.
    static func sparseAffinities(_ x: Tensor, perplexity: Float, progress: ((Int, Int) -> Void)? = nil) -> SparseAffinities {
        let n = x.shape[0]
        let k = min(n - 1, Int((3 * perplexity).rounded(.up)))
        let search = NearestNeighbors(index: x, metric: .l2)
        var entries = [[(Int32, Float)]](repeating: [], count: n)       // row i: (j, p_j|i / 2N)
        let block = 1024
        for start in stride(from: 0, to: n, by: block) {
            let rows = start..<min(start + block, n)
            let found = search.search(x.slice(axis: 0, rows), k: k, exclude: Array(rows))
            for (offset, neighbours) in found.enumerated() {
                let row = conditionalRow(neighbours.map { Double($0.distance) * Double($0.distance) }, perplexity: perplexity)
                entries[start + offset] = zip(neighbours, row).map { (Int32($0.row), Float($1 / Double(2 * n))) }
            }
            progress?(rows.upperBound, n)
        }
        // Symmetrise: add every entry's transpose, then merge equal columns per row.
        var all = entries
        for i in 0..<n { for (j, v) in entries[i] { all[Int(j)].append((Int32(i), v)) } }
        var rowStart = [0], columns: [Int32] = [], values: [Float] = []
        columns.reserveCapacity(2 * n * k); values.reserveCapacity(2 * n * k)
        for i in 0..<n {
            for (j, v) in all[i].sorted(by: { $0.0 < $1.0 }) {
                if columns.count > rowStart[i], columns.last == j { values[values.count - 1] += v } else { columns.append(j); values.append(v) }
            }
            rowStart.append(columns.count)
        }
        return SparseAffinities(n: n, rowStart: rowStart, columns: columns, values: values)
    }

    /// dC/dy [2N] with the attraction over the sparse P exactly and a repulsion r_i =
    /// sum_j w_ij^2 (y_i - y_j) [2N] and Z = sum_{i != j} w_ij from an approximation (Barnes-Hut
    /// or FFT): 4 (a sum_j p_ij w_ij (y_i - y_j) - r_i / Z).
    static func sparseGradient(_ y: [Float], _ p: SparseAffinities, repulsion: [Float], z: Double, exaggeration: Float) -> [Float] {
        var gradient = attraction(y, p)
        let invZ = Float(1 / z)
        for k in gradient.indices { gradient[k] = 4 * (exaggeration * gradient[k] - invZ * repulsion[k]) }
        return gradient
    }

    /// sum_j p_ij w_ij (y_i - y_j) [2N] over the sparse P, every core; a row's entries 8 at a time.
    static func attraction(_ y: [Float], _ p: SparseAffinities) -> [Float] {
        var forces = [Float](repeating: 0, count: y.count)
        y.withUnsafeBufferPointer { y in
        p.rowStart.withUnsafeBufferPointer { rowStart in
        p.columns.withUnsafeBufferPointer { columns in
        p.values.withUnsafeBufferPointer { values in
        forces.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.forEach(p.n, grain: 256) { rows in
                for i in rows {
                    let (xi, yi) = (y[2 * i], y[2 * i + 1])
                    var (ax8, ay8) = (SIMD8<Float>(), SIMD8<Float>())
                    var (e, end) = (rowStart[i], rowStart[i + 1])
                    while e + 8 <= end {
                        var (xj, yj) = (SIMD8<Float>(), SIMD8<Float>())
                        for l in 0..<8 {
                            let j = Int(columns[e + l])
                            (xj[l], yj[l]) = (y[2 * j], y[2 * j + 1])
                        }
                        let v = UnsafeRawPointer(values.baseAddress! + e).loadUnaligned(as: SIMD8<Float>.self)
                        let (dx, dy) = (xi - xj, yi - yj)
                        let m = v / (1 + dx * dx + dy * dy)
                        ax8 += m * dx
                        ay8 += m * dy
                        e += 8
                    }
                    var (ax, ay) = (ax8.sum(), ay8.sum())
                    while e < end {
                        let j = Int(columns[e])
                        let (dx, dy) = (xi - y[2 * j], yi - y[2 * j + 1])
                        let m = values[e] / (1 + dx * dx + dy * dy)
                        ax += m * dx
                        ay += m * dy
                        e += 1
                    }
                    out[2 * i] = ax
                    out[2 * i + 1] = ay
                }
            }
        } } } } }
        return forces
    }

    /// The repulsion r_i = sum_j w_ij^2 (y_i - y_j) [2N] and Z = sum_{i != j} w_ij by Barnes-Hut.
    static func barnesHutRepulsion(_ y: [Float], theta: Float) -> (forces: [Float], z: Double) {
        let n = y.count / 2
        let tree = QuadTree(y)
        var zParts = [Double](repeating: 0, count: Parallel.threads)   // one per part, added in order
        var repulsion = [Float](repeating: 0, count: 2 * n)
        repulsion.withUnsafeMutableBufferPointer { rep in
            let rep = rep
            Parallel.split { part, parts in
                var z = 0.0
                let stack = UnsafeMutablePointer<Int32>.allocate(capacity: QuadTree.stackCapacity)
                defer { stack.deallocate() }
                for i in stride(from: part, to: n, by: parts) {
                    let r = tree.repulsion(x: y[2 * i], y: y[2 * i + 1], theta: theta, stack: stack)
                    z += Double(r.z) - 1                                  // minus the point itself
                    rep[2 * i] = r.fx
                    rep[2 * i + 1] = r.fy
                }
                zParts[part] = z
            }
        }
        return (repulsion, zParts.reduce(0, +))
    }

    /// Z = sum_{i != j} 1 / (1 + |y_i - y_j|^2), exactly (O(N^2), every core).
    static func exactNormalizer(_ y: [Float]) -> Double {
        let n = y.count / 2
        let (xs, ys) = coordinates(y)
        var sums = [Double](repeating: 0, count: Parallel.threads)   // one per part, added in order
        xs.withUnsafeBufferPointer { xb in ys.withUnsafeBufferPointer { yb in
            let (xp, yp) = (xb.baseAddress!, yb.baseAddress!)
            Parallel.split { part, parts in
                var z = 0.0
                for i in stride(from: part, to: n, by: parts) {
                    // Every j, 8 lanes at a time; the j = i term is exactly 1 and is taken off.
                    let (xi, yi) = (SIMD8<Float>(repeating: xp[i]), SIMD8<Float>(repeating: yp[i]))
                    var lanes = SIMD8<Float>()
                    var j = 0
                    while j + 8 <= n {
                        let dx = xi - UnsafeRawPointer(xp + j).loadUnaligned(as: SIMD8<Float>.self)
                        let dy = yi - UnsafeRawPointer(yp + j).loadUnaligned(as: SIMD8<Float>.self)
                        lanes += 1 / (1 + dx * dx + dy * dy)
                        j += 8
                    }
                    var s = lanes.sum()
                    while j < n {
                        let (dx, dy) = (xp[i] - xp[j], yp[i] - yp[j])
                        s += 1 / (1 + dx * dx + dy * dy)
                        j += 1
                    }
                    z += Double(s) - 1
                }
                sums[part] = z
            }
        } }
        return sums.reduce(0, +)
    }

    /// KL(P || Q) = sum_{p_ij > 0} p_ij log(p_ij Z (1 + |y_i - y_j|^2)) for the sparse P.
    static func kl(_ y: [Float], _ p: SparseAffinities, z: Double) -> Float {
        var kl = 0.0
        for i in 0..<p.n {
            for e in p.rowStart[i]..<p.rowStart[i + 1] where p.values[e] > 0 {
                let j = Int(p.columns[e])
                let (dx, dy) = (Double(y[2 * i] - y[2 * j]), Double(y[2 * i + 1] - y[2 * j + 1]))
                let pij = Double(p.values[e])
                kl += pij * log(pij * z * (1 + dx * dx + dy * dy))
            }
        }
        return Float(kl)
    }
}
