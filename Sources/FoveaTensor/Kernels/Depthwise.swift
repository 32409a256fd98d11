import Dispatch

/// Direct kernels for grouped convolutions with one input channel per group (depthwise, with
/// channel multiplier m = Cout / Cin): output channel o reads input channel o / m.
/// y[n, o, oy, ox] = sum_{ky, kx} w[o, 0, ky, kx] * x[n, o/m, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw].
/// Each kernel loops over taps, then rows, with a contiguous (stride-1) inner loop where possible.
enum Depthwise {
    typealias Dims = Convolution.Dims

    /// Runs `body(plane)` for every (image, output channel) plane, split across the cores.
    @inline(__always)
    static func forEachPlane(_ d: Dims, _ body: (Int) -> Void) {
        let planes = d.n * d.cout
        let parts = min(planes, 8)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            for p in stride(from: part, to: planes, by: parts) { body(p) }
        }
    }

    /// Calls body(ky, kx, oy, iy, lo, hi, xOffset) for each kernel tap and each output row whose
    /// input row iy is inside the image; output columns lo..<hi read input column ox*sw + xOffset.
    @inline(__always)
    static func forEachTapRow(_ d: Dims, _ g: Conv2dGeometry,
                              _ body: (_ tap: Int, _ oy: Int, _ iy: Int, _ lo: Int, _ hi: Int, _ xOffset: Int) -> Void) {
        for ky in 0..<d.kh {
            for kx in 0..<d.kw {
                let xOffset = kx * g.dilation.w - g.padding.left
                let (lo, hi) = Convolution.validRange(kernelOffset: xOffset, stride: g.stride.w, input: d.w, output: d.wo)
                guard lo < hi else { continue }
                for oy in 0..<d.ho {
                    let iy = oy * g.stride.h - g.padding.top + ky * g.dilation.h
                    if iy >= 0 && iy < d.h { body(ky * d.kw + kx, oy, iy, lo, hi, xOffset) }
                }
            }
        }
    }

    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, _ d: Dims) -> Tensor {
        let y = Tensor(zeros: [d.n, d.cout, d.ho, d.wo])
        let px = x.storage.pointer, pw = w.storage.pointer, py = y.storage.pointer
        let pb = bias?.storage.pointer
        let m = d.cout / d.cin, sw = g.stride.w
        forEachPlane(d) { plane in
            let (n, o) = (plane / d.cout, plane % d.cout)
            let src = px + (n * d.cin + o / m) * d.h * d.w
            let dst = py + plane * d.hwo
            let wk = pw + o * d.kh * d.kw
            if let pb { dst.update(repeating: pb[o], count: d.hwo) }
            forEachTapRow(d, g) { tap, oy, iy, lo, hi, xOffset in
                let wv = wk[tap]
                let s = src + iy * d.w + xOffset, o = dst + oy * d.wo
                if sw == 1 {
                    for ox in lo..<hi { o[ox] = o[ox].addingProduct(wv, s[ox]) }
                } else {
                    for ox in lo..<hi { o[ox] = o[ox].addingProduct(wv, s[ox * sw]) }
                }
            }
        }
        return y
    }

    static func backwardInput(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry, _ d: Dims) -> Tensor {
        let m = d.cout / d.cin, sw = g.stride.w
        // With a channel multiplier, several output planes write one input plane: accumulate
        // per output plane into a scratch copy only when m > 1.
        let dx = Tensor(zeros: inputShape)
        let pdy = dy.storage.pointer, pw = w.storage.pointer, pdx = dx.storage.pointer
        let body: (Int, UnsafeMutablePointer<Float>) -> Void = { plane, dst in
            let o = plane % d.cout
            let src = pdy + plane * d.hwo
            let wk = pw + o * d.kh * d.kw
            forEachTapRow(d, g) { tap, oy, iy, lo, hi, xOffset in
                let wv = wk[tap]
                let t = dst + iy * d.w + xOffset, s = src + oy * d.wo
                if sw == 1 {
                    for ox in lo..<hi { t[ox] += wv * s[ox] }
                } else {
                    for ox in lo..<hi { t[ox * sw] += wv * s[ox] }
                }
            }
        }
        if m == 1 {
            forEachPlane(d) { plane in body(plane, pdx + plane * d.h * d.w) }
        } else {
            for plane in 0..<(d.n * d.cout) {
                let (n, o) = (plane / d.cout, plane % d.cout)
                body(plane, pdx + (n * d.cin + o / m) * d.h * d.w)
            }
        }
        return dx
    }

    static func backwardWeight(_ dy: Tensor, _ x: Tensor, weightShape: [Int], _ g: Conv2dGeometry, _ d: Dims) -> Tensor {
        let m = d.cout / d.cin, sw = g.stride.w, taps = d.kh * d.kw
        // Per-plane partial sums, then reduced over images (planes of one channel differ by n).
        let partial = Tensor(zeros: [d.n, d.cout, taps])
        let pdy = dy.storage.pointer, px = x.storage.pointer, pp = partial.storage.pointer
        forEachPlane(d) { plane in
            let (n, o) = (plane / d.cout, plane % d.cout)
            let src = px + (n * d.cin + o / m) * d.h * d.w
            let gy = pdy + plane * d.hwo
            let acc = pp + plane * taps
            forEachTapRow(d, g) { tap, oy, iy, lo, hi, xOffset in
                let s = src + iy * d.w + xOffset, gr = gy + oy * d.wo
                var sum: Float = 0
                if sw == 1 {
                    for ox in lo..<hi { sum += gr[ox] * s[ox] }
                } else {
                    for ox in lo..<hi { sum += gr[ox] * s[ox * sw] }
                }
                acc[tap] += sum
            }
        }
        let summed = Elementwise.sum(partial, axes: [0])
        return Tensor(shape: weightShape, storage: summed.storage)
    }
}
