import Dispatch

/// Pooling kernels over NCHW planes. Padded positions never win a max and, for average pooling,
/// count towards the divisor only with `countIncludePad` (PyTorch's rules).
enum Pooling {
    /// (output, argmax as the flat index within the input plane, stored as Float). With
    /// `planeTransform`, each input plane is first rewritten by it into a scratch plane
    /// (plane index, source, destination) and pooled from there: an elementwise layer before
    /// the pooling without its full-size output.
    static func maxPool(_ x: Tensor, _ g: Conv2dGeometry, ceilMode: Bool,
                        planeTransform: ((Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void)? = nil) -> (Tensor, Tensor) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = g.outputSize(h: h, w: w, ceilMode: ceilMode)
        let out = Tensor(overwriting: [n, c, oh, ow]) { _ in }, index = Tensor(overwriting: [n, c, oh, ow]) { _ in }
        let px = x.storage.pointer, po = out.storage.pointer, pi = index.storage.pointer
        // Per output row / column: the kernel rows / columns that land inside the input.
        func window(_ o: Int, stride s: Int, pad: Int, dilation d: Int, k: Int, size: Int) -> Range<Int> {
            var lo = 0, hi = k
            while lo < k && o * s - pad + lo * d < 0 { lo += 1 }
            while hi > lo && o * s - pad + (hi - 1) * d >= size { hi -= 1 }
            return lo..<hi
        }
        let rows = (0..<oh).map { window($0, stride: g.stride.h, pad: g.padding.top, dilation: g.dilation.h, k: g.kernel.h, size: h) }
        let cols = (0..<ow).map { window($0, stride: g.stride.w, pad: g.padding.left, dilation: g.dilation.w, k: g.kernel.w, size: w) }
        let planes = n * c, parts = min(planes, 2)
        // 2x2 windows at stride 2 that all lie inside the input (the common CNN pooling).
        let pairs = g.kernel == (2, 2) && g.stride == (2, 2) && g.dilation == (1, 1)
            && g.padding.top == 0 && g.padding.left == 0 && 2 * oh <= h && 2 * ow <= w
        // The plane to pool: x's own, or its transform in the chunk's scratch plane.
        @inline(__always) func source(_ plane: Int, _ scratch: UnsafeMutablePointer<Float>?) -> UnsafeMutablePointer<Float> {
            guard let planeTransform, let scratch else { return px + plane * h * w }
            planeTransform(plane, px + plane * h * w, scratch)
            return scratch
        }
        if pairs {
            Parallel.forEach(planes, grain: parts == 1 ? planes : 1) { chunk in
                let scratch = planeTransform == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: h * w)
                defer { scratch?.deallocate() }
                for plane in chunk {
                    Self.maxPool2x2(source(plane, scratch), w: w, oh: oh, ow: ow,
                                    out: po + plane * oh * ow, argmax: pi + plane * oh * ow)
                }
            }
            return (out, index)
        }
        // Outputs whose whole window lies inside the input go 8 at a time where the stride is
        // 1 or 2 (ResNet's 3x3/2 stem pooling, 3x3/1 pooling). A block starting at output ox
        // loads `load` floats from input column ox * s - pad + kx for each kx < k, which must
        // end inside the row; oxInside is the range of outputs such blocks cover.
        let s = g.stride.w, load = s == 2 ? 16 : 8
        var oxInside = 0..<0
        if (s == 1 || s == 2) && g.dilation == (1, 1) {
            let lo = (g.padding.left + s - 1) / s
            let lastStart = w + g.padding.left - g.kernel.w + 1 - load
            if lastStart >= 0 { oxInside = lo..<max(lo, min(ow, lastStart / s + 8)) }
        }
        Parallel.forEach(planes, grain: parts == 1 ? planes : 1) { chunk in
            let scratch = planeTransform == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: h * w)
            defer { scratch?.deallocate() }
            for plane in chunk {
                let src = source(plane, scratch)
                let dst = po + plane * oh * ow, arg = pi + plane * oh * ow
                for oy in 0..<oh {
                    let y0 = oy * g.stride.h - g.padding.top
                    var skip = 0..<0
                    if oxInside.count >= 8 && rows[oy].count == g.kernel.h {
                        skip = oxInside
                        var ox = oxInside.lowerBound
                        while true {
                            if s == 2 {
                                Self.maxPoolBlock(SIMD16<Float>.self, src, w: w, y0: y0, x0: ox * 2 - g.padding.left,
                                                  kernel: g.kernel, out: dst + oy * ow + ox, argmax: arg + oy * ow + ox)
                            } else {
                                Self.maxPoolBlock(SIMD8<Float>.self, src, w: w, y0: y0, x0: ox - g.padding.left,
                                                  kernel: g.kernel, out: dst + oy * ow + ox, argmax: arg + oy * ow + ox)
                            }
                            if ox + 8 == oxInside.upperBound { break }
                            ox = min(ox + 8, oxInside.upperBound - 8)
                        }
                    }
                    for ox in 0..<ow where !skip.contains(ox) {
                        let x0 = ox * g.stride.w - g.padding.left
                        let (ry, cx) = (rows[oy], cols[ox])
                        guard !ry.isEmpty && !cx.isEmpty else {
                            dst[oy * ow + ox] = -.infinity
                            arg[oy * ow + ox] = -1
                            continue
                        }
                        var bestIndex = (y0 + ry.lowerBound * g.dilation.h) * w + x0 + cx.lowerBound * g.dilation.w
                        var best = src[bestIndex]
                        for ky in ry {
                            let rowStart = (y0 + ky * g.dilation.h) * w + x0
                            for kx in cx {
                                let i = rowStart + kx * g.dilation.w
                                let v = src[i]
                                // NaN wins, as in PyTorch; ties keep the first. Selects, not
                                // branches: which element wins is unpredictable.
                                let better = v > best || (v.isNaN && !best.isNaN)
                                best = better ? v : best
                                bestIndex = better ? i : bestIndex
                            }
                        }
                        dst[oy * ow + ox] = best
                        arg[oy * ow + ox] = Float(bestIndex)
                    }
                }
            }
        }
        return (out, index)
    }

    /// One plane of 2x2 / stride 2 max pooling; same rules as the general loop (NaN wins, ties
    /// keep the first in row-major window order).
    @inline(__always)
    static func maxPool2x2(_ src: UnsafeMutablePointer<Float>, w: Int, oh: Int, ow: Int,
                           out: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Float>) {
        for oy in 0..<oh {
            let top = 2 * oy * w, bottom = top + w
            let o = out + oy * ow, a = argmax + oy * ow
            // Blocks of 8 (or 4) outputs from the even and odd columns of 16 (8) inputs per row;
            // a last partial block is redone overlapping the previous one (the result is the same).
            if ow >= 8 {
                var ox = 0
                while true {
                    maxPool2x2Block(SIMD16<Float>.self, src, top: top, bottom: bottom, ox: ox, out: o, argmax: a)
                    if ox + 8 == ow { break }
                    ox = min(ox + 8, ow - 8)
                }
            } else if ow >= 4 {
                var ox = 0
                while true {
                    maxPool2x2Block(SIMD8<Float>.self, src, top: top, bottom: bottom, ox: ox, out: o, argmax: a)
                    if ox + 4 == ow { break }
                    ox = min(ox + 4, ow - 4)
                }
            } else {
                for ox in 0..<ow {
                    var bestIndex = top + 2 * ox
                    var best = src[bestIndex]
                    @inline(__always) func consider(_ i: Int) {
                        let v = src[i]
                        let better = v > best || (v.isNaN && !best.isNaN)
                        best = better ? v : best
                        bestIndex = better ? i : bestIndex
                    }
                    consider(top + 2 * ox + 1)
                    consider(bottom + 2 * ox)
                    consider(bottom + 2 * ox + 1)
                    o[ox] = best
                    a[ox] = Float(bestIndex)
                }
            }
        }
    }

    /// Outputs ox ..< ox + lanes of one output row, from 2 x lanes inputs of each window row:
    /// `Wide` is the input vector (SIMD16 for 8 outputs, SIMD8 for 4).
    @inline(__always)
    static func maxPool2x2Block<Wide: HalvingFloatVector>(_: Wide.Type, _ src: UnsafeMutablePointer<Float>, top: Int, bottom: Int,
                                                         ox: Int, out: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Float>) {
        let t = UnsafeRawPointer(src + top + 2 * ox).loadUnaligned(as: Wide.self)
        let b = UnsafeRawPointer(src + bottom + 2 * ox).loadUnaligned(as: Wide.self)
        var base = Wide.Half()
        for i in 0..<base.scalarCount { base[i] = Float(top + 2 * ox + 2 * i) }
        var best = t.evenHalf, bestIndex = base
        // In window order.
        Wide.Half.keepMax(t.oddHalf, base + 1, &best, &bestIndex)
        Wide.Half.keepMax(b.evenHalf, base + Float(bottom - top), &best, &bestIndex)
        Wide.Half.keepMax(b.oddHalf, base + Float(bottom - top + 1), &best, &bestIndex)
        UnsafeMutableRawPointer(out + ox).storeBytes(of: best, as: Wide.Half.self)
        UnsafeMutableRawPointer(argmax + ox).storeBytes(of: bestIndex, as: Wide.Half.self)
    }

    /// Outputs ox ..< ox + 8 of one output row whose windows start at input row y0 and columns
    /// x0 + s * i (i < 8) and lie inside the input: `Wide` is SIMD8 for stride 1 (lanes are
    /// consecutive columns) or SIMD16 for stride 2 (lanes are the even columns of a 16-wide
    /// load). Window order, NaN and tie rules as in the general loop.
    @inline(__always)
    static func maxPoolBlock<Wide: HalvingFloatVector>(_: Wide.Type, _ src: UnsafeMutablePointer<Float>, w: Int, y0: Int, x0: Int,
                                                      kernel: (h: Int, w: Int),
                                                      out: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Float>) {
        let strided = Wide.scalarCount == 16
        @inline(__always) func lanes(_ at: Int) -> SIMD8<Float> {
            let v = UnsafeRawPointer(src + at).loadUnaligned(as: Wide.self)
            return strided ? unsafeBitCast(v.evenHalf, to: SIMD8<Float>.self) : unsafeBitCast(v, to: SIMD8<Float>.self)
        }
        var offsets = SIMD8<Float>()
        for i in 0..<8 { offsets[i] = Float((strided ? 2 : 1) * i) }
        let first = y0 * w + x0
        var best = lanes(first), bestIndex = offsets + Float(first)
        for ky in 0..<kernel.h {
            for kx in 0..<kernel.w where ky > 0 || kx > 0 {
                let at = (y0 + ky) * w + x0 + kx
                SIMD8<Float>.keepMax(lanes(at), offsets + Float(at), &best, &bestIndex)
            }
        }
        UnsafeMutableRawPointer(out).storeBytes(of: best, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(argmax).storeBytes(of: bestIndex, as: SIMD8<Float>.self)
    }

    static func maxPoolBackward(_ grad: Tensor, index: Tensor, inputShape: [Int]) -> Tensor {
        let (oh, ow) = (grad.shape[2], grad.shape[3])
        let planeIn = inputShape[2] * inputShape[3]
        let pg = grad.storage.pointer, pi = index.storage.pointer
        return Tensor(shape: inputShape) { out in
            let po = out.baseAddress!, planes = inputShape[0] * inputShape[1]
            // Planes split across the cores (each plane's windows stay in that plane).
            let parts = planes * oh * ow >= 1 << 15 ? min(planes, 2) : 1
            Parallel.forEach(planes, grain: parts == 1 ? planes : 1) { chunk in
                for plane in chunk {
                    for j in 0..<(oh * ow) {
                        let k = Int(pi[plane * oh * ow + j])
                        if k >= 0 { po[plane * planeIn + k] += pg[plane * oh * ow + j] }
                    }
                }
            }
        }
    }

    /// Calls body(outputIndex, inputIndex) over every window element, and returns each window's
    /// divisor. Shared by average pooling forward and backward.
    @inline(__always)
    static func forEachAvgWindow(h: Int, w: Int, _ g: Conv2dGeometry, oh: Int, ow: Int, countIncludePad: Bool,
                                 _ body: (_ o: Int, _ i: Int, _ divisor: Float) -> Void) {
        for oy in 0..<oh {
            for ox in 0..<ow {
                let y0 = oy * g.stride.h - g.padding.top, x0 = ox * g.stride.w - g.padding.left
                let y1 = min(y0 + g.kernel.h, h + g.padding.bottom), x1 = min(x0 + g.kernel.w, w + g.padding.right)
                let padded = (y1 - y0) * (x1 - x0)
                let ya = max(y0, 0), xa = max(x0, 0), yb = min(y1, h), xb = min(x1, w)
                let divisor = Float(countIncludePad ? padded : (yb - ya) * (xb - xa))
                for iy in ya..<max(yb, ya) { for ix in xa..<max(xb, xa) { body(oy * ow + ox, iy * w + ix, divisor) } }
            }
        }
    }

    static func avgPool(_ x: Tensor, _ g: Conv2dGeometry, ceilMode: Bool, countIncludePad: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = g.outputSize(h: h, w: w, ceilMode: ceilMode)
        let px = x.storage.pointer
        return Tensor(shape: [n, c, oh, ow]) { out in
            for plane in 0..<(n * c) {
                let src = px + plane * h * w, dst = out.baseAddress! + plane * oh * ow
                forEachAvgWindow(h: h, w: w, g, oh: oh, ow: ow, countIncludePad: countIncludePad) { o, i, d in
                    dst[o] += src[i] / d
                }
            }
        }
    }

    static func avgPoolBackward(_ grad: Tensor, _ g: Conv2dGeometry, inputShape: [Int], countIncludePad: Bool) -> Tensor {
        let (h, w) = (inputShape[2], inputShape[3])
        let (oh, ow) = (grad.shape[2], grad.shape[3])
        let pg = grad.storage.pointer
        return Tensor(shape: inputShape) { out in
            for plane in 0..<(inputShape[0] * inputShape[1]) {
                let src = pg + plane * oh * ow, dst = out.baseAddress! + plane * h * w
                forEachAvgWindow(h: h, w: w, g, oh: oh, ow: ow, countIncludePad: countIncludePad) { o, i, d in
                    dst[i] += src[o] / d
                }
            }
        }
    }

    /// PyTorch's adaptive bins: [floor(i*in/out), ceil((i+1)*in/out)).
    static func adaptiveBins(out: Int, in n: Int) -> [Range<Int>] {
        (0..<out).map { i in (i * n / out)..<(((i + 1) * n + out - 1) / out) }
    }

    /// Calls body(outputIndex, inputIndex, 1/binSize) for every element of every bin.
    @inline(__always)
    static func forEachAdaptiveBin(h: Int, w: Int, oh: Int, ow: Int, _ body: (Int, Int, Float) -> Void) {
        let by = adaptiveBins(out: oh, in: h), bx = adaptiveBins(out: ow, in: w)
        for oy in 0..<oh {
            for ox in 0..<ow {
                let scale = 1 / Float(by[oy].count * bx[ox].count)
                for iy in by[oy] { for ix in bx[ox] { body(oy * ow + ox, iy * w + ix, scale) } }
            }
        }
    }

    static func adaptiveAvgPool(_ x: Tensor, oh: Int, ow: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let px = x.storage.pointer
        return Tensor(shape: [n, c, oh, ow]) { out in
            for plane in 0..<(n * c) {
                let src = px + plane * h * w, dst = out.baseAddress! + plane * oh * ow
                if oh == 1 && ow == 1 {
                    var s: Float = 0
                    for i in 0..<(h * w) { s += src[i] }
                    dst[0] = s / Float(h * w)
                    continue
                }
                forEachAdaptiveBin(h: h, w: w, oh: oh, ow: ow) { o, i, s in dst[o] += src[i] * s }
            }
        }
    }

    static func adaptiveAvgPoolBackward(_ grad: Tensor, inputShape: [Int]) -> Tensor {
        let (h, w) = (inputShape[2], inputShape[3])
        let (oh, ow) = (grad.shape[2], grad.shape[3])
        let pg = grad.storage.pointer
        return Tensor(shape: inputShape) { out in
            for plane in 0..<(inputShape[0] * inputShape[1]) {
                let src = pg + plane * oh * ow, dst = out.baseAddress! + plane * h * w
                forEachAdaptiveBin(h: h, w: w, oh: oh, ow: ow) { o, i, s in dst[i] += src[o] * s }
            }
        }
    }
}

