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

    /// Planes split over the cores; each row's interior is one copy, its border read through
    /// ``source(_:before:n:mode:)``. Zero padding starts from zeros, reflection writes every element.
    static func pad(_ x: Tensor, top: Int, bottom: Int, left: Int, right: Int, mode: PaddingMode) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = h + top + bottom, ow = w + left + right
        let px = x.storage.pointer
        let colSrc = (0..<ow).map { source($0, before: left, n: w, mode: mode) }
        let rowSrc = (0..<oh).map { source($0, before: top, n: h, mode: mode) }
        let fill = { (out: UnsafeMutableBufferPointer<Float>) in
            let po = out.baseAddress!
            Parallel.forEach(n * c) { planes in
                for plane in planes {
                    for y in 0..<oh where rowSrc[y] >= 0 {
                        let src = px + plane * h * w + rowSrc[y] * w, dst = po + plane * oh * ow + y * ow
                        (dst + left).update(from: src, count: w)
                        for xo in 0..<left where colSrc[xo] >= 0 { dst[xo] = src[colSrc[xo]] }
                        for xo in (left + w)..<ow where colSrc[xo] >= 0 { dst[xo] = src[colSrc[xo]] }
                    }
                }
            }
        }
        return mode == .zero ? Tensor(shape: [n, c, oh, ow], fill: fill) : Tensor(overwriting: [n, c, oh, ow], fill: fill)
    }

    /// Adjoint of `pad`: each padded position's gradient goes back to its source (planes split
    /// over the cores).
    static func padBackward(_ g: Tensor, inputShape: [Int], top: Int, left: Int, mode: PaddingMode) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (g.shape[2], g.shape[3])
        let pg = g.storage.pointer
        let colSrc = (0..<ow).map { source($0, before: left, n: w, mode: mode) }
        let rowSrc = (0..<oh).map { source($0, before: top, n: h, mode: mode) }
        return Tensor(shape: inputShape) { out in
            let po = out.baseAddress!
            Parallel.forEach(n * c) { planes in
                for plane in planes {
                    for y in 0..<oh where rowSrc[y] >= 0 {
                        let dst = po + plane * h * w + rowSrc[y] * w, src = pg + plane * oh * ow + y * ow
                        for xo in 0..<ow where colSrc[xo] >= 0 { dst[colSrc[xo]] += src[xo] }
                    }
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

    /// Planes split over the cores; nearest copies its source pixel (a repeated source row is
    /// one copy of the row before).
    static func resize(_ x: Tensor, h oh: Int, w ow: Int, mode: ResizeMode) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ty = taps(out: oh, in: h, mode: mode), tx = taps(out: ow, in: w, mode: mode)
        let px = x.storage.pointer
        return Tensor(overwriting: [n, c, oh, ow]) { out in
            let po = out.baseAddress!
            Parallel.forEach(n * c) { planes in
                for plane in planes {
                    let src = px + plane * h * w, dst = po + plane * oh * ow
                    for y in 0..<oh {
                        let (y0, y1, fy) = ty[y]
                        let row = dst + y * ow
                        if mode == .nearest {
                            if y > 0 && ty[y - 1].0 == y0 { row.update(from: row - ow, count: ow); continue }
                            let s = src + y0 * w
                            for xo in 0..<ow { row[xo] = s[tx[xo].0] }
                            continue
                        }
                        for xo in 0..<ow {
                            let (x0, x1, fx) = tx[xo]
                            let top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx
                            let bottom = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx
                            row[xo] = top * (1 - fy) + bottom * fy
                        }
                    }
                }
            }
        }
    }

    /// Adjoint of `resize` (planes split over the cores).
    static func resizeBackward(_ g: Tensor, inputShape: [Int], mode: ResizeMode) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (g.shape[2], g.shape[3])
        let ty = taps(out: oh, in: h, mode: mode), tx = taps(out: ow, in: w, mode: mode)
        let pg = g.storage.pointer
        return Tensor(shape: inputShape) { out in
            let po = out.baseAddress!
            Parallel.forEach(n * c) { planes in
                for plane in planes {
                    let src = pg + plane * oh * ow, dst = po + plane * h * w
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

    /// Bilinear affine resampling of each image by its 2x3 matrix `theta[6b..<6b+6]` (one matrix
    /// for all images when theta has 6 values): PyTorch's
    /// `grid_sample(x, affine_grid(theta, [N, C, oh, ow], align_corners=False), align_corners=False)`
    /// with zeros outside. Output pixel (i, j) sits at normalised (u, v) = ((2j+1)/ow - 1,
    /// (2i+1)/oh - 1) and reads the input at theta (u, v, 1), in pixels ((s + 1) size - 1) / 2.
    static func affine(_ x: Tensor, theta: [Float], h oh: Int, w ow: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let taps = (0..<n).map { AffineTaps(theta, image: $0, h: h, w: w, oh: oh, ow: ow) }
        let px = x.storage.pointer
        return Tensor(shape: [n, c, oh, ow]) { out in
            let po = out.baseAddress!
            // Each output row of each plane reads its taps: rows split over the cores.
            Parallel.forEach(n * c * oh, grain: 16) { rows in
                for row in rows {
                    let (plane, i) = (row / oh, row % oh)
                    let src = px + plane * h * w, dst = po + row * ow
                    switch taps[plane / c] {
                    case .separable(let ty, let tx):
                        let (r0, r1, wy0, wy1) = (src + ty.first[i] * w, src + ty.second[i] * w, ty.firstWeight[i], ty.secondWeight[i])
                        for j in 0..<ow {
                            let (x0, x1, wx0, wx1) = (tx.first[j], tx.second[j], tx.firstWeight[j], tx.secondWeight[j])
                            dst[j] = wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1])
                        }
                    case .table(let index, let weight):
                        for j in 0..<ow {
                            let t = 4 * (i * ow + j)
                            dst[j] = weight[t] * src[index[t]] + weight[t + 1] * src[index[t + 1]]
                                + weight[t + 2] * src[index[t + 2]] + weight[t + 3] * src[index[t + 3]]
                        }
                    }
                }
            }
        }
    }

    /// Adjoint of ``affine(_:theta:h:w:)``: each output gradient goes back to its taps (planes
    /// split over the cores: each scatters into its own).
    static func affineBackward(_ g: Tensor, theta: [Float], inputShape: [Int]) -> Tensor {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (g.shape[2], g.shape[3])
        let taps = (0..<n).map { AffineTaps(theta, image: $0, h: h, w: w, oh: oh, ow: ow) }
        let pg = g.storage.pointer
        return Tensor(shape: inputShape) { out in
            let po = out.baseAddress!
            Parallel.forEach(n * c) { planes in
                var row = [Float](repeating: 0, count: w)
                for plane in planes {
                    let src = pg + plane * oh * ow, dst = po + plane * h * w
                    switch taps[plane / c] {
                    case .separable(let ty, let tx):
                        // Along x into one input row, then that row into input rows y0 and y1.
                        for i in 0..<oh {
                            for x in 0..<w { row[x] = 0 }
                            for j in 0..<ow {
                                let v = src[i * ow + j]
                                row[tx.first[j]] += tx.firstWeight[j] * v
                                row[tx.second[j]] += tx.secondWeight[j] * v
                            }
                            let (d0, d1, wy0, wy1) = (dst + ty.first[i] * w, dst + ty.second[i] * w, ty.firstWeight[i], ty.secondWeight[i])
                            for x in 0..<w { d0[x] += wy0 * row[x] }
                            for x in 0..<w { d1[x] += wy1 * row[x] }
                        }
                    case .table(let index, let weight):
                        for o in 0..<(oh * ow) {
                            let v = src[o]
                            for k in 0..<4 { dst[index[4 * o + k]] += weight[4 * o + k] * v }
                        }
                    }
                }
            }
        }
    }

    /// Bilinear taps along one axis: output position j reads two neighbouring input positions,
    /// first[j] and second[j], with these weights; a position outside the input has weight 0
    /// and index 0.
    struct AxisTaps {
        var first: [Int] = [], second: [Int] = [], firstWeight: [Float] = [], secondWeight: [Float] = []

        /// Output j of `out` at normalised u = (2j+1)/out - 1 reads ((scale u + shift + 1) size - 1) / 2.
        init(scale: Float, shift: Float, out: Int, size: Int) {
            for j in 0..<out {
                let u = Float(2 * j + 1) / Float(out) - 1
                let s = ((scale * u + shift + 1) * Float(size) - 1) / 2
                let clamped = Swift.min(Swift.max(s, -2), Float(size) + 1)
                let floor = clamped.rounded(.down)
                let (i0, f) = (Int(floor), clamped - floor)
                let in0 = i0 >= 0 && i0 < size, in1 = i0 + 1 >= 0 && i0 + 1 < size
                first.append(in0 ? i0 : 0); firstWeight.append(in0 ? 1 - f : 0)
                second.append(in1 ? i0 + 1 : 0); secondWeight.append(in1 ? f : 0)
            }
        }
    }

    /// The bilinear taps of image b: one table per axis where its matrix only scales and
    /// translates (MACO's crops, jitter-free zooms), else four taps per output pixel.
    enum AffineTaps {
        case separable(rows: AxisTaps, columns: AxisTaps)
        case table(index: [Int], weight: [Float])

        init(_ theta: [Float], image b: Int, h: Int, w: Int, oh: Int, ow: Int) {
            let t = theta.count == 6 ? 0 : 6 * b
            if theta[t + 1] == 0 && theta[t + 3] == 0 {
                self = .separable(rows: AxisTaps(scale: theta[t + 4], shift: theta[t + 5], out: oh, size: h),
                                  columns: AxisTaps(scale: theta[t], shift: theta[t + 2], out: ow, size: w))
            } else {
                let (index, weight) = Spatial.affineTapTable(theta, image: b, h: h, w: w, oh: oh, ow: ow)
                self = .table(index: index, weight: weight)
            }
        }
    }

    /// The four bilinear taps of every output pixel of image b: input indices and weights,
    /// [oh * ow * 4] each (a tap outside the input has weight 0 and index 0).
    static func affineTapTable(_ theta: [Float], image b: Int, h: Int, w: Int, oh: Int, ow: Int) -> (index: [Int], weight: [Float]) {
        var index = [Int](repeating: 0, count: 4 * oh * ow), weight = [Float](repeating: 0, count: 4 * oh * ow)
        var slot = [Int](repeating: 0, count: oh * ow)
        affineTaps(theta, image: b, h: h, w: w, oh: oh, ow: ow) { o, i, wt in
            let t = 4 * o + slot[o]
            index[t] = i
            weight[t] = wt
            slot[o] += 1
        }
        return (index, weight)
    }

    /// Calls `body(output index, input index, weight)` for every in-bounds bilinear tap of image b.
    @inline(__always)
    private static func affineTaps(_ theta: [Float], image b: Int, h: Int, w: Int, oh: Int, ow: Int,
                                   _ body: (Int, Int, Float) -> Void) {
        let t = theta.count == 6 ? Array(theta) : Array(theta[(6 * b)..<(6 * b + 6)])
        for i in 0..<oh {
            let v = Float(2 * i + 1) / Float(oh) - 1
            for j in 0..<ow {
                let u = Float(2 * j + 1) / Float(ow) - 1
                let sx = ((t[0] * u + t[1] * v + t[2] + 1) * Float(w) - 1) / 2
                let sy = ((t[3] * u + t[4] * v + t[5] + 1) * Float(h) - 1) / 2
                // Clamped first, so that a far-away (or NaN) coordinate cannot overflow Int.
                let cx = Swift.min(Swift.max(sx, -2), Float(w) + 1), cy = Swift.min(Swift.max(sy, -2), Float(h) + 1)
                let (x0f, y0f) = (cx.rounded(.down), cy.rounded(.down))
                let (fx, fy) = (cx - x0f, cy - y0f)
                let (x0, y0) = (Int(x0f), Int(y0f))
                let o = i * ow + j
                let x0in = x0 >= 0 && x0 < w, x1in = x0 + 1 >= 0 && x0 + 1 < w
                if y0 >= 0 && y0 < h {
                    if x0in { body(o, y0 * w + x0, (1 - fy) * (1 - fx)) }
                    if x1in { body(o, y0 * w + x0 + 1, (1 - fy) * fx) }
                }
                if y0 + 1 >= 0 && y0 + 1 < h {
                    if x0in { body(o, (y0 + 1) * w + x0, fy * (1 - fx)) }
                    if x1in { body(o, (y0 + 1) * w + x0 + 1, fy * fx) }
                }
            }
        }
    }
}
