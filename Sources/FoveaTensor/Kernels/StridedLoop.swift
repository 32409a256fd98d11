/// Iteration over an N-d index space with two strided operands, innermost dimension as a run.
///
/// `shape` is the iteration space; `stridesA`/`stridesB` give each operand's element stride per
/// dimension (0 where the operand is broadcast or reduced). Adjacent dimensions that are
/// contiguous for both operands are merged first, so most calls become a handful of long runs.
/// `body(linear, offsetA, offsetB, runLength, runStrideA, runStrideB)`: `linear` is the row-major
/// index of the run's first element in `shape`.
@inline(__always)
func forEachRun(shape: [Int], stridesA: [Int], stridesB: [Int],
                _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
    // Coalesce from the innermost dimension outwards.
    var dims: [(n: Int, a: Int, b: Int)] = []
    for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
        let d = (n: shape[i], a: stridesA[i], b: stridesB[i])
        if let last = dims.last, d.a == last.a * last.n, d.b == last.b * last.n {
            dims[dims.count - 1].n *= d.n
        } else {
            dims.append(d)
        }
    }
    if dims.isEmpty { body(0, 0, 0, 1, 0, 0); return }
    let inner = dims[0]
    let outer = Array(dims.dropFirst())       // innermost first
    var counter = [Int](repeating: 0, count: outer.count)
    var offA = 0, offB = 0, linear = 0
    while true {
        body(linear, offA, offB, inner.n, inner.a, inner.b)
        linear += inner.n
        var k = 0
        while k < outer.count {
            counter[k] += 1
            offA += outer[k].a
            offB += outer[k].b
            if counter[k] < outer[k].n { break }
            offA -= outer[k].a * outer[k].n
            offB -= outer[k].b * outer[k].n
            counter[k] = 0
            k += 1
        }
        if k == outer.count { return }
    }
}

/// NumPy broadcasting of two shapes; nil when incompatible.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// Strides of a tensor of `shape` viewed in the broadcast space `target` (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = Tensor.strides(of: shape)
    let lead = target.count - shape.count
    return (0..<target.count).map { i in
        i < lead || shape[i - lead] == 1 ? 0 : own[i - lead]
    }
}
