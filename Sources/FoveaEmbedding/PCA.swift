import Foundation
import Fovea
import FoveaTensor

/// Principal component analysis of the rows of [N, D].
public struct PCA: Sendable {
    /// Row means, [D].
    public let mean: [Float]
    /// Principal directions as rows, [k, D], by decreasing variance.
    public let components: Tensor
    /// Variance along each component.
    public let variances: [Float]

    /// The top `k` principal components by block power iteration on the covariance
    /// C = X_c^T X_c / (N - 1) with Gram-Schmidt orthonormalisation and a Rayleigh-Ritz
    /// rotation at the end; `iterations` products with C (D x D, one GEMM each).
    public init(_ x: Tensor, components k: Int = 2, iterations: Int = 300, seed: UInt64 = 0) throws {
        guard x.rank == 2, x.shape[0] >= 2 else { throw FoveaError("PCA needs an [N, D] matrix with N >= 2, got \(x.shape)") }
        let (n, d) = (x.shape[0], x.shape[1])
        guard k >= 1 && k <= d else { throw FoveaError("--components \(k): must be in 1...\(d)") }
        let mean = withNoGrad { x.mean(axes: [0]) }
        let centred = withNoGrad { x - mean.reshaped([1, d]) }
        let covariance = withNoGrad { centred.matmul(centred, transposeA: true) / Float(n - 1) }   // [D, D]
        var generator = SeededGenerator(seed: seed)
        var q = Self.orthonormalRows(Tensor.normal([k, d], using: &generator))
        for _ in 0..<iterations {
            q = Self.orthonormalRows(withNoGrad { q.matmul(covariance) })            // rows: Q C
        }
        // Rayleigh-Ritz: eigenvectors of the k x k matrix Q C Q^T order and rotate the basis.
        let small = withNoGrad { q.matmul(covariance).matmul(q, transposeB: true) }.scalars
        let (values, vectors) = Self.symmetricEigen(small, k)
        let rotation = Tensor(shape: [k, k], values: vectors)
        self.components = withNoGrad { rotation.matmul(q) }
        self.variances = values
        self.mean = mean.scalars
    }

    /// Coordinates of rows of `x` on the components, [N, k].
    public func transform(_ x: Tensor) -> Tensor {
        withNoGrad { (x - Tensor(shape: [1, mean.count], values: mean)).matmul(components, transposeB: true) }
    }

    /// Gram-Schmidt on the rows (twice, for stability).
    static func orthonormalRows(_ m: Tensor) -> Tensor {
        let (k, d) = (m.shape[0], m.shape[1])
        var rows = (0..<k).map { Array(m.scalars[($0 * d)..<(($0 + 1) * d)]).map(Double.init) }
        for _ in 0..<2 {
            for i in 0..<k {
                for j in 0..<i {
                    let dot = zip(rows[i], rows[j]).reduce(0) { $0 + $1.0 * $1.1 }
                    for t in 0..<d { rows[i][t] -= dot * rows[j][t] }
                }
                let norm = rows[i].reduce(0) { $0 + $1 * $1 }.squareRoot()
                rows[i] = rows[i].map { norm > 0 ? $0 / norm : 0 }
            }
        }
        return Tensor(shape: [k, d], values: rows.flatMap { $0.map(Float.init) })
    }

    /// Eigenvalues (descending) and eigenvectors (as rows) of a small symmetric k x k matrix, by
    /// cyclic Jacobi rotations in Double.
    static func symmetricEigen(_ m: [Float], _ k: Int) -> ([Float], [Float]) {
        var a = m.map(Double.init)
        var v = (0..<(k * k)).map { $0 / k == $0 % k ? 1.0 : 0.0 }
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<k { for q in (p + 1)..<max(k, p + 1) { off += a[p * k + q] * a[p * k + q] } }
            if off < 1e-24 { break }
            for p in 0..<k {
                for q in (p + 1)..<max(k, p + 1) where abs(a[p * k + q]) > 1e-300 {
                    let theta = (a[q * k + q] - a[p * k + p]) / (2 * a[p * k + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for r in 0..<k {                                   // A <- J^T A J
                        let (arp, arq) = (a[r * k + p], a[r * k + q])
                        a[r * k + p] = c * arp - s * arq
                        a[r * k + q] = s * arp + c * arq
                    }
                    for r in 0..<k {
                        let (apr, aqr) = (a[p * k + r], a[q * k + r])
                        a[p * k + r] = c * apr - s * aqr
                        a[q * k + r] = s * apr + c * aqr
                    }
                    for r in 0..<k {                                   // V <- V J (columns)
                        let (vrp, vrq) = (v[r * k + p], v[r * k + q])
                        v[r * k + p] = c * vrp - s * vrq
                        v[r * k + q] = s * vrp + c * vrq
                    }
                }
            }
        }
        let order = (0..<k).sorted { a[$0 * k + $0] > a[$1 * k + $1] }
        let values = order.map { Float(a[$0 * k + $0]) }
        // Eigenvectors are the columns of V: emit them as rows, in the same order.
        let vectors = order.flatMap { col in (0..<k).map { Float(v[$0 * k + col]) } }
        return (values, vectors)
    }
}
