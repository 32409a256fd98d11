import Foundation
import Dispatch

/// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016):
/// each 2x2 output tile is A^T [ (G g G^T) ∘ (B^T d B) ] A for its 4x4 input tile d, so the
/// 9 multiplies per output become 4, and the channel sums become 16 GEMMs:
/// M_ξ [Cout, T] = U_ξ [Cout, Cin] · V_ξ [Cin, T] for the 16 tile positions ξ (T tiles).
///   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
///   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
///   A^T = [1 1 1 0; 0 1 -1 -1]
enum Winograd {
    static let force = getenv("FOVEA_WINOGRAD").map { String(cString: $0) }

    /// Whether a convolution is one this kernel computes, and one where it pays. The filter
    /// transform reads and writes every weight (memory-bound: a 512x512 layer moves ~26 MB), so
    /// where it runs on every call it pays from a few dozen tiles per call. Measured per VGG-16 /
    /// ResNet-18 layer against im2col + GEMM here (OpenBLAS Haswell kernels, single images):
    /// faster from 224x224 down to 14x14 (49 tiles; ResNet's layer3 0.9 vs 1.2 ms, VGG's 14x14
    /// layers 3.4 vs 4.8 ms), slower on 7x7 maps (16 tiles; ResNet's layer4 2.2 vs 1.4 ms). With
    /// the transform reused (``FrozenWeights``) it pays from 16 tiles (layer4 0.71 vs 1.43 ms).
    /// Batches of small maps reach the tile count too: fashion-cnn's 14x14 layer at batch 128
    /// makes a training epoch 15.0 s instead of 20.5 s. The environment variable
    /// FOVEA_WINOGRAD=0 turns the kernel off, =1 uses it on every eligible layer whatever its
    /// size (to re-measure this rule).
    static func applies(_ d: Convolution.Dims, _ g: Conv2dGeometry) -> Bool {
        if force == "0" { return false }
        let tiles = d.n * ((d.ho + 1) / 2) * ((d.wo + 1) / 2)
        return d.kh == 3 && d.kw == 3 && d.groups == 1 && g.stride == (1, 1) && g.dilation == (1, 1)
            && d.cin >= 16 && d.cout >= 16 && (tiles >= (FrozenWeights.isActive ? 16 : 40) || force == "1")
            && g.padding.top <= 2 && g.padding.bottom <= 2 && g.padding.left <= 2 && g.padding.right <= 2
    }

    /// U of the forward convolution with weights w [Cout, Cin, 3, 3]: the frozen-weights
    /// cache's when one is active, else nil (or, with `orMake`, a new one).
    static func filterTiles(_ w: Tensor, orMake: Bool = false) -> Tensor? {
        func make() -> Tensor {
            let (cout, cin) = (w.shape[0], w.shape[1]), step = rowStride(cout * cin)
            let u = Tensor(overwriting: [16 * step]) { _ in }
            transformWeights(w.storage.pointer, cout: cout, cin: cin, adjoint: false, into: u.storage.pointer, step: step)
            return u
        }
        if let cache = FrozenWeights.cache { return cache.tiles(for: w, make: make) }
        return orMake ? make() : nil
    }

