import Dispatch

/// Direct kernels for grouped convolutions with one input channel per group (depthwise, with
/// channel multiplier m = Cout / Cin): output channel o reads input channel o / m.
/// y[n, o, oy, ox] = sum_{ky, kx} w[o, 0, ky, kx] * x[n, o/m, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw].
///
/// Loops run output row by output row (the row stays in L1) and, per tap, over a contiguous
/// span of columns. Strided input is first split into `sw` phase planes,
/// phase p: P_p[y, j] = x[y, j*sw + p], so that x[y, ox*sw + c] = P_{c mod sw}[y, ox + c div sw]
/// is contiguous in ox.
enum Depthwise {
    typealias Dims = Convolution.Dims

    /// Per kernel column kx: output columns lo..<hi are inside the image; they read phase
    /// `phase` at column ox + shift.
    struct Tap { let lo, hi, phase, shift: Int }

    static func taps(_ d: Dims, _ g: Conv2dGeometry) -> [Tap] {
        let s = g.stride.w
        return (0..<d.kw).map { kx in
            let c = kx * g.dilation.w - g.padding.left
            let (lo, hi) = Convolution.validRange(kernelOffset: c, stride: s, input: d.w, output: d.wo)
            let q = c >= 0 ? c / s : -((-c + s - 1) / s)        // floor(c / s)
            return Tap(lo: lo, hi: hi, phase: c - q * s, shift: q)
        }
    }

    /// Phase planes of one input plane: row y of phase p starts at offset[p] + y * width[p].
    struct Phases {
        let width: [Int], offset: [Int]
        init(_ w: Int, stride s: Int, height h: Int) {
            width = (0..<s).map { p in (w - p + s - 1) / s }
            var offsets: [Int] = [], o = 0
            for wp in width { offsets.append(o); o += wp * h }
            offset = offsets
        }

        /// Scatters plane x (h x w) into phases.
        func split(_ x: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, h: Int, w: Int) {
            let s = width.count
            for y in 0..<h {
                let row = x + y * w
                for p in 0..<s {
                    let out = dst + offset[p] + y * width[p]
                    for j in 0..<width[p] { out[j] = row[j * s + p] }
                }
            }
        }

        /// Adds phases back into plane x (the adjoint of `split`).
        func merge(_ src: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, h: Int, w: Int) {
            let s = width.count
            for y in 0..<h {
                let row = x + y * w
                for p in 0..<s {
                    let inp = src + offset[p] + y * width[p]
                    for j in 0..<width[p] { row[j * s + p] += inp[j] }
                }
            }
        }
    }

