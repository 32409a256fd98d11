import Dispatch

/// 2-D convolution (cross-correlation, as in PyTorch) over NCHW tensors.
///
/// x: [N, Cin, H, W], w: [Cout, Cin/groups, kh, kw], bias: [Cout] -> y: [N, Cout, Ho, Wo].
/// Grouped convolutions with one input channel per group (depthwise) use a direct kernel; all
/// others lower each (image, group) to one GEMM over an im2col matrix
/// col: [Cin_g * kh * kw, Ho * Wo], skipped for 1x1 stride-1 unpadded kernels (col = x).
enum Convolution {
    struct Dims {
        let n, cin, h, w, cout, kh, kw, ho, wo, groups: Int
        var cinG: Int { cin / groups }
        var coutG: Int { cout / groups }
        var k: Int { cinG * kh * kw }          // GEMM reduction length
        var hwo: Int { ho * wo }
    }

    static func dims(_ x: [Int], _ w: [Int], _ g: Conv2dGeometry, groups: Int) -> Dims {
        let (ho, wo) = g.outputSize(h: x[2], w: x[3])
        return Dims(n: x[0], cin: x[1], h: x[2], w: x[3], cout: w[0], kh: w[2], kw: w[3],
                    ho: ho, wo: wo, groups: groups)
    }

    static func isDepthwise(_ d: Dims) -> Bool { d.cinG == 1 && d.groups > 1 }
    static func isPointwise(_ d: Dims, _ g: Conv2dGeometry) -> Bool {
        d.kh == 1 && d.kw == 1 && g.stride == (1, 1) && g.padding == (0, 0, 0, 0)
    }

    // MARK: im2col / col2im

    /// Writes col[(c*kh + ky)*kw + kx, (oy - oy0)*Wo + ox] = x[c, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw]
    /// (0 outside) for the output rows oy in `outputRows` (default all, oy0 its first); rows of
    /// col are `rowStride` apart (default outputRows.count * Wo).
    static func im2col(_ x: UnsafePointer<Float>, channels: Int, _ d: Dims, _ g: Conv2dGeometry,
                       _ col: UnsafeMutablePointer<Float>, rowStride: Int? = nil, outputRows: Range<Int>? = nil) {
        let rows = channels * d.kh * d.kw
        let outputRows = outputRows ?? 0..<d.ho
        let rowStride = rowStride ?? outputRows.count * d.wo
        Parallel.split(limit: rows) { part, parts in
            for row in stride(from: part, to: rows, by: parts) {
                let c = row / (d.kh * d.kw), ky = (row / d.kw) % d.kh, kx = row % d.kw
                let plane = x + c * d.h * d.w
                let dst = col + row * rowStride
                let (lo, hi) = validRange(kernelOffset: kx * g.dilation.w - g.padding.left, stride: g.stride.w, input: d.w, output: d.wo)
                for oy in outputRows {
                    let iy = oy * g.stride.h - g.padding.top + ky * g.dilation.h
                    let out = dst + (oy - outputRows.lowerBound) * d.wo
                    guard iy >= 0 && iy < d.h, lo < hi else { out.update(repeating: 0, count: d.wo); continue }
                    if lo > 0 { out.update(repeating: 0, count: lo) }
                    if hi < d.wo { (out + hi).update(repeating: 0, count: d.wo - hi) }
                    let src = plane + iy * d.w + kx * g.dilation.w - g.padding.left
                    if g.stride.w == 1 {
                        (out + lo).update(from: src + lo, count: hi - lo)
                    } else {
                        for ox in lo..<hi { out[ox] = src[ox * g.stride.w] }
                    }
                }
            }
        }
    }