    /// y = conv(x, w) + bias with padding `pad`; x: [N, Cin, H, W], w: [Cout, Cin, 3, 3]. With
    /// `adjoint`, w is a forward convolution's [Cin, Cout, 3, 3] and the filters are its
    /// flipped, transposed ones: w'[co, ci, ky, kx] = w[ci, co, 2 - ky, 2 - kx] (the input
    /// gradient of that convolution is conv(dy, w') with padding 2 - p on each side).
    /// `filterTiles`: U of the forward convolution with weights w (``filterTiles(_:orMake:)``),
    /// else transformed here. The adjoint reads it too: flipping g flips G g G^T (G J = P G,
    /// P swapping rows 0 and 3), so U'_(i,j) = U_(p(i),p(j))^T with p = (3, 1, 2, 0).
    /// `keepInputTiles`: a tensor of ``inputTilesCount(_:)`` floats that receives the input
    /// tiles V for ``weightGradient(_:_:pad:inputTiles:)``.
    static func conv(_ x: Tensor, _ w: Tensor, bias: Tensor?, pad: (top: Int, bottom: Int, left: Int, right: Int),
                     adjoint: Bool = false, filterTiles: Tensor? = nil, keepInputTiles keep: Tensor? = nil) -> Tensor {
        let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let cout = adjoint ? w.shape[1] : w.shape[0]
        let ho = h + pad.top + pad.bottom - 2, wo = wd + pad.left + pad.right - 2
        let th = (ho + 1) / 2, tw = (wo + 1) / 2, tiles = n * th * tw
        let y = Tensor(overwriting: [n, cout, ho, wo]) { _ in }
        let buffers = TileBuffers(cout: cout, cin: cin, tiles: tiles, keptV: keep, keptU: filterTiles)
        defer { buffers.release() }
        let (u, v, m) = (buffers.u, buffers.v, buffers.m), (uStep, vStep, mStep) = (buffers.uStep, buffers.vStep, buffers.mStep)
        let transposedU = adjoint && buffers.uIsKept
        if !buffers.uIsKept {
            transformWeights(w.storage.pointer, cout: cout, cin: cin, adjoint: adjoint, into: u, step: uStep)
        }
        transformInput(x.storage.pointer, n: n, c: cin, h: h, w: wd, top: pad.top, left: pad.left,
                       th: th, tw: tw, into: v, step: vStep)
        let flip = [3, 1, 2, 0]
        productsOnBothCores { xi in
            if transposedU {
                // U_ξ is the forward's [Cin, Cout] (this call's Cout, Cin) at the flipped position.
                let source = flip[xi / 4] * 4 + flip[xi % 4]
                sgemm(transA: true, m: cout, n: tiles, k: cin, a: u + source * uStep, lda: cout,
                      b: v + xi * vStep, ldb: tiles, c: m + xi * mStep, ldc: tiles, split: false)
            } else {
                sgemm(m: cout, n: tiles, k: cin, a: u + xi * uStep, lda: cin,
                      b: v + xi * vStep, ldb: tiles, c: m + xi * mStep, ldc: tiles, split: false)
            }
        }
        transformOutput(m, step: mStep, n: n, c: cout, ho: ho, wo: wo, th: th, tw: tw, bias: bias?.storage.pointer,
                        into: y.storage.pointer)
        return y
    }