    /// Runs `body(plane, scratch)` for every (image, output channel) plane, split across the
    /// cores; `scratch` holds `scratchCount` floats private to the running thread.
    @inline(__always)
    static func forEachPlane(_ d: Dims, scratchCount: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let planes = d.n * d.cout
        let parts = min(planes, 2)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            BufferPool.withScratch(max(scratchCount, 1)) { scratch in
                let chunk = (planes + parts - 1) / parts
                for p in (part * chunk)..<min(planes, (part + 1) * chunk) { body(p, scratch) }
            }
        }
    }

    /// Calls body(kernel row ky, output row oy, input row iy) for each valid pair, output-row major.
    @inline(__always)
    static func forEachRow(_ d: Dims, _ g: Conv2dGeometry, _ body: (Int, Int, Int) -> Void) {
        for oy in 0..<d.ho {
            for ky in 0..<d.kh {
                let iy = oy * g.stride.h - g.padding.top + ky * g.dilation.h
                if iy >= 0 && iy < d.h { body(ky, oy, iy) }
            }
        }
    }

    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, _ d: Dims) -> Tensor {
        let y = Tensor(zeros: [d.n, d.cout, d.ho, d.wo])
        let px = x.storage.pointer, pw = w.storage.pointer, py = y.storage.pointer
        let pb = bias?.storage.pointer
        let m = d.cout / d.cin, s = g.stride.w
        let taps = taps(d, g), phases = Phases(d.w, stride: s, height: d.h)
        forEachPlane(d, scratchCount: s > 1 ? d.h * d.w : 0) { plane, scratch in
            let (n, o) = (plane / d.cout, plane % d.cout)
            let src = px + (n * d.cin + o / m) * d.h * d.w
            if s > 1 { phases.split(src, into: scratch, h: d.h, w: d.w) }
            let base = UnsafePointer(s > 1 ? scratch : src)
            let dst = py + plane * d.hwo
            let wk = pw + o * d.kh * d.kw
            if let pb { dst.update(repeating: pb[o], count: d.hwo) }
            forEachRow(d, g) { ky, oy, iy in
                let out = dst + oy * d.wo
                for (kx, t) in taps.enumerated() where t.lo < t.hi {
                    let wv = wk[ky * d.kw + kx]
                    let row = base + phases.offset[t.phase] + iy * phases.width[t.phase] + t.shift
                    for ox in t.lo..<t.hi { out[ox] = out[ox].addingProduct(wv, row[ox]) }
                }
            }
        }
        return y
    }

    static func backwardInput(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry, _ d: Dims) -> Tensor {
        let m = d.cout / d.cin, s = g.stride.w
        let dx = Tensor(zeros: inputShape)
        let pdy = dy.storage.pointer, pw = w.storage.pointer, pdx = dx.storage.pointer
        let taps = taps(d, g), phases = Phases(d.w, stride: s, height: d.h)
        // dx[iy, ox*s + c] += w * dy[oy, ox], accumulated in phase planes (or dx itself at stride 1).
        let body: (Int, UnsafeMutablePointer<Float>) -> Void = { plane, scratch in
            let (n, o) = (plane / d.cout, plane % d.cout)
            let target = pdx + (n * d.cin + o / m) * d.h * d.w
            let base = s > 1 ? scratch : target
            if s > 1 { scratch.update(repeating: 0, count: d.h * d.w) }
            let grad = pdy + plane * d.hwo
            let wk = pw + o * d.kh * d.kw
            forEachRow(d, g) { ky, oy, iy in
                let gr = grad + oy * d.wo
                for (kx, t) in taps.enumerated() where t.lo < t.hi {
                    let wv = wk[ky * d.kw + kx]
                    let row = base + phases.offset[t.phase] + iy * phases.width[t.phase] + t.shift
                    for ox in t.lo..<t.hi { row[ox] = row[ox].addingProduct(wv, gr[ox]) }
                }
            }
            if s > 1 { phases.merge(scratch, into: target, h: d.h, w: d.w) }
        }
        if m == 1 {
            forEachPlane(d, scratchCount: s > 1 ? d.h * d.w : 0, body)
        } else {
            // Several output planes add into one input plane: stay on one thread.
            BufferPool.withScratch(max(d.h * d.w, 1)) { scratch in
                for plane in 0..<(d.n * d.cout) { body(plane, scratch) }
            }
        }
        return dx
    }

    static func backwardWeight(_ dy: Tensor, _ x: Tensor, weightShape: [Int], _ g: Conv2dGeometry, _ d: Dims) -> Tensor {
        let m = d.cout / d.cin, s = g.stride.w, kernelSize = d.kh * d.kw
        // Per-plane partial sums, then reduced over images (planes of one channel differ by n).
        let partial = Tensor(zeros: [d.n, d.cout, kernelSize])
        let pdy = dy.storage.pointer, px = x.storage.pointer, pp = partial.storage.pointer
        let taps = taps(d, g), phases = Phases(d.w, stride: s, height: d.h)
        forEachPlane(d, scratchCount: s > 1 ? d.h * d.w : 0) { plane, scratch in
            let (n, o) = (plane / d.cout, plane % d.cout)
            let src = px + (n * d.cin + o / m) * d.h * d.w
            if s > 1 { phases.split(src, into: scratch, h: d.h, w: d.w) }
            let base = UnsafePointer(s > 1 ? scratch : src)
            let grad = pdy + plane * d.hwo
            let acc = pp + plane * kernelSize
            forEachRow(d, g) { ky, oy, iy in
                let gr = grad + oy * d.wo
                for (kx, t) in taps.enumerated() where t.lo < t.hi {
                    let row = base + phases.offset[t.phase] + iy * phases.width[t.phase] + t.shift
                    var sum: Float = 0
                    for ox in t.lo..<t.hi { sum = sum.addingProduct(gr[ox], row[ox]) }
                    acc[ky * d.kw + kx] += sum
                }
            }
        }
        let summed = Elementwise.sum(partial, axes: [0])
        return Tensor(shape: weightShape, storage: summed.storage)
    }
}