/// A Float vector split into its even and odd lanes (the two columns of 2-wide windows).
protocol HalvingFloatVector: SIMD where Scalar == Float {
    associatedtype Half: MaxPoolLanes
    var evenHalf: Half { get }
    var oddHalf: Half { get }
}

extension SIMD16: HalvingFloatVector where Scalar == Float {}
extension SIMD8: HalvingFloatVector where Scalar == Float {}

/// Lanes of max-pool outputs. keepMax is a requirement, implemented on each concrete type: a
/// generic body calls the SIMD protocol's per-lane default comparisons and selects (scalar
/// loops with branches: VGG-16's first pooling took 16 ms instead of 0.5), not the vector
/// instructions the concrete types get.
protocol MaxPoolLanes: SIMD where Scalar == Float {
    /// Per lane, v and its index replace best and bestIndex where v is greater, or NaN over a
    /// number: NaN wins, ties keep the earlier element (PyTorch's rules).
    static func keepMax(_ v: Self, _ index: Self, _ best: inout Self, _ bestIndex: inout Self)
}

extension SIMD8: MaxPoolLanes where Scalar == Float {
    @inline(__always)
    static func keepMax(_ v: Self, _ index: Self, _ best: inout Self, _ bestIndex: inout Self) {
        let better = (v .> best) .| ((v .!= v) .& (best .== best))
        best.replace(with: v, where: better)
        bestIndex.replace(with: index, where: better)
    }
}

extension SIMD4: MaxPoolLanes where Scalar == Float {
    @inline(__always)
    static func keepMax(_ v: Self, _ index: Self, _ best: inout Self, _ bestIndex: inout Self) {
        let better = (v .> best) .| ((v .!= v) .& (best .== best))
        best.replace(with: v, where: better)
        bestIndex.replace(with: index, where: better)
    }
}