    /// dW [Cout, Cin, 3, 3] of y = conv(x, w) with padding `pad`, from dy [N, Cout, Ho, Wo], in
    /// the same tile domain (the adjoint of ``conv``): with V = B^T d B the forward's input
    /// tiles and dM = A dy A^T each 2x2 output-gradient tile, dU_ξ [Cout, Cin] = dM_ξ · V_ξ^T
    /// summed over tiles (16 GEMMs with K = tiles), and dW = G^T dU G per filter. 16 products
    /// per tile against im2col's 36, and no [9 Cin, N Ho Wo] column matrix.
    /// `inputTiles`: V as the forward pass kept it, if it did.
    static func weightGradient(_ dy: Tensor, _ x: Tensor, pad: (top: Int, bottom: Int, left: Int, right: Int),
                               inputTiles: Tensor? = nil) -> Tensor {
        let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, ho, wo) = (dy.shape[1], dy.shape[2], dy.shape[3])
        let th = (ho + 1) / 2, tw = (wo + 1) / 2, tiles = n * th * tw
        let buffers = TileBuffers(cout: cout, cin: cin, tiles: tiles, keptV: inputTiles, keptU: nil)
        defer { buffers.release() }
        let (du, v, m) = (buffers.u, buffers.v, buffers.m), (uStep, vStep, mStep) = (buffers.uStep, buffers.vStep, buffers.mStep)
        if !buffers.vIsKept {
            transformInput(x.storage.pointer, n: n, c: cin, h: h, w: wd, top: pad.top, left: pad.left,
                           th: th, tw: tw, into: v, step: vStep)
        }
        transformOutputGradient(dy.storage.pointer, n: n, c: cout, ho: ho, wo: wo, th: th, tw: tw, into: m, step: mStep)
        productsOnBothCores { xi in
            sgemm(transB: true, m: cout, n: cin, k: tiles, a: m + xi * mStep, lda: tiles,
                  b: v + xi * vStep, ldb: tiles, c: du + xi * uStep, ldc: cin, split: false)
        }
        let dw = Tensor(overwriting: [cout, cin, 3, 3]) { _ in }
        filterGradients(du, step: uStep, filters: cout * cin, into: dw.storage.pointer)
        return dw
    }

    /// body(ξ) for the 16 tile positions, each product on one core, the cores claiming ξ in
    /// turn: one fork-join instead of 16, and every matrix packed once (a product split in
    /// halves packs its shared operand on every core).
    static func productsOnBothCores(_ body: (Int) -> Void) {
        Parallel.forEach(16) { range in range.forEach(body) }
    }

    /// The 16 matrices each of U [Cout, Cin], V [Cin, T] and M [Cout, T] for T tiles, ξ at
    /// ξ * step; V and U are `keptV`'s and `keptU`'s storage when those have their sizes (the
    /// input tiles a recorded forward pass keeps, a ready U).
    struct TileBuffers {
        let uStep, vStep, mStep: Int
        let u, v, m: UnsafeMutablePointer<Float>
        let uIsKept, vIsKept: Bool

        init(cout: Int, cin: Int, tiles: Int, keptV: Tensor?, keptU: Tensor?) {
            (uStep, vStep, mStep) = (rowStride(cout * cin), rowStride(cin * tiles), rowStride(cout * tiles))
            let givenV = keptV.flatMap { [vStep] t in t.count == 16 * vStep ? t.storage.pointer : nil }
            let givenU = keptU.flatMap { [uStep] t in t.count == 16 * uStep ? t.storage.pointer : nil }
            (uIsKept, vIsKept) = (givenU != nil, givenV != nil)
            (u, v, m) = (givenU ?? BufferPool.take(16 * uStep), givenV ?? BufferPool.take(16 * vStep), BufferPool.take(16 * mStep))
        }

        func release() {
            if !uIsKept { BufferPool.give(u, count: 16 * uStep) }
            if !vIsKept { BufferPool.give(v, count: 16 * vStep) }
            BufferPool.give(m, count: 16 * mStep)
        }
    }

    /// The size of V, the input tiles of a convolution with dims d.
    static func inputTilesCount(_ d: Convolution.Dims) -> Int {
        16 * rowStride(d.cin * d.n * ((d.ho + 1) / 2) * ((d.wo + 1) / 2))
    }


    /// m[ξ * step + c * tiles + t] = (A dy A^T)[ξ] for the 2x2 tile t of dy (zeros past Ho, Wo):
    /// the adjoint of ``transformOutput``. A = [1 0; 1 1; 1 -1; 0 -1].
    static func transformOutputGradient(_ dy: UnsafePointer<Float>, n: Int, c: Int, ho: Int, wo: Int, th: Int, tw: Int,
                                        into m: UnsafeMutablePointer<Float>, step: Int) {
        let tiles = n * th * tw
        Parallel.forEach(n * c) { chunk in
            for nc in chunk {
                let (b, ch) = (nc / c, nc % c)
                let plane = dy + nc * ho * wo
                for ti in 0..<th {
                    let oy = 2 * ti
                    var tj = 0
                    // Four tiles at once (lane k: tile tj + k) where their 8 columns and both
                    // rows are inside dy: even and odd halves of 8-wide row loads.
                    while tj + 4 <= tw && 2 * tj + 8 <= wo && oy + 2 <= ho {
                        let top = UnsafeRawPointer(plane + oy * wo + 2 * tj).loadUnaligned(as: SIMD8<Float>.self)
                        let bottom = UnsafeRawPointer(plane + (oy + 1) * wo + 2 * tj).loadUnaligned(as: SIMD8<Float>.self)
                        let (d00, d01, d10, d11) = (top.evenHalf, top.oddHalf, bottom.evenHalf, bottom.oddHalf)
                        let base = m + ch * tiles + (b * th + ti) * tw + tj
                        // Row i of Z = A dy is (z0, z1); row i of Z A^T is (z0, z0 + z1, z0 - z1, -z1).
                        @inline(__always) func store(_ i: Int, _ z0: SIMD4<Float>, _ z1: SIMD4<Float>) {
                            UnsafeMutableRawPointer(base + (i * 4 + 0) * step).storeBytes(of: z0, as: SIMD4<Float>.self)
                            UnsafeMutableRawPointer(base + (i * 4 + 1) * step).storeBytes(of: z0 + z1, as: SIMD4<Float>.self)
                            UnsafeMutableRawPointer(base + (i * 4 + 2) * step).storeBytes(of: z0 - z1, as: SIMD4<Float>.self)
                            UnsafeMutableRawPointer(base + (i * 4 + 3) * step).storeBytes(of: -z1, as: SIMD4<Float>.self)
                        }
                        store(0, d00, d01)
                        store(1, d00 + d10, d01 + d11)
                        store(2, d00 - d10, d01 - d11)
                        store(3, -d10, -d11)
                        tj += 4
                    }
                    for tj in tj..<tw {
                        let ox = 2 * tj
                        @inline(__always) func at(_ r: Int, _ q: Int) -> Float {
                            oy + r < ho && ox + q < wo ? plane[(oy + r) * wo + ox + q] : 0
                        }
                        let (d00, d01, d10, d11) = (at(0, 0), at(0, 1), at(1, 0), at(1, 1))
                        let base = m + ch * tiles + (b * th + ti) * tw + tj
                        @inline(__always) func store(_ i: Int, _ z0: Float, _ z1: Float) {
                            base[(i * 4 + 0) * step] = z0
                            base[(i * 4 + 1) * step] = z0 + z1
                            base[(i * 4 + 2) * step] = z0 - z1
                            base[(i * 4 + 3) * step] = -z1
                        }
                        store(0, d00, d01)
                        store(1, d00 + d10, d01 + d11)
                        store(2, d00 - d10, d01 - d11)
                        store(3, -d10, -d11)
                    }
                }
            }
        }
    }

    /// dw[f] (3x3) = G^T dU_f G for each filter f, dU_f the 4x4 at du[ξ * step + f]: the
    /// adjoint of the filter transform. G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1].
    static func filterGradients(_ du: UnsafePointer<Float>, step: Int, filters: Int, into dw: UnsafeMutablePointer<Float>) {
        for f in 0..<filters {
            @inline(__always) func row(_ i: Int) -> SIMD4<Float> {
                SIMD4(du[(i * 4) * step + f], du[(i * 4 + 1) * step + f], du[(i * 4 + 2) * step + f], du[(i * 4 + 3) * step + f])
            }
            let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3))
            let t0 = r0 + (r1 + r2) * 0.5, t1 = (r1 - r2) * 0.5, t2 = (r1 + r2) * 0.5 + r3     // G^T dU (3 x 4)
            let out = dw + f * 9
            @inline(__always) func store(_ k: Int, _ t: SIMD4<Float>) {                        // (G^T dU) G
                out[k * 3] = t[0] + (t[1] + t[2]) * 0.5
                out[k * 3 + 1] = (t[1] - t[2]) * 0.5
                out[k * 3 + 2] = (t[1] + t[2]) * 0.5 + t[3]
            }
            store(0, t0)
            store(1, t1)
            store(2, t2)
        }
    }

    /// The distance between the 16 matrices of u, v or m holding `count` floats each: a
    /// multiple of 16 floats (64-byte lines) that is an odd number of lines, so that the 16
    /// streams a transform reads or writes fall in 16 different cache sets. Power-of-two
    /// strides put them all in one set and made the transforms several times slower.
    static func rowStride(_ count: Int) -> Int {
        let lines = (count + 15) / 16
        return (lines | 1) * 16
    }

    /// u[ξ * step + co * cin + ci] = (G g G^T)[ξ] for each 3x3 filter g = w[co, ci], or with
    /// `adjoint` for g = w[ci, co] flipped (w is then [Cin, Cout, 3, 3]). Written in u's order,
    /// on every core from 4096 filters (in runs of 16: whole cache lines of each stream).
    static func transformWeights(_ w: UnsafePointer<Float>, cout: Int, cin: Int, adjoint: Bool,
                                 into u: UnsafeMutablePointer<Float>, step plane: Int) {
        let filters = cout * cin
        Parallel.forEach(filters, grain: filters >= 4096 ? 16 : filters) { chunk in
            for f in chunk {
                let g = w + (adjoint ? (f % cin) * cout + f / cin : f) * 9
                // Rows of G g (4 x 3), each then times G^T; a flipped filter reads g backwards.
                let g0, g1, g2: SIMD4<Float>
                if adjoint {
                    (g0, g1, g2) = (SIMD4(g[8], g[7], g[6], 0), SIMD4(g[5], g[4], g[3], 0), SIMD4(g[2], g[1], g[0], 0))
                } else {
                    (g0, g1, g2) = (SIMD4(g[0], g[1], g[2], 0), SIMD4(g[3], g[4], g[5], 0), SIMD4(g[6], g[7], g[8], 0))
                }
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
    }

    /// v[ξ * step + c * tiles + t] = (B^T d B)[ξ] for the 4x4 tile d at rows 2i - top,
    /// columns 2j - left.
    static func transformInput(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, top: Int, left: Int,
                               th: Int, tw: Int, into v: UnsafeMutablePointer<Float>, step: Int) {
        let tiles = n * th * tw
        Parallel.forEach(n * c) { chunk in
            for nc in chunk {
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

    /// y[n, c, 2i + r, 2j + q] = (A^T m A)[r, q] + bias[c] for the 2x2 tile (i, j), where
    /// m[ξ * step + c * tiles + t] holds tile t's products.
    static func transformOutput(_ m: UnsafePointer<Float>, step: Int, n: Int, c: Int, ho: Int, wo: Int, th: Int, tw: Int,
                                bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        let tiles = n * th * tw
        Parallel.forEach(n * c) { chunk in
            for nc in chunk {
                let (b, ch) = (nc / c, nc % c)
                let out = y + nc * ho * wo
                let bv = bias?[ch] ?? 0
                for ti in 0..<th {
                    let oy = 2 * ti
                    var tj = 0
                    // Four tiles at once (lane k: tile tj + k) where their 8 output columns and
                    // both output rows are inside y; outputs interleave the lanes' two columns.
                    while tj + 4 <= tw && 2 * tj + 8 <= wo && oy + 2 <= ho {
                        let base = m + ch * tiles + (b * th + ti) * tw + tj
                        @inline(__always) func lanes(_ xi: Int) -> SIMD4<Float> {
                            UnsafeRawPointer(base + xi * step).loadUnaligned(as: SIMD4<Float>.self)
                        }
                        let t0 = lanes(0) + lanes(4) + lanes(8), b0 = lanes(4) - lanes(8) - lanes(12)
                        let t1 = lanes(1) + lanes(5) + lanes(9), b1 = lanes(5) - lanes(9) - lanes(13)
                        let t2 = lanes(2) + lanes(6) + lanes(10), b2 = lanes(6) - lanes(10) - lanes(14)
                        let t3 = lanes(3) + lanes(7) + lanes(11), b3 = lanes(7) - lanes(11) - lanes(15)
                        let y00 = t0 + t1 + t2 + bv, y01 = t1 - t2 - t3 + bv
                        let y10 = b0 + b1 + b2 + bv, y11 = b1 - b2 - b3 + bv
                        @inline(__always) func store(_ row: Int, _ even: SIMD4<Float>, _ odd: SIMD4<Float>) {
                            let v = SIMD8<Float>(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3])
                            UnsafeMutableRawPointer(out + row * wo + 2 * tj).storeBytes(of: v, as: SIMD8<Float>.self)
                        }
                        store(oy, y00, y01)
                        store(oy + 1, y10, y11)
                        tj += 4
                    }
                    for tj in tj..<tw {
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
                        let ox = 2 * tj
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

extension Winograd {
    /// Tile buffers of one convolution above this many bytes are avoided by working in bands.
    static let bandBytes = 256 << 20

    /// ``conv(_:_:bias:pad:adjoint:filterTiles:keepInputTiles:)`` of a single large image in
    /// horizontal bands of output rows: each band convolves the input rows it reads (padded only
    /// at the image's real borders), so the transformed tiles V and M, 4x the input and output,
    /// exist for one band at a time. The same numbers; a 1024x1024 VGG layer's 2 GB of tile
    /// buffers become at most ``bandBytes``.
    static func convInBands(_ x: Tensor, _ w: Tensor, bias: Tensor?, pad: (top: Int, bottom: Int, left: Int, right: Int),
                            adjoint: Bool = false, filterTiles: Tensor? = nil, bandBytes: Int = Winograd.bandBytes) -> Tensor {
        let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let cout = adjoint ? w.shape[1] : w.shape[0]
        let ho = h + pad.top + pad.bottom - 2, wo = wd + pad.left + pad.right - 2
        let bytesPerTileRow = 16 * 4 * Swift.max(cin, cout) * ((wo + 1) / 2)
        let tileRows = Swift.max(1, bandBytes / Swift.max(bytesPerTileRow, 1))
        guard n == 1, 2 * tileRows < ho - 2 else {
            return conv(x, w, bias: bias, pad: pad, adjoint: adjoint, filterTiles: filterTiles)
        }
        let rows = 2 * tileRows
        let y = Tensor(overwriting: [1, cout, ho, wo]) { _ in }
        let (px, py) = (x.storage.pointer, y.storage.pointer)
        for o0 in stride(from: 0, to: ho, by: rows) {
            let o1 = Swift.min(ho, o0 + rows)
            // Output rows o0..<o1 read input rows o0 - top ..< o1 - top + 2, clipped to the image.
            let i0 = Swift.max(0, o0 - pad.top), i1 = Swift.min(h, o1 - pad.top + 2)
            let bandPad = (top: i0 - (o0 - pad.top), bottom: (o1 - pad.top + 2) - i1, left: pad.left, right: pad.right)
            let band = Tensor(overwriting: [1, cin, i1 - i0, wd]) { out in
                for c in 0..<cin {
                    (out.baseAddress! + c * (i1 - i0) * wd).update(from: px + (c * h + i0) * wd, count: (i1 - i0) * wd)
                }
            }
            let yBand = conv(band, w, bias: bias, pad: bandPad, adjoint: adjoint, filterTiles: filterTiles)
            let pb = yBand.storage.pointer
            for c in 0..<cout {
                (py + (c * ho + o0) * wo).update(from: pb + c * (o1 - o0) * wo, count: (o1 - o0) * wo)
            }
        }
        return y
    }
}
