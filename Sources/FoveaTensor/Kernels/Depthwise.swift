import Dispatch

/// Direct kernels for grouped convolutions with one input channel per group (depthwise, with
/// channel multiplier m = Cout / Cin): output channel o reads input channel o / m.
/// y[n, o, oy, ox] = sum_{ky, kx} w[o, 0, ky, kx] * x[n, o/m, oy*s - pt + ky*d, ox*s - pl + kx*d].
///
/// Each input plane is zero-padded and split into s*s polyphase planes
/// P_{p,q}[a, b] = xpad[a*s + p, b*s + q], each `rows` x `stride` floats. Tap (ky, kx) then reads
/// phase ((ky*d) mod s, (kx*d) mod s) at a fixed offset, so with the output laid out with the
/// same row stride, every tap is one long contiguous multiply-add over the whole plane:
/// y'[i] += w * P[i + offset], i < Ho * stride (the columns past Wo are computed and dropped).
/// Backward runs the same loops with the roles of input and output swapped.
enum Depthwise {
    typealias Dims = Convolution.Dims

    struct Layout {
        let s: Int, rows: Int, stride: Int
        let top: Int, left: Int, h: Int, w: Int, ho: Int, wo: Int
        /// Per tap: phase plane index and the offset of the tap inside it.
        let taps: [(phase: Int, offset: Int)]

        init(_ d: Dims, _ g: Conv2dGeometry) {
            check(g.stride.h == g.stride.w, "depthwise kernel needs equal strides")
            s = g.stride.w
            let hp = max(d.h + g.padding.top + g.padding.bottom, (d.ho - 1) * s + (d.kh - 1) * g.dilation.h + 1)
            let wp = max(d.w + g.padding.left + g.padding.right, (d.wo - 1) * s + (d.kw - 1) * g.dilation.w + 1)
            let phaseStride = (wp + s - 1) / s
            rows = (hp + s - 1) / s + 1                     // one spare row: the flat loops run past Wo
            stride = phaseStride
            (top, left, h, w, ho, wo) = (g.padding.top, g.padding.left, d.h, d.w, d.ho, d.wo)
            var taps: [(Int, Int)] = []
            for ky in 0..<d.kh {
                for kx in 0..<d.kw {
                    let (oy, ox) = (ky * g.dilation.h, kx * g.dilation.w)
                    taps.append(((oy % s) * s + ox % s, (oy / s) * phaseStride + ox / s))
                }
            }
            self.taps = taps
        }

        var phaseCount: Int { rows * stride }
        var planeCount: Int { s * s * phaseCount }
        /// Length of the flat loops: output rows at the phase row stride.
        var span: Int { ho * stride }

        /// Calls body(input row y, phase row pointer offset, first input column, count, phase
        /// column start) for each input row and column phase: input columns x0, x0+s, ... go to
        /// consecutive phase columns from `column`.
        @inline(__always)
        func forEachRun(_ body: (_ y: Int, _ base: Int, _ x0: Int, _ count: Int, _ column: Int) -> Void) {
            for y in 0..<h {
                let py = y + top
                for q in 0..<s {
                    let x0 = ((q - left) % s + s) % s                  // first x with (x + left) % s == q
                    guard x0 < w else { continue }
                    let count = (w - x0 + s - 1) / s
                    body(y, ((py % s) * s + q) * phaseCount + (py / s) * stride, x0, count, (x0 + left) / s)
                }
            }
        }

