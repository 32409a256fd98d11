import Dispatch

/// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016):
/// each 2x2 output tile is A^T [ (G g G^T) ∘ (B^T d B) ] A for its 4x4 input tile d, so the
/// 9 multiplies per output become 4, and the channel sums become 16 GEMMs:
/// M_ξ [Cout, T] = U_ξ [Cout, Cin] · V_ξ [Cin, T] for the 16 tile positions ξ (T tiles).
///   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
///   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
///   A^T = [1 1 1 0; 0 1 -1 -1]
enum Winograd {
    /// Whether a convolution is one this kernel computes, and one where it pays. Measured per
    /// VGG-16 / ResNet-18 layer against im2col + GEMM here: Winograd wins from 3136 tiles
    /// (112x112) at 64 channels and from 784 tiles (56x56) at 128 and more; it loses at 56x56
    /// with 64 channels (ResNet's first stage) and ties on smaller maps. Hence tiles * Cin >= 1e5.
    /// Batches of small maps reach that count too, but there the tile transforms cost more than
    /// they save (fashion-cnn's 14x14 layer at batch 128: a training epoch 11% slower), so maps
    /// must also be at least 28x28.
    static func applies(_ d: Convolution.Dims, _ g: Conv2dGeometry) -> Bool {
        let tiles = d.n * ((d.ho + 1) / 2) * ((d.wo + 1) / 2)
        return d.kh == 3 && d.kw == 3 && d.groups == 1 && g.stride == (1, 1) && g.dilation == (1, 1)
            && d.cin >= 16 && d.cout >= 16 && tiles * d.cin >= 100_000 && d.ho >= 28 && d.wo >= 28
            && g.padding.top <= 2 && g.padding.bottom <= 2 && g.padding.left <= 2 && g.padding.right <= 2
    }

    /// y = conv(x, w) + bias with padding `pad`; x: [N, Cin, H, W], w: [Cout, Cin, 3, 3].
    static func conv(_ x: Tensor, _ w: Tensor, bias: Tensor?, pad: (top: Int, bottom: Int, left: Int, right: Int)) -> Tensor {
        let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let cout = w.shape[0]
        let ho = h + pad.top + pad.bottom - 2, wo = wd + pad.left + pad.right - 2
        let th = (ho + 1) / 2, tw = (wo + 1) / 2, tiles = n * th * tw
        let y = Tensor(overwriting: [n, cout, ho, wo]) { _ in }
        let u = BufferPool.take(16 * cout * cin), v = BufferPool.take(16 * cin * tiles), m = BufferPool.take(16 * cout * tiles)
        defer {
            BufferPool.give(u, count: 16 * cout * cin)
            BufferPool.give(v, count: 16 * cin * tiles)
            BufferPool.give(m, count: 16 * cout * tiles)
        }
        transformWeights(w.storage.pointer, cout: cout, cin: cin, into: u)
        transformInput(x.storage.pointer, n: n, c: cin, h: h, w: wd, top: pad.top, left: pad.left,
                       th: th, tw: tw, into: v)
        for xi in 0..<16 {
            sgemm(m: cout, n: tiles, k: cin, a: u + xi * cout * cin, lda: cin,
                  b: v + xi * cin * tiles, ldb: tiles, c: m + xi * cout * tiles, ldc: tiles)
        }
        transformOutput(m, n: n, c: cout, ho: ho, wo: wo, th: th, tw: tw, bias: bias?.storage.pointer,
                        into: y.storage.pointer)
        return y
    }

    /// The weights of the adjoint: w'[ci, co, ky, kx] = w[co, ci, 2 - ky, 2 - kx], so that
    /// dx = conv(dy, w') with padding 2 - p on each side.
    static func adjointWeights(_ w: Tensor) -> Tensor {
        let (cout, cin) = (w.shape[0], w.shape[1])
        let pw = w.storage.pointer
        return Tensor(overwriting: [cin, cout, 3, 3]) { out in
            for co in 0..<cout {
                for ci in 0..<cin {
                    for k in 0..<9 { out[(ci * cout + co) * 9 + 8 - k] = pw[(co * cin + ci) * 9 + k] }
                }
            }
        }
    }

