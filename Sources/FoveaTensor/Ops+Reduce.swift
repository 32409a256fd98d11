import Foundation

extension Tensor {
    func normalizedAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        check(a >= 0 && a < rank, "axis \(axis) out of range for shape \(shape)")
        return a
    }

    /// Sum over `axes` (all axes when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axes = (axes ?? Array(0..<rank)).map(normalizedAxis).sorted()
        let kept = Elementwise.sum(self, axes: axes).recorded(.sum(axes: axes), [self])
        if keepDims { return kept }
        let squeezed = shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        return kept.reshaped(squeezed)
    }

    /// Mean over `axes` (all axes when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axes = (axes ?? Array(0..<rank)).map(normalizedAxis)
        let n = axes.reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepDims: keepDims).scaled(by: 1 / Float(n))
    }

    /// Maximum along one axis, keeping it as size 1. The gradient goes to the first maximum.
    public func max(axis: Int, keepDims: Bool = true) -> Tensor {
        let a = normalizedAxis(axis)
        let (values, argmax) = Reduce.max(self, axis: a)
        let out = values.recorded(.maxReduce(axis: a), [self], saved: [argmax])
        if keepDims { return out }
        var s = shape; s.remove(at: a)
        return out.reshaped(s)
    }

    /// Index of the largest element along the last axis, per row (not differentiable).
    public func argmax() -> [Int] {
        let n = shape.last ?? 1
        let p = storage.pointer
        return (0..<(count / Swift.max(n, 1))).map { r in
            var best = 0
            for j in 1..<n where p[r * n + j] > p[r * n + best] { best = j }
            return best
        }
    }

    public func softmax(axis: Int = -1) -> Tensor {
        let a = normalizedAxis(axis)
        return Reduce.softmax(self, axis: a, log: false).recorded(.softmax(axis: a), [self])
    }

    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = normalizedAxis(axis)
        return Reduce.softmax(self, axis: a, log: true).recorded(.logSoftmax(axis: a), [self])
    }
}

/// Reductions along one axis, viewing the tensor as [outer, axis, inner].
enum Reduce {
    static func split(_ shape: [Int], _ axis: Int) -> (outer: Int, n: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// (max values with the axis kept as 1, index of the max as Float).
    static func max(_ x: Tensor, axis: Int) -> (Tensor, Tensor) {
        let (outer, n, inner) = split(x.shape, axis)
        var outShape = x.shape; outShape[axis] = 1
        let values = Tensor(zeros: outShape), index = Tensor(zeros: outShape)
        let p = x.storage.pointer, pv = values.storage.pointer, pi = index.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0
                var bv = p[o * n * inner + i]
                for j in 1..<Swift.max(n, 1) where p[(o * n + j) * inner + i] > bv {
                    bv = p[(o * n + j) * inner + i]; best = j
                }
                pv[o * inner + i] = bv
                pi[o * inner + i] = Float(best)
            }
        }
        return (values, index)
    }

    /// softmax(x) = exp(x - max) / sum(exp(x - max)); log-softmax = x - max - log(sum(exp(x - max))).
    static func softmax(_ x: Tensor, axis: Int, log: Bool) -> Tensor {
        let (outer, n, inner) = split(x.shape, axis)
        let p = x.storage.pointer
        return Tensor(overwriting: x.shape) { out in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    var m = -Float.infinity
                    for j in 0..<n { m = Swift.max(m, p[base + j * inner]) }
                    var s: Float = 0
                    for j in 0..<n { s += Foundation.exp(p[base + j * inner] - m) }
                    if log {
                        let ls = Foundation.log(s)
                        for j in 0..<n { out[base + j * inner] = p[base + j * inner] - m - ls }
                    } else {
                        for j in 0..<n { out[base + j * inner] = Foundation.exp(p[base + j * inner] - m) / s }
                    }
                }
            }
        }
    }
}