        /// Writes the padded polyphase planes of input plane x into `dst` (planeCount floats).
        /// Stride 1: rows copied and only the border zeroed; stride 2: each row split into its
        /// even and odd columns eight pairs at a time.
        func split(_ x: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
            if s == 1 {
                dst.update(repeating: 0, count: top * stride)
                for y in 0..<h {
                    let row = dst + (top + y) * stride
                    row.update(repeating: 0, count: left)
                    (row + left).update(from: x + y * w, count: w)
                    (row + left + w).update(repeating: 0, count: stride - left - w)
                }
                (dst + (top + h) * stride).update(repeating: 0, count: (rows - top - h) * stride)
                return
            }
            dst.update(repeating: 0, count: planeCount)
            guard s == 2 else {
                return forEachRun { y, base, x0, count, column in
                    let row = x + y * w + x0, out = dst + base + column
                    for j in 0..<count { out[j] = row[j * s] }
                }
            }
            // Input column xx goes to column phase (xx + left) % 2 at column (xx + left) / 2; from
            // the first xx with an even xx + left, pairs (xx, xx + 1) share their column.
            let first = left % 2
            for y in 0..<h {
                let py = y + top, row = x + y * w
                let even = dst + ((py % 2) * 2) * phaseCount + (py / 2) * stride
                let odd = even + phaseCount
                if first == 1 { odd[left / 2] = row[0] }
                var xx = first
                while xx + 16 <= w {
                    let v = UnsafeRawPointer(row + xx).loadUnaligned(as: SIMD16<Float>.self)
                    let c = (xx + left) / 2
                    UnsafeMutableRawPointer(even + c).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(odd + c).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
                    xx += 16
                }
                while xx < w {
                    let c = (xx + left) / 2
                    even[c] = row[xx]
                    if xx + 1 < w { odd[c] = row[xx + 1] }
                    xx += 2
                }
            }
        }

        /// Writes the interior of the polyphase planes into plane dx, every element once (the
        /// adjoint of split when the border is dropped); stride 2 interleaves eight pairs at a time.
        func gather(_ src: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
            guard s == 2 else {
                return forEachRun { y, base, x0, count, column in
                    let row = dx + y * w + x0, inp = src + base + column
                    for j in 0..<count { row[j * s] = inp[j] }
                }
            }
            let first = left % 2
            for y in 0..<h {
                let py = y + top, row = dx + y * w
                let even = src + ((py % 2) * 2) * phaseCount + (py / 2) * stride
                let odd = even + phaseCount
                if first == 1 { row[0] = odd[left / 2] }
                var xx = first
                while xx + 16 <= w {
                    let c = (xx + left) / 2
                    var v = SIMD16<Float>()
                    v.evenHalf = UnsafeRawPointer(even + c).loadUnaligned(as: SIMD8<Float>.self)
                    v.oddHalf = UnsafeRawPointer(odd + c).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(row + xx).storeBytes(of: v, as: SIMD16<Float>.self)
                    xx += 16
                }
                while xx < w {
                    let c = (xx + left) / 2
                    row[xx] = even[c]
                    if xx + 1 < w { row[xx + 1] = odd[c] }
                    xx += 2
                }
            }
        }

        /// Adds the interior of the polyphase planes back into plane dx (the adjoint of split).
        func merge(_ src: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
            forEachRun { y, base, x0, count, column in
                let row = dx + y * w + x0, inp = src + base + column
                if s == 1 { for j in 0..<count { row[j] += inp[j] } } else { for j in 0..<count { row[j * s] += inp[j] } }
            }
        }
    }

    /// Runs `body(plane, scratch)` for every (image, output channel) plane on every core;
    /// `scratch` holds `scratchCount` floats private to the running chunk of planes.
    @inline(__always)
    static func forEachPlane(_ d: Dims, scratchCount: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        Parallel.forEach(d.n * d.cout) { chunk in
            BufferPool.withScratch(scratchCount) { scratch in
                for p in chunk { body(p, scratch) }
            }
        }
    }

