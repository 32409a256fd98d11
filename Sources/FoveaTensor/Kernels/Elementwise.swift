/// Elementwise kernels. Output tensors are freshly allocated and contiguous.
enum Elementwise {
    @inline(__always)
    static func unary(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        let src = x.storage.pointer
        return Tensor(overwriting: x.shape) { out in
            for i in 0..<out.count { out[i] = f(src[i]) }
        }
    }

    /// Runs `body` over chunks of 0..<count on every core when the work is large enough to pay
    /// for the fork (about 64k elements), else in one piece. (The body is called through the
    /// fork, so keep closures out of its inner loop.)
    static func splitOverCores(_ count: Int, _ body: (Range<Int>) -> Void) {
        guard count >= 1 << 16 else { return body(0..<count) }
        Parallel.forEach(count, grain: 1 << 12, body)
    }

    /// min(max(x, 0), upper) (ReLU with upper = infinity, ReLU6 with 6), eight lanes at a time,
    /// on every core. NaN gives 0 for ReLU (`x > 0 ? x : 0`) and stays NaN for a finite upper
    /// bound (`min(max(x, 0), upper)`), as before vectorising.
    static func relu(_ x: Tensor, upper: Float = .infinity) -> Tensor {
        Tensor(overwriting: x.shape) { out in relu(x.storage.pointer, into: out.baseAddress!, count: out.count, upper: upper) }
    }

    /// x = relu(x) (or ReLU6), in place: for a tensor nothing else has seen yet.
    static func reluInPlace(_ x: Tensor, upper: Float = .infinity) {
        relu(x.storage.pointer, into: x.storage.pointer, count: x.count, upper: upper)
    }

    /// po[i] = clamp(src[i]) for i < count; po may be src.
    private static func relu(_ src: UnsafePointer<Float>, into po: UnsafeMutablePointer<Float>, count: Int, upper: Float) {
        let bounded = upper.isFinite, cap = SIMD8<Float>(repeating: upper)
        splitOverCores(count) { range in
            forLanes(range, into: po, vector: { clamp(lanes(src, $0), cap: cap, bounded: bounded) },
                     scalar: { clamp(src[$0], upper: upper, bounded: bounded) })
        }
    }