    /// Adjoint of im2col: dx[c, iy, ix] += col[row, (oy - oy0)*Wo + ox] for oy in `outputRows`.
    static func col2im(_ col: UnsafePointer<Float>, channels: Int, _ d: Dims, _ g: Conv2dGeometry,
                       _ dx: UnsafeMutablePointer<Float>, rowStride: Int? = nil, outputRows: Range<Int>? = nil) {
        let outputRows = outputRows ?? 0..<d.ho
        let rowStride = rowStride ?? outputRows.count * d.wo
        Parallel.split(limit: channels) { part, parts in
            for c in stride(from: part, to: channels, by: parts) {
                let plane = dx + c * d.h * d.w
                for ky in 0..<d.kh {
                    for kx in 0..<d.kw {
                        let row = (c * d.kh + ky) * d.kw + kx
                        let src = col + row * rowStride
                        let (lo, hi) = validRange(kernelOffset: kx * g.dilation.w - g.padding.left, stride: g.stride.w, input: d.w, output: d.wo)
                        guard lo < hi else { continue }
                        for oy in outputRows {
                            let iy = oy * g.stride.h - g.padding.top + ky * g.dilation.h
                            guard iy >= 0 && iy < d.h else { continue }
                            let dst = plane + iy * d.w + kx * g.dilation.w - g.padding.left
                            let s = src + (oy - outputRows.lowerBound) * d.wo
                            if g.stride.w == 1 {
                                for ox in lo..<hi { dst[ox] += s[ox] }
                            } else {
                                for ox in lo..<hi { dst[ox * g.stride.w] += s[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Output columns ox in lo..<hi whose input column ox*stride + offset lies inside 0..<input.
    @inline(__always)
    static func validRange(kernelOffset off: Int, stride s: Int, input: Int, output: Int) -> (Int, Int) {
        // ox*s + off >= 0  <=>  ox >= ceil(-off / s);   ox*s + off <= input-1.
        let lo = off >= 0 ? 0 : (-off + s - 1) / s
        let last = input - 1 - off
        let hi = last < 0 ? 0 : min(last / s + 1, output)
        return (min(lo, output), max(hi, min(lo, output)))
    }

    /// Floats of one band's column matrix, at most (32 MB; tests lower it): a 3x3 layer of 64
    /// channels at 512x512 would otherwise take a 604 MB im2col.
    @TaskLocal static var bandFloats = 1 << 23

    /// Bands of output rows whose column matrices [K, rows * Wo] fit in ``bandFloats`` (at least
    /// one row each).
    static func outputBands(_ d: Dims) -> [Range<Int>] {
        let rows = max(1, min(d.ho, bandFloats / max(1, d.k * d.wo)))
        return stride(from: 0, to: d.ho, by: rows).map { $0..<min($0 + rows, d.ho) }
    }

    /// Calls body(image, group, outputRows, col) with the [K, outputRows.count * Wo] column
    /// matrix of each (image, group, band of output rows): the input itself (one band) for
    /// pointwise kernels, else its im2col in a reused scratch buffer of at most ``bandFloats``.
    /// Column j of col is output pixel outputRows.lowerBound * Wo + j.
    static func forEachColumnMatrix(_ x: Tensor, _ d: Dims, _ g: Conv2dGeometry,
                                    _ body: (Int, Int, Range<Int>, UnsafePointer<Float>) -> Void) {
        let px = x.storage.pointer
        withBandScratch(d, g) { bands, col in
            for n in 0..<d.n {
                for grp in 0..<d.groups {
                    let xg = px + (n * d.cin + grp * d.cinG) * d.h * d.w
                    for rows in bands {
                        if let col { im2col(xg, channels: d.cinG, d, g, col, outputRows: rows) }
                        body(n, grp, rows, UnsafePointer(col ?? xg))
                    }
                }
            }
        }
    }

    /// `body` with the bands of output rows and a scratch column matrix for the largest of them:
    /// one band and no scratch for pointwise kernels (the input is its own column matrix).
    static func withBandScratch(_ d: Dims, _ g: Conv2dGeometry, _ body: ([Range<Int>], UnsafeMutablePointer<Float>?) -> Void) {
        guard !isPointwise(d, g) else { return body([0..<d.ho], nil) }
        let bands = outputBands(d)
        BufferPool.withScratch(d.k * bands[0].count * d.wo) { body(bands, $0) }
    }

    // MARK: batched pointwise

    /// A batch of small maps through a 1x1 convolution: one GEMM over all images beats one
    /// narrow GEMM (Ho*Wo columns) per image.
    static func batchesPointwise(_ d: Dims, _ g: Conv2dGeometry) -> Bool {
        isPointwise(d, g) && d.groups == 1 && d.n > 1 && d.hwo <= 1024
    }

    /// out[n, r, :] = op(W) [rows, k] x in[n, :, :] for every image, as one product on the
    /// channel-major matrices [k, N*HW] -> [rows, N*HW] (gathered and scattered here).
    static func pointwiseOverBatch(_ input: UnsafePointer<Float>, _ w: UnsafePointer<Float>, transposeW: Bool,
                                   rows: Int, k: Int, shape: [Int], _ d: Dims) -> Tensor {
        let columns = d.n * d.hwo
        let out = Tensor(overwriting: shape) { _ in }
        BufferPool.withScratch(k * columns) { gathered in
            BufferPool.withScratch(rows * columns) { product in
                channelMajor(input, images: d.n, channels: k, plane: d.hwo, into: gathered)
                sgemm(transA: transposeW, m: rows, n: columns, k: k, a: w, lda: transposeW ? rows : k,
                      b: gathered, ldb: columns, c: product, ldc: columns)
                imageMajor(product, images: d.n, channels: rows, plane: d.hwo, into: out.storage.pointer)
            }
        }
        return out
    }

    /// [N, C, P] -> [C, N*P]
    static func channelMajor(_ x: UnsafePointer<Float>, images n: Int, channels c: Int, plane p: Int,
                             into out: UnsafeMutablePointer<Float>) {
        swapBlocks(x, outer: n, inner: c, plane: p, into: out)
    }

    /// [C, N*P] -> [N, C, P]
    static func imageMajor(_ x: UnsafePointer<Float>, images n: Int, channels c: Int, plane p: Int,
                           into out: UnsafeMutablePointer<Float>) {
        swapBlocks(x, outer: c, inner: n, plane: p, into: out)
    }

    /// [A, B, P] -> [B, A, P]: out[b, a, :] = x[a, b, :], split by b across the cores.
    static func swapBlocks(_ x: UnsafePointer<Float>, outer a: Int, inner b: Int, plane p: Int,
                           into out: UnsafeMutablePointer<Float>) {
        Parallel.split(limit: a * b * p >= 1 << 16 ? b : 1) { part, parts in
            for j in stride(from: part, to: b, by: parts) {
                for i in 0..<a { (out + (j * a + i) * p).update(from: x + (i * b + j) * p, count: p) }
            }
        }
    }

    // MARK: batched im2col

    /// A batch of small maps through a k x k convolution: one GEMM over the side-by-side im2col
    /// matrices of all images, col [K, N*Ho*Wo], beats N narrow GEMMs of Ho*Wo columns each
    /// (fashion-cnn's training batches: 128 images of 28x28 and 14x14). Bounded to 128 MB of col.
    static func batchesColumns(_ d: Dims, _ g: Conv2dGeometry) -> Bool {
        !isPointwise(d, g) && d.groups == 1 && d.n > 1 && d.hwo <= 1024 && d.k * d.n * d.hwo <= 1 << 25
    }

    /// col [K, N*Ho*Wo] of the whole batch (image n in columns n*Ho*Wo ..< (n+1)*Ho*Wo), for `body`;
    /// into `keep` (a [K, N*Ho*Wo] tensor the caller holds on to) when given, else into scratch.
    static func withBatchedColumns(_ x: Tensor, _ d: Dims, _ g: Conv2dGeometry, keep: Tensor? = nil,
                                   _ body: (UnsafeMutablePointer<Float>) -> Void) {
        let columns = d.n * d.hwo, px = x.storage.pointer
        func fill(_ col: UnsafeMutablePointer<Float>) {
            Parallel.split(limit: d.n) { part, parts in
                for b in stride(from: part, to: d.n, by: parts) {
                    im2col(px + b * d.cin * d.h * d.w, channels: d.cin, d, g, col + b * d.hwo, rowStride: columns)
                }
            }
            body(col)
        }
        if let keep { fill(keep.storage.pointer) } else { BufferPool.withScratch(d.k * columns, fill) }
    }

    /// What a recorded forward pass keeps for its backward pass (columns up to 32 MB per layer).
    /// As a node's saved tensors: [columns, filter tiles], an empty tensor standing for one that
    /// is not kept, or [] when neither is.
    struct Kept {
        /// The batched column matrix [K, N*Ho*Wo] (im2col) or the input tiles V (Winograd), for
        /// the weight gradient.
        var columns: Tensor?
        /// The transformed filters U (Winograd), made before the forward pass uses them, for the
        /// input gradient: the adjoint's filters are their transposes
        /// (``Winograd/conv(_:_:bias:pad:adjoint:filterTiles:keepInputTiles:)``).
        var filterTiles: Tensor?

        init(saved: [Tensor]) {
            columns = saved.first.flatMap { $0.count > 0 ? $0 : nil }
            filterTiles = saved.dropFirst().first.flatMap { $0.count > 0 ? $0 : nil }
        }

        /// Empty buffers for a forward pass of x through w whose backward pass will need the
        /// weight gradient (`forWeight`) or the input gradient (`forInput`).
        init(_ x: Tensor, _ w: Tensor, _ g: Conv2dGeometry, groups: Int, forWeight: Bool, forInput: Bool) {
            let d = dims(x.shape, w.shape, g, groups: groups), winograd = Winograd.applies(d, g)
            func buffer(_ count: Int) -> Tensor? {
                count > 0 && count <= 1 << 23 ? Tensor(overwriting: [count]) { _ in } : nil
            }
            if forWeight && !isDepthwise(d) {
                columns = buffer(winograd ? Winograd.inputTilesCount(d) : batchesColumns(d, g) ? d.k * d.n * d.hwo : 0)
            }
            if forInput && winograd && !OneDNN.takesInputGradient(d, g) { filterTiles = Winograd.filterTiles(w, orMake: true) }
        }

        var saved: [Tensor] {
            guard columns != nil || filterTiles != nil else { return [] }
            return [columns ?? Tensor(overwriting: [0]) { _ in }, filterTiles ?? Tensor(overwriting: [0]) { _ in }]
        }
    }

    // MARK: forward

    /// A per-channel affine map and clamp: an eval-mode batch norm and the ReLU or ReLU6 after
    /// it, y = clamp(shift[c] + z * scale[c], 0, upper).
    struct AffineClamp {
        let scale, shift: Tensor
        let upper: Float

        var planeMap: Normalization.PlaneMap {
            .affineClamp(scale: scale.storage.pointer, shift: shift.storage.pointer, upper: upper)
        }
    }

    /// y = output(conv(input(x), w) + bias) with the optional maps `input` and `output`.
    /// Depthwise kernels apply them per plane while it is in cache; other convolutions apply
    /// `output` in a second pass and take no `input` map. `keep`: buffers that receive what the
    /// backward pass will reuse.
    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, groups: Int, keep: Kept? = nil,
                        input: AffineClamp? = nil, output: AffineClamp? = nil) -> Tensor {
        let d = dims(x.shape, w.shape, g, groups: groups)
        if isDepthwise(d) { return Depthwise.forward(x, w, bias, g, d, input: input?.planeMap, output: output?.planeMap) }
        check(input == nil, "conv2d: an input map needs a depthwise convolution")
        let y = forward(x, w, bias, g, d, keep: keep)
        guard let output else { return y }
        return Normalization.affineClamped(y, scale: output.scale, shift: output.shift, upper: output.upper)
    }

    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, _ d: Dims, keep: Kept?) -> Tensor {
        if OneDNN.applies(d, g, pass: .forward), let y = OneDNN.forward(x, w, bias, g, d) { return y }
        if Winograd.applies(d, g) {
            if keep?.columns == nil {
                return Winograd.convInBands(x, w, bias: bias, pad: g.padding, filterTiles: keep?.filterTiles ?? Winograd.filterTiles(w))
            }
            return Winograd.conv(x, w, bias: bias, pad: g.padding, filterTiles: keep?.filterTiles ?? Winograd.filterTiles(w),
                                 keepInputTiles: keep?.columns)
        }
        if batchesPointwise(d, g) {
            let y = pointwiseOverBatch(x.storage.pointer, w.storage.pointer, transposeW: false,
                                       rows: d.cout, k: d.cin, shape: [d.n, d.cout, d.ho, d.wo], d)
            if let bias { addBias(y, bias) }
            return y
        }
        let y = Tensor(overwriting: [d.n, d.cout, d.ho, d.wo]) { _ in }     // sgemm (beta 0) writes all
        let pw = w.storage.pointer, py = y.storage.pointer
        if batchesColumns(d, g) {
            let columns = d.n * d.hwo
            withBatchedColumns(x, d, g, keep: keep?.columns) { col in
                BufferPool.withScratch(d.cout * columns) { product in
                    sgemm(m: d.cout, n: columns, k: d.k, a: pw, lda: d.k, b: col, ldb: columns, c: product, ldc: columns)
                    imageMajor(product, images: d.n, channels: d.cout, plane: d.hwo, into: py)
                }
            }
            if let bias { addBias(y, bias) }
            return y
        }
        forEachColumnMatrix(x, d, g) { n, grp, rows, col in
            let columns = rows.count * d.wo
            sgemm(m: d.coutG, n: columns, k: d.k, a: pw + grp * d.coutG * d.k, lda: d.k,
                  b: col, ldb: columns, c: py + (n * d.cout + grp * d.coutG) * d.hwo + rows.lowerBound * d.wo, ldc: d.hwo)
        }
        if let bias { addBias(y, bias) }
        return y
    }

    /// y[n, c, :, :] += bias[c]
    static func addBias(_ y: Tensor, _ bias: Tensor) {
        let (n, c) = (y.shape[0], y.shape[1]), hw = y.count / (n * c)
        let py = y.storage.pointer, pb = bias.storage.pointer
        for i in 0..<(n * c) {
            let b = pb[i % c], p = py + i * hw
            for j in 0..<hw { p[j] += b }
        }
    }

    // MARK: backward

    /// dx = conv-transpose of dy with w: per (image, group) dcol = W_g^T dy_g, then col2im.
    /// `gathered`: dy already laid out channel-major ([Cout, N*Ho*Wo]) for the batched path.
    /// `filterTiles`: the forward pass's transformed filters, if it kept them (Winograd); else
    /// the frozen-weights cache's, if active.
    static func backwardInput(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry, groups: Int,
                              gathered: UnsafePointer<Float>? = nil, filterTiles: Tensor? = nil) -> Tensor {
        let d = dims(inputShape, w.shape, g, groups: groups)
        if isDepthwise(d) { return Depthwise.backwardInput(dy, w, inputShape: inputShape, g, d) }
        if OneDNN.applies(d, g, pass: .backwardData), let dx = OneDNN.backwardData(dy, w, inputShape: inputShape, g) { return dx }
        if Winograd.applies(d, g) {
            // The adjoint of a 3x3 stride-1 convolution is one too: flipped, transposed weights.
            if let dx = OneDNN.backwardDataAsForward(dy, w, inputShape: inputShape, g) { return dx }
            let p = g.padding
            return Winograd.convInBands(dy, w, bias: nil, pad: (2 - p.top, 2 - p.bottom, 2 - p.left, 2 - p.right), adjoint: true,
                                        filterTiles: filterTiles ?? Winograd.filterTiles(w))
        }
        return backwardInputByGEMM(dy, w, inputShape: inputShape, g, groups: groups, gathered: gathered)
    }

    /// dx by GEMM and col2im, for any geometry.
    static func backwardInputByGEMM(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry, groups: Int,
                                    gathered given: UnsafePointer<Float>? = nil) -> Tensor {
        let d = dims(inputShape, w.shape, g, groups: groups)
        if batchesPointwise(d, g) {
            return pointwiseOverBatch(dy.storage.pointer, w.storage.pointer, transposeW: true,
                                      rows: d.cin, k: d.cout, shape: inputShape, d)
        }
        if batchesColumns(d, g) {
            // dcol [K, N*Ho*Wo] = W^T dy (channel-major), then col2im per image.
            let columns = d.n * d.hwo
            let dx = Tensor(zeros: inputShape)
            let pdx = dx.storage.pointer
            withGathered(dy, d, given) { gathered in
                BufferPool.withScratch(d.k * columns) { col in
                    sgemm(transA: true, m: d.k, n: columns, k: d.cout, a: w.storage.pointer, lda: d.k,
                          b: gathered, ldb: columns, c: col, ldc: columns)
                    Parallel.split(limit: d.n) { part, parts in
                        for b in stride(from: part, to: d.n, by: parts) {
                            col2im(col + b * d.hwo, channels: d.cin, d, g, pdx + b * d.cin * d.h * d.w, rowStride: columns)
                        }
                    }
                }
            }
            return dx
        }
        let pointwise = isPointwise(d, g)
        // Pointwise: sgemm writes dx directly; otherwise col2im accumulates into zeros, one band
        // of output rows at a time.
        let dx = pointwise ? Tensor(overwriting: inputShape) { _ in } : Tensor(zeros: inputShape)
        let pdy = dy.storage.pointer, pw = w.storage.pointer, pdx = dx.storage.pointer
        withBandScratch(d, g) { bands, col in
            for n in 0..<d.n {
                for grp in 0..<d.groups {
                    let dxg = pdx + (n * d.cin + grp * d.cinG) * d.h * d.w
                    for rows in bands {
                        let columns = rows.count * d.wo
                        sgemm(transA: true, m: d.k, n: columns, k: d.coutG, a: pw + grp * d.coutG * d.k, lda: d.k,
                              b: pdy + (n * d.cout + grp * d.coutG) * d.hwo + rows.lowerBound * d.wo, ldb: d.hwo,
                              c: col ?? dxg, ldc: columns)
                        if let col { col2im(col, channels: d.cinG, d, g, dxg, outputRows: rows) }
                    }
                }
            }
        }
        return dx
    }

    /// dW_g = sum over images of dy_g col^T.
    /// `columns`: what the forward pass kept, if anything (``Kept/columns``).
    static func backwardWeight(_ dy: Tensor, _ x: Tensor, weightShape: [Int], _ g: Conv2dGeometry, groups: Int,
                               columns kept: Tensor? = nil, gathered given: UnsafePointer<Float>? = nil) -> Tensor {
        let d = dims(x.shape, weightShape, g, groups: groups)
        if isDepthwise(d) { return Depthwise.backwardWeight(dy, x, weightShape: weightShape, g, d) }
        if OneDNN.applies(d, g, pass: .backwardWeights), let dw = OneDNN.backwardWeights(dy, x, weightShape: weightShape, g) { return dw }
        if Winograd.applies(d, g) { return Winograd.weightGradient(dy, x, pad: g.padding, inputTiles: kept) }
        return backwardWeightByGEMM(dy, x, weightShape: weightShape, g, groups: groups, columns: kept, gathered: given)
    }

    /// dW by im2col and GEMM, for any geometry.
    static func backwardWeightByGEMM(_ dy: Tensor, _ x: Tensor, weightShape: [Int], _ g: Conv2dGeometry, groups: Int,
                                     columns kept: Tensor? = nil, gathered given: UnsafePointer<Float>? = nil) -> Tensor {
        let d = dims(x.shape, weightShape, g, groups: groups)
        let dw = Tensor(zeros: weightShape)
        let pdy = dy.storage.pointer, pdw = dw.storage.pointer
        if batchesColumns(d, g) {
            // dW [Cout, K] = dy [Cout, N*Ho*Wo] col^T.
            let columns = d.n * d.hwo
            func product(_ col: UnsafeMutablePointer<Float>) {
                withGathered(dy, d, given) { gathered in
                    sgemm(transB: true, m: d.cout, n: d.k, k: columns, a: gathered, lda: columns,
                          b: col, ldb: columns, c: pdw, ldc: d.k)
                }
            }
            if let kept, kept.count == d.k * columns { product(kept.storage.pointer) } else { withBatchedColumns(x, d, g, keep: nil, product) }
            return dw
        }
        forEachColumnMatrix(x, d, g) { n, grp, rows, col in
            let columns = rows.count * d.wo
            sgemm(transB: true, m: d.coutG, n: d.k, k: columns,
                  a: pdy + (n * d.cout + grp * d.coutG) * d.hwo + rows.lowerBound * d.wo, lda: d.hwo,
                  b: col, ldb: columns, beta: 1, c: pdw + grp * d.coutG * d.k, ldc: d.k)
        }
        return dw
    }

    /// `body` with dy channel-major ([Cout, N*Ho*Wo]): `given`, or gathered into scratch.
    static func withGathered(_ dy: Tensor, _ d: Dims, _ given: UnsafePointer<Float>?, _ body: (UnsafePointer<Float>) -> Void) {
        if let given { return body(given) }
        BufferPool.withScratch(d.cout * d.n * d.hwo) { gathered in
            channelMajor(dy.storage.pointer, images: d.n, channels: d.cout, plane: d.hwo, into: gathered)
            body(gathered)
        }
    }

    /// Input and weight gradients together: on the batched path dy is gathered channel-major once
    /// for both products.
    static func backward(_ dy: Tensor, x: Tensor, w: Tensor, _ g: Conv2dGeometry, groups: Int, needsInput: Bool,
                         needsWeight: Bool, kept: Kept) -> (dx: Tensor?, dw: Tensor?) {
        let d = dims(x.shape, w.shape, g, groups: groups)
        func both(_ gathered: UnsafePointer<Float>?) -> (Tensor?, Tensor?) {
            (needsInput ? backwardInput(dy, w, inputShape: x.shape, g, groups: groups, gathered: gathered,
                                        filterTiles: kept.filterTiles) : nil,
             needsWeight ? backwardWeight(dy, x, weightShape: w.shape, g, groups: groups, columns: kept.columns,
                                          gathered: gathered) : nil)
        }
        guard needsInput && needsWeight && batchesColumns(d, g) && !Winograd.applies(d, g) else { return both(nil) }
        var result: (Tensor?, Tensor?) = (nil, nil)
        withGathered(dy, d, nil) { gathered in result = both(gathered) }
        return result
    }

    /// dbias[c] = sum over n, h, w of dy.
    static func backwardBias(_ dy: Tensor) -> Tensor {
        Elementwise.sum(dy, axes: [0, 2, 3]).reshaped([dy.shape[1]]).detached()
    }
}