    /// u[ξ, co, ci] = (G g G^T)[ξ] for each 3x3 filter g = w[co, ci].
    static func transformWeights(_ w: UnsafePointer<Float>, cout: Int, cin: Int, into u: UnsafeMutablePointer<Float>) {
        let plane = cout * cin
        for f in 0..<plane {
            let g = w + f * 9
            // Rows of G g (4 x 3), each then times G^T.
            let g0 = SIMD4<Float>(g[0], g[1], g[2], 0), g1 = SIMD4<Float>(g[3], g[4], g[5], 0)
            let g2 = SIMD4<Float>(g[6], g[7], g[8], 0)
            @inline(__always) func store(_ i: Int, _ r: SIMD4<Float>) {
                u[(i * 4 + 0) * plane + f] = r[0]
                u[(i * 4 + 1) * plane + f] = (r[0] + r[1] + r[2]) * 0.5
                u[(i * 4 + 2) * plane + f] = (r[0] - r[1] + r[2]) * 0.5
                u[(i * 4 + 3) * plane + f] = r[2]
            }
            store(0, g0)
            store(1, (g0 + g1 + g2) * 0.5)
            store(2, (g0 - g1 + g2) * 0.5)
            store(3, g2)
        }
    }

    /// v[ξ, c, t] = (B^T d B)[ξ] for the 4x4 tile d at rows 2i - top, columns 2j - left.
    static func transformInput(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, top: Int, left: Int,
                               th: Int, tw: Int, into v: UnsafeMutablePointer<Float>) {
        let tiles = n * th * tw, step = c * tiles
        Parallel.run(2) { part in
            for nc in stride(from: part, to: n * c, by: 2) {
                let (b, ch) = (nc / c, nc % c)
                let plane = x + nc * h * w
                @inline(__always) func row(_ yy: Int, _ x0: Int) -> SIMD4<Float> {
                    guard yy >= 0 && yy < h else { return .zero }
                    let p = plane + yy * w
                    if x0 >= 0 && x0 + 4 <= w { return UnsafeRawPointer(p + x0).loadUnaligned(as: SIMD4<Float>.self) }
                    var r = SIMD4<Float>.zero
                    for q in 0..<4 where x0 + q >= 0 && x0 + q < w { r[q] = p[x0 + q] }
                    return r
                }
                for ti in 0..<th {
                    let y0 = 2 * ti - top
                    let rowsInside = y0 >= 0 && y0 + 4 <= h
                    var tj = 0
                    while tj < tw {
                        let x0 = 2 * tj - left
                        // Four tiles at once where their 10-column window is inside the image:
                        // lane k holds tile tj + k, and columns x0 + 2k + q are the even and odd
                        // halves of 8-wide loads at x0 and x0 + 2.
                        if rowsInside && tj + 4 <= tw && x0 >= 0 && x0 + 10 <= w {
                            @inline(__always) func columns(_ r: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
                                let p = plane + (y0 + r) * w + x0
                                let a = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
                                let b = UnsafeRawPointer(p + 2).loadUnaligned(as: SIMD8<Float>.self)
                                return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
                            }
                            let r0 = columns(0), r1 = columns(1), r2 = columns(2), r3 = columns(3)
                            let base = v + ch * tiles + (b * th + ti) * tw + tj
                            @inline(__always) func store(_ r: Int, _ t: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)) {
                                UnsafeMutableRawPointer(base + (r * 4 + 0) * step).storeBytes(of: t.0 - t.2, as: SIMD4<Float>.self)
                                UnsafeMutableRawPointer(base + (r * 4 + 1) * step).storeBytes(of: t.1 + t.2, as: SIMD4<Float>.self)
                                UnsafeMutableRawPointer(base + (r * 4 + 2) * step).storeBytes(of: t.2 - t.1, as: SIMD4<Float>.self)
                                UnsafeMutableRawPointer(base + (r * 4 + 3) * step).storeBytes(of: t.1 - t.3, as: SIMD4<Float>.self)
                            }
                            // B^T d over rows, then B over columns (per lane).
                            store(0, (r0.0 - r2.0, r0.1 - r2.1, r0.2 - r2.2, r0.3 - r2.3))
                            store(1, (r1.0 + r2.0, r1.1 + r2.1, r1.2 + r2.2, r1.3 + r2.3))
                            store(2, (r2.0 - r1.0, r2.1 - r1.1, r2.2 - r1.2, r2.3 - r1.3))
                            store(3, (r1.0 - r3.0, r1.1 - r3.1, r1.2 - r3.2, r1.3 - r3.3))
                            tj += 4
                            continue
                        }
                        // One tile, with zeros outside the image.
                        let d0 = row(y0, x0), d1 = row(y0 + 1, x0), d2 = row(y0 + 2, x0), d3 = row(y0 + 3, x0)
                        let base = v + ch * tiles + (b * th + ti) * tw + tj
                        @inline(__always) func store(_ r: Int, _ a: SIMD4<Float>) {
                            base[(r * 4 + 0) * step] = a[0] - a[2]
                            base[(r * 4 + 1) * step] = a[1] + a[2]
                            base[(r * 4 + 2) * step] = a[2] - a[1]
                            base[(r * 4 + 3) * step] = a[1] - a[3]
                        }
                        store(0, d0 - d2)
                        store(1, d1 + d2)
                        store(2, d2 - d1)
                        store(3, d1 - d3)
                        tj += 1
                    }
                }
            }
        }
    }

    /// y[n, c, 2i + r, 2j + q] = (A^T m A)[r, q] + bias[c] for the 2x2 tile (i, j).
    static func transformOutput(_ m: UnsafePointer<Float>, n: Int, c: Int, ho: Int, wo: Int, th: Int, tw: Int,
                                bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        let tiles = n * th * tw, step = c * tiles
        Parallel.run(2) { part in
            for nc in stride(from: part, to: n * c, by: 2) {
                let (b, ch) = (nc / c, nc % c)
                let out = y + nc * ho * wo
                let bv = bias?[ch] ?? 0
                for ti in 0..<th {
                    for tj in 0..<tw {
                        let tile = (b * th + ti) * tw + tj
                        let base = m + ch * tiles + tile
                        var s = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
                        // A^T m: two rows of 4.
                        for q in 0..<4 {
                            let m0 = base[q * step], m1 = base[(4 + q) * step]
                            let m2 = base[(8 + q) * step], m3 = base[(12 + q) * step]
                            let top = m0 + m1 + m2, bottom = m1 - m2 - m3
                            switch q {
                            case 0: s.0 = top; s.4 = bottom
                            case 1: s.1 = top; s.5 = bottom
                            case 2: s.2 = top; s.6 = bottom
                            default: s.3 = top; s.7 = bottom
                            }
                        }
                        // (A^T m) A: two columns.
                        let y00 = s.0 + s.1 + s.2, y01 = s.1 - s.2 - s.3
                        let y10 = s.4 + s.5 + s.6, y11 = s.5 - s.6 - s.7
                        let oy = 2 * ti, ox = 2 * tj
                        out[oy * wo + ox] = y00 + bv
                        if ox + 1 < wo { out[oy * wo + ox + 1] = y01 + bv }
                        if oy + 1 < ho {
                            out[(oy + 1) * wo + ox] = y10 + bv
                            if ox + 1 < wo { out[(oy + 1) * wo + ox + 1] = y11 + bv }
                        }
                    }
                }
            }
        }
    }
}
