/// Padding and resampling of NCHW tensors, with their adjoints for backward.
enum Spatial {
    /// Source index of padded position `i` (in 0..<n+before+after) or -1 for a zero.
    @inline(__always)
    static func source(_ i: Int, before: Int, n: Int, mode: PaddingMode) -> Int {
        var s = i - before
        if s >= 0 && s < n { return s }
        if mode == .zero { return -1 }
        // Reflection without repeating the edge: -1 -> 1, n -> n-2.
        if s < 0 { s = -s }
        if s >= n { s = 2 * (n - 1) - s }
        return s
    }

    static func pad(_ x: Tensor, top: Int, bottom: Int, left: Int, right: Int, mode: PaddingMode) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = h + top + bottom, ow = w + left + right
        let px = x.storage.pointer
        let colSrc = (0..<ow).map { source($0, before: left, n: w, mode: mode) }
        return Tensor(shape: [n, c, oh, ow]) { out in
            for plane in 0..<(n * c) {
                for y in 0..<oh {
                    let sy = source(y, before: top, n: h, mode: mode)
                    if sy < 0 { continue }
                    let src = px + plane * h * w + sy * w
                    let dst = out.baseAddress! + plane * oh * ow + y * ow
                    for xo in 0..<ow where colSrc[xo] >= 0 { dst[xo] = src[colSrc[xo]] }
                }
            }
        }
    }

    /// Adjoint of `pad`: each padded position's gradient goes back to its source.
    static func padBackward(_ g: Tensor, inputShape: [Int], top: Int, left: Int, mode: PaddingMode) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (g.shape[2], g.shape[3])
        let pg = g.storage.pointer
        let colSrc = (0..<ow).map { source($0, before: left, n: w, mode: mode) }
        return Tensor(shape: inputShape) { out in
            for plane in 0..<(n * c) {
                for y in 0..<oh {
                    let sy = source(y, before: top, n: h, mode: mode)
                    if sy < 0 { continue }
                    let dst = out.baseAddress! + plane * h * w + sy * w
                    let src = pg + plane * oh * ow + y * ow
                    for xo in 0..<ow where colSrc[xo] >= 0 { dst[colSrc[xo]] += src[xo] }
                }
            }
        }
    }

    /// Per output coordinate: two source indices and the weight of the second
    /// (nearest: src = floor(dst * in / out); bilinear, align_corners=False:
    /// src = max((dst + 0.5) * in / out - 0.5, 0)).
    static func taps(out: Int, in n: Int, mode: ResizeMode) -> [(Int, Int, Float)] {
        let scale = Double(n) / Double(out)
        return (0..<out).map { d in
            switch mode {
            case .nearest:
                let s = min(Int((Double(d) * scale).rounded(.down)), n - 1)
                return (s, s, 0)
            case .bilinear:
                let s = max((Double(d) + 0.5) * scale - 0.5, 0)
                let i0 = min(Int(s), n - 1)
                let i1 = min(i0 + 1, n - 1)
                return (i0, i1, Float(s - Double(i0)))
            }
        }
    }

    static func resize(_ x: Tensor, h oh: Int, w ow: Int, mode: ResizeMode) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ty = taps(out: oh, in: h, mode: mode), tx = taps(out: ow, in: w, mode: mode)
        let px = x.storage.pointer
        return Tensor(overwriting: [n, c, oh, ow]) { out in
            for plane in 0..<(n * c) {
                let src = px + plane * h * w
                let dst = out.baseAddress! + plane * oh * ow
                for y in 0..<oh {
                    let (y0, y1, fy) = ty[y]
                    for xo in 0..<ow {
                        let (x0, x1, fx) = tx[xo]
                        let top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx
                        let bottom = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx
                        dst[y * ow + xo] = top * (1 - fy) + bottom * fy
                    }
                }
            }
        }
    }

    static func resizeBackward(_ g: Tensor, inputShape: [Int], mode: ResizeMode) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (g.shape[2], g.shape[3])
        let ty = taps(out: oh, in: h, mode: mode), tx = taps(out: ow, in: w, mode: mode)
        let pg = g.storage.pointer
        return Tensor(shape: inputShape) { out in
            for plane in 0..<(n * c) {
                let src = pg + plane * oh * ow
                let dst = out.baseAddress! + plane * h * w
                for y in 0..<oh {
                    let (y0, y1, fy) = ty[y]
                    for xo in 0..<ow {
                        let (x0, x1, fx) = tx[xo]
                        let v = src[y * ow + xo]
                        dst[y0 * w + x0] += v * (1 - fy) * (1 - fx)
                        dst[y0 * w + x1] += v * (1 - fy) * fx
                        dst[y1 * w + x0] += v * fy * (1 - fx)
                        dst[y1 * w + x1] += v * fy * fx
                    }
                }
            }
        }
    }
}