    /// q[i] = vector(i) for i = range.lowerBound, + 8, ... while eight lanes fit in `range`, then
    /// q[i] = scalar(i) for the rest: the loop of every eight-lane map (unaligned stores; q may
    /// be one of the inputs).
    @inline(__always)
    static func forLanes(_ range: Range<Int>, into q: UnsafeMutablePointer<Float>,
                         vector: (Int) -> SIMD8<Float>, scalar: (Int) -> Float) {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            UnsafeMutableRawPointer(q + i).storeBytes(of: vector(i), as: SIMD8<Float>.self)
            i += 8
        }
        while i < range.upperBound { q[i] = scalar(i); i += 1 }
    }

    /// p[i ..< i + 8] (an unaligned load).
    @inline(__always)
    static func lanes(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// ReLU's value rules for eight lanes: min(max(v, 0), cap), where NaN becomes 0 for ReLU
    /// (`bounded` false, cap infinity) and stays NaN for a finite cap (ReLU6).
    @inline(__always)
    static func clamp(_ v: SIMD8<Float>, cap: SIMD8<Float>, bounded: Bool) -> SIMD8<Float> {
        var v = v
        v.replace(with: 0, where: bounded ? v .< 0 : .!(v .> 0))
        v.replace(with: cap, where: v .> cap)
        return v
    }

    /// The same rules for one value.
    @inline(__always)
    static func clamp(_ v: Float, upper: Float, bounded: Bool) -> Float {
        bounded ? Swift.min(Swift.max(v, 0), upper) : (v > 0 ? v : 0)
    }

    /// g where 0 < x < upper, else 0 (the backward of ``relu(_:upper:)``), eight lanes at a time,
    /// on every core.
    static func reluBackward(_ g: Tensor, _ x: Tensor, upper: Float = .infinity) -> Tensor {
        let pg = g.storage.pointer, px = x.storage.pointer
        return Tensor(overwriting: x.shape) { out in
            let po = out.baseAddress!, cap = SIMD8<Float>(repeating: upper)
            splitOverCores(out.count) { range in
                forLanes(range, into: po, vector: { i in
                    let v = lanes(px, i)
                    return lanes(pg, i).replacing(with: 0, where: .!((v .> 0) .& (v .< cap)))
                }, scalar: { i in px[i] > 0 && px[i] < upper ? pg[i] : 0 })
            }
        }
    }

    /// out = f(a, b) with NumPy broadcasting.
    @inline(__always)
    static func binary(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        guard let shape = broadcastShape(a.shape, b.shape) else {
            checkFailure("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let pa = a.storage.pointer, pb = b.storage.pointer
        if a.shape == b.shape {
            return Tensor(overwriting: shape) { out in
                for i in 0..<out.count { out[i] = f(pa[i], pb[i]) }
            }
        }
        if b.count == 1 {
            let s = pb[0]
            return Tensor(overwriting: shape) { out in
                for i in 0..<out.count { out[i] = f(pa[i], s) }
            }
        }
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        return Tensor(overwriting: shape) { out in
            let po = out.baseAddress!
            forEachRun(shape: shape, stridesA: sa, stridesB: sb) { lin, oa, ob, n, ia, ib in
                if ia == 1 && ib == 0 {
                    let s = pb[ob]
                    for j in 0..<n { po[lin + j] = f(pa[oa + j], s) }
                } else if ia == 0 && ib == 1 {
                    let s = pa[oa]
                    for j in 0..<n { po[lin + j] = f(s, pb[ob + j]) }
                } else {
                    for j in 0..<n { po[lin + j] = f(pa[oa + j * ia], pb[ob + j * ib]) }
                }
            }
        }
    }

    /// Sums `x` over `axes`, keeping them as size-1 dimensions.
    static func sum(_ x: Tensor, axes: [Int]) -> Tensor {
        var outShape = x.shape
        for a in axes { outShape[a] = 1 }
        let outStrides = broadcastStrides(outShape, to: x.shape)
        let px = x.storage.pointer
        return Tensor(shape: outShape) { out in
            let po = out.baseAddress!
            forEachRun(shape: x.shape, stridesA: x.strides, stridesB: outStrides) { _, ox, oo, n, ix, io in
                if io == 0 {
                    var s: Float = 0
                    for j in 0..<n { s += px[ox + j * ix] }
                    po[oo] += s
                } else {
                    for j in 0..<n { po[oo + j * io] += px[ox + j * ix] }
                }
            }
        }
    }

    /// Broadcasts `x` to `shape` (materialised).
    static func expand(_ x: Tensor, to shape: [Int]) -> Tensor {
        let sx = broadcastStrides(x.shape, to: shape)
        let px = x.storage.pointer
        return Tensor(overwriting: shape) { out in
            let po = out.baseAddress!
            forEachRun(shape: shape, stridesA: sx, stridesB: Tensor.strides(of: shape)) { lin, ox, _, n, ix, _ in
                for j in 0..<n { po[lin + j] = px[ox + j * ix] }
            }
        }
    }

    /// Sums a broadcast gradient back to `shape` (the inverse of broadcasting `shape` to g.shape).
    static func sumToShape(_ g: Tensor, _ shape: [Int]) -> Tensor {
        if g.shape == shape { return g }
        let lead = g.rank - shape.count
        var axes: [Int] = Array(0..<lead)
        for i in 0..<shape.count where shape[i] == 1 && g.shape[i + lead] != 1 { axes.append(i + lead) }
        let summed = sum(g, axes: axes)
        return Tensor(shape: shape, storage: summed.storage)
    }
}