    /// `input`: applied to each input plane on its way into the padded phase planes; `output`:
    /// to each output plane as soon as it is written (both while the plane is in cache).
    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, _ d: Dims,
                        input: Normalization.PlaneMap? = nil, output: Normalization.PlaneMap? = nil) -> Tensor {
        let y = Tensor(overwriting: [d.n, d.cout, d.ho, d.wo]) { _ in }
        let px = x.storage.pointer, pw = w.storage.pointer, py = y.storage.pointer
        let pb = bias?.storage.pointer
        let m = d.cout / d.cin, L = Layout(d, g), hw = d.h * d.w
        forEachPlane(d, scratchCount: L.planeCount + L.span + (input == nil ? 0 : hw)) { plane, scratch in
            let (n, o) = (plane / d.cout, plane % d.cout)
            let source = n * d.cin + o / m, phases = scratch, flat = scratch + L.planeCount
            if let input {
                let mapped = flat + L.span
                input.apply(px + source * hw, into: mapped, plane: source, channel: o / m, count: hw)
                L.split(mapped, into: phases)
            } else {
                L.split(px + source * hw, into: phases)
            }
            let out = py + plane * d.hwo
            accumulateTaps(L, weights: pw + o * d.kh * d.kw, bias: pb?[o] ?? 0, phases: phases, flat: flat)
            if let output, d.wo >= 8 {
                output.applyRows(flat, stride: L.stride, rows: d.ho, width: d.wo, into: out, plane: plane, channel: o)
            } else {
                for oy in 0..<L.ho { copyRow(flat + oy * L.stride, into: out + oy * L.wo, count: L.wo) }
                output?.apply(out, into: out, plane: plane, channel: o, count: d.hwo)
            }
        }
        return y
    }

    /// flat[oy * stride + ox] = bias + sum over taps t of w[t] * P_t[oy * stride + ox + offset_t]:
    /// the whole plane as one flat loop at the phase row stride (``Layout/span`` floats, see
    /// ``multiplyAddTaps``); the caller copies the rows out without the columns past Wo.
    @inline(__always)
    static func accumulateTaps(_ L: Layout, weights wk: UnsafePointer<Float>, bias: Float, phases: UnsafePointer<Float>,
                               flat: UnsafeMutablePointer<Float>) {
        let taps = L.taps.count
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: taps) { sources in
            for (t, tap) in L.taps.enumerated() { sources[t] = phases + tap.phase * L.phaseCount + tap.offset }
            multiplyAddTaps(UnsafePointer(sources.baseAddress!), weights: wk, taps: taps, bias: bias, count: L.span, into: flat)
        }
    }

    /// dst[0..<count] = src[0..<count] (not overlapping) eight floats at a time, the last eight
    /// overlapping the ones before: rows are short, and memmove costs a call each.
    @inline(__always)
    static func copyRow(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        guard count >= 8 else {
            for j in 0..<count { dst[j] = src[j] }
            return
        }
        var x = 0
        while true {
            let start = Swift.min(x, count - 8)
            UnsafeMutableRawPointer(dst + start).storeBytes(of: UnsafeRawPointer(src + start).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            if start == count - 8 { return }
            x += 8
        }
    }

    /// out[i] = bias + sum_{t < taps} weights[t] * sources[t][i] for i < count. Blocks of 64
    /// (32, 16, 8 for shorter runs) floats stay in registers across all taps: 8 (4, 2, 1)
    /// independent FMA chains, so the loop runs at FMA throughput, not latency. The last
    /// block overlaps the one before it; sources must be readable up to count.
    @inline(__always)
    static func multiplyAddTaps(_ sources: UnsafePointer<UnsafePointer<Float>>, weights: UnsafePointer<Float>, taps: Int,
                                bias: Float, count: Int, into out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        @inline(__always) func load(_ t: Int, _ i: Int) -> V { UnsafeRawPointer(sources[t] + i).loadUnaligned(as: V.self) }
        @inline(__always) func store(_ a: V, _ i: Int) { UnsafeMutableRawPointer(out + i).storeBytes(of: a, as: V.self) }
        // Generic SIMD32/SIMD64 compile to scalar loops, so wide blocks are explicit SIMD16s.
        @inline(__always) func block64(_ start: Int) {
            var (a0, a1, a2, a3) = (V(repeating: bias), V(repeating: bias), V(repeating: bias), V(repeating: bias))
            for t in 0..<taps {
                let w = V(repeating: weights[t])
                a0.addProduct(w, load(t, start)); a1.addProduct(w, load(t, start + 16))
                a2.addProduct(w, load(t, start + 32)); a3.addProduct(w, load(t, start + 48))
            }
            store(a0, start); store(a1, start + 16); store(a2, start + 32); store(a3, start + 48)
        }
        @inline(__always) func block32(_ start: Int) {
            var (a0, a1) = (V(repeating: bias), V(repeating: bias))
            for t in 0..<taps {
                let w = V(repeating: weights[t])
                a0.addProduct(w, load(t, start)); a1.addProduct(w, load(t, start + 16))
            }
            store(a0, start); store(a1, start + 16)
        }
        @inline(__always) func block<B: SIMD>(_: B.Type, _ start: Int) where B.Scalar == Float {
            var a = B(repeating: bias)
            for t in 0..<taps {
                a.addProduct(B(repeating: weights[t]), UnsafeRawPointer(sources[t] + start).loadUnaligned(as: B.self))
            }
            UnsafeMutableRawPointer(out + start).storeBytes(of: a, as: B.self)
        }
        // Blocks at 0, width, 2 width, ..., the last one moved back to end at count.
        @inline(__always) func blocks(_ width: Int, _ body: (Int) -> Void) {
            var i = 0
            while true {
                let start = Swift.min(i, count - width)
                body(start)
                if start == count - width { return }
                i += width
            }
        }
        if count >= 64 { return blocks(64, block64) }
        if count >= 32 { return blocks(32, block32) }
        if count >= 16 { return blocks(16) { block(V.self, $0) } }
        if count >= 8 { return blocks(8) { block(SIMD8<Float>.self, $0) } }
        for i in 0..<count {
            var a = bias
            for t in 0..<taps { a.addProduct(weights[t], sources[t][i]) }
            out[i] = a
        }
    }

    /// The output gradient of `plane` laid out with the phase row stride, zeros past Wo.
    @inline(__always)
    static func spread(_ dy: UnsafePointer<Float>, _ L: Layout, into dst: UnsafeMutablePointer<Float>) {
        dst.update(repeating: 0, count: L.span)
        for oy in 0..<L.ho { (dst + oy * L.stride).update(from: dy + oy * L.wo, count: L.wo) }
    }

    /// dx for dy, with the maps of a fused forward's adjoint (one output per input channel
    /// only): `gradient` applied to each plane of dy before it is used (the gradient through the
    /// forward's `output` map), `inputGradient` to each plane of dx once written (through its
    /// `input` map).
    static func backwardInput(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry, _ d: Dims,
                              gradient: Normalization.PlaneMap? = nil, inputGradient: Normalization.PlaneMap? = nil) -> Tensor {
        let m = d.cout / d.cin
        check(m == 1 || (gradient == nil && inputGradient == nil), "depthwise: fused maps need one output per input channel")
        // Stride 1, one output per input channel: dx is the correlation of dy with the flipped
        // filters, padded by the kernel extent minus the forward padding: the forward kernel,
        // with no scatter pass.
        let extent = (h: g.dilation.h * (d.kh - 1), w: g.dilation.w * (d.kw - 1))
        if m == 1 && g.stride == (1, 1) && g.padding.top <= extent.h && g.padding.bottom <= extent.h
            && g.padding.left <= extent.w && g.padding.right <= extent.w {
            let taps = d.kh * d.kw, pw = w.storage.pointer
            let flipped = Tensor(overwriting: w.shape) { out in
                for c in 0..<d.cout { for t in 0..<taps { out[c * taps + t] = pw[c * taps + taps - 1 - t] } }
            }
            let adjoint = Conv2dGeometry(kernel: (d.kh, d.kw), stride: (1, 1),
                                         padding: (extent.h - g.padding.top, extent.h - g.padding.bottom,
                                                   extent.w - g.padding.left, extent.w - g.padding.right),
                                         dilation: (g.dilation.h, g.dilation.w))
            let dx = forward(dy, flipped, nil, adjoint, Convolution.dims(dy.shape, w.shape, adjoint, groups: d.groups),
                             input: gradient, output: inputGradient)
            check(dx.shape == inputShape, "depthwise adjoint: \(dx.shape) vs \(inputShape)")
            return dx
        }
        let L = Layout(d, g), span = L.span
        if m == 1 {
            return backwardInputByPhases(dy, w, inputShape: inputShape, L, d, gradient: gradient, inputGradient: inputGradient)
        }
        let dx = Tensor(zeros: inputShape)
        let pdy = dy.storage.pointer, pw = w.storage.pointer, pdx = dx.storage.pointer
        // dP[i + offset] += w * dy'[i] per tap, then the interior of dP is added into dx.
        let body: (Int, UnsafeMutablePointer<Float>) -> Void = { plane, scratch in
            let (n, o) = (plane / d.cout, plane % d.cout)
            let phases = scratch, grad = scratch + L.planeCount
            phases.update(repeating: 0, count: L.planeCount)
            spread(pdy + plane * d.hwo, L, into: grad)
            let wk = pw + o * d.kh * d.kw
            for (t, tap) in L.taps.enumerated() {
                let wv = wk[t], dst = phases + tap.phase * L.phaseCount + tap.offset
                for i in 0..<span { dst[i] = dst[i].addingProduct(wv, grad[i]) }
            }
            L.merge(phases, into: pdx + (n * d.cin + o / m) * d.h * d.w)
        }
        // Several output planes add into one input plane: stay on one thread.
        BufferPool.withScratch(L.planeCount + span) { scratch in
            for plane in 0..<(d.n * d.cout) { body(plane, scratch) }
        }
        return dx
    }

    /// dx for one input plane per output plane (any stride): the adjoint of the forward's tap
    /// loop, dP_φ[j] = sum over the taps t of phase φ of w[t] * dy'[j - offset_t], computed per
    /// phase plane by ``multiplyAddTaps`` from dy' with zeros before and after it; every
    /// input position lies in exactly one phase plane, so the interior is written into dx
    /// (``Layout/gather(_:into:)``) with no zeroing and no read-modify-write per tap.
    static func backwardInputByPhases(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ L: Layout, _ d: Dims,
                                      gradient: Normalization.PlaneMap? = nil,
                                      inputGradient: Normalization.PlaneMap? = nil) -> Tensor {
        let dx = Tensor(overwriting: inputShape) { _ in }
        let pdy = dy.storage.pointer, pw = w.storage.pointer, pdx = dx.storage.pointer
        let lead = L.taps.map(\.offset).max() ?? 0, guarded = lead + L.phaseCount
        let phaseTaps = (0..<(L.s * L.s)).map { phase in L.taps.indices.filter { L.taps[$0].phase == phase } }
        forEachPlane(d, scratchCount: guarded + L.planeCount + (gradient == nil ? 0 : d.hwo)) { plane, scratch in
            // scratch: [lead zeros][dy' span, zeros past Wo][zeros to the guard], the phase planes,
            // then the mapped dy plane.
            let grad = scratch, phases = scratch + guarded
            grad.update(repeating: 0, count: lead)
            var source = UnsafePointer(pdy + plane * d.hwo)
            if let gradient {
                let mapped = phases + L.planeCount
                gradient.apply(source, into: mapped, plane: plane, channel: plane % d.cout, count: d.hwo)
                source = UnsafePointer(mapped)
            }
            spread(source, L, into: grad + lead)
            (grad + lead + L.span).update(repeating: 0, count: guarded - lead - L.span)
            let wk = pw + (plane % d.cout) * d.kh * d.kw
            for (phase, taps) in phaseTaps.enumerated() {
                let out = phases + phase * L.phaseCount
                withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: max(taps.count, 1)) { sources in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: max(taps.count, 1)) { weights in
                        for (k, t) in taps.enumerated() {
                            sources[k] = UnsafePointer(grad + lead - L.taps[t].offset)
                            weights[k] = wk[t]
                        }
                        multiplyAddTaps(UnsafePointer(sources.baseAddress!), weights: UnsafePointer(weights.baseAddress!), taps: taps.count,
                                        bias: 0, count: L.phaseCount, into: out)
                    }
                }
            }
            let out = pdx + plane * d.h * d.w
            L.gather(phases, into: out)
            inputGradient?.apply(out, into: out, plane: plane, channel: plane % d.cin, count: d.h * d.w)
        }
        return dx
    }

    static func backwardWeight(_ dy: Tensor, _ x: Tensor, weightShape: [Int], _ g: Conv2dGeometry, _ d: Dims) -> Tensor {
        let m = d.cout / d.cin, L = Layout(d, g), span = L.span, kernelSize = d.kh * d.kw
        // dw[tap] = sum_i dy'[i] * P[i + offset], per plane, then summed over images.
        let partial = Tensor(zeros: [d.n, d.cout, kernelSize])
        let pdy = dy.storage.pointer, px = x.storage.pointer, pp = partial.storage.pointer
        forEachPlane(d, scratchCount: L.planeCount + span) { plane, scratch in
            let (n, o) = (plane / d.cout, plane % d.cout)
            let phases = scratch, grad = scratch + L.planeCount
            L.split(px + (n * d.cin + o / m) * d.h * d.w, into: phases)
            spread(pdy + plane * d.hwo, L, into: grad)
            for (t, tap) in L.taps.enumerated() {
                let src = phases + tap.phase * L.phaseCount + tap.offset
                var sum: Float = 0
                for i in 0..<span { sum = sum.addingProduct(grad[i], src[i]) }
                pp[plane * kernelSize + t] = sum
            }
        }
        let summed = Elementwise.sum(partial, axes: [0])
        return Tensor(shape: weightShape, storage: summed.storage)
    }
}
