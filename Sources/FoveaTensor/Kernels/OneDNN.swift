#if canImport(CFoveaDNNL)
import CFoveaDNNL
#endif
import Foundation

/// Dense convolutions (groups = 1) through oneDNN (Debian `libdnnl`, `fovea_dnnl.h`): forward,
/// input gradient and weight gradient of NCHW tensors, each in the layout oneDNN picks for the
/// machine (AVX-512 blocked layouts where the CPU has it). Plans are made once per (pass, shape, geometry) and hold no data; their
/// scratch (converted operands, oneDNN's scratchpad) comes from the buffer pool.
///
/// `FOVEA_CONV=blas` turns it off (the im2col/Winograd kernels, and the only path on Apple);
/// `FOVEA_CONV=dnnl` sends every dense convolution it can run to it. By default it takes the
/// convolutions where it was measured faster (``preferred(_:_:pass:)``). Parts of
/// ``Parallel/concurrently(_:_:)`` keep the in-house kernels: oneDNN would start a team of
/// threads inside each.
enum OneDNN {
    enum Pass: Int, Hashable { case forward = 0, backwardData = 1, backwardWeights = 2 }

    enum Mode { case off, preferred, everywhere }

    static let mode: Mode = {
        #if canImport(CFoveaDNNL)
        switch ProcessInfo.processInfo.environment["FOVEA_CONV"]?.lowercased() {
        case "blas": return .off
        case "dnnl", "onednn": return .everywhere
        default: return .preferred
        }
        #else
        return .off
        #endif
    }()

    /// Whether `pass` of this convolution runs through oneDNN.
    static func applies(_ d: Convolution.Dims, _ g: Conv2dGeometry, pass: Pass) -> Bool {
        guard mode != .off, d.groups == 1, !Parallel.isSerial else { return false }
        return mode == .everywhere || preferred(d, g, pass: pass)
    }

    /// Where oneDNN beat the in-house kernels on this machine class (2 cores, AVX-512; `fovea
    /// bench` and `bench-style` with FOVEA_CONV=blas and =dnnl): large kernels and strided
    /// convolutions with at least 0.5 GFLOP of work, where im2col builds huge, narrow matrices
    /// (the Johnson network's 9x9 layers at 512x512: a 2.7 GB column matrix for 3 output
    /// channels; stylize 2.2 s -> 0.96 s). Not 3x3 stride-1 layers, where Winograd's 2.25x fewer
    /// multiplications win (VGG-16 forward 120 ms in-house, 250 ms in oneDNN's direct kernels),
    /// nor the small layers of classifiers at 224x224: each oneDNN call hands the cores to its
    /// OpenMP team, and the kernels after it ran slower (AlexNet and ResNet-18 4-15 ms slower
    /// per pass with every non-Winograd layer in oneDNN), nor the batched small-map paths of
    /// training (one GEMM over all images).
    static func preferred(_ d: Convolution.Dims, _ g: Conv2dGeometry, pass: Pass) -> Bool {
        let flops = 2 * d.n * d.cout * d.k * d.hwo
        return flops >= 500_000_000 && (d.kh * d.kw >= 25 || g.stride != (1, 1)) && !Winograd.applies(d, g)
            && !Convolution.batchesColumns(d, g) && !Convolution.batchesPointwise(d, g)
    }

    #if canImport(CFoveaDNNL)
    private struct Key: Hashable {
        let pass: Pass
        let x, w: [Int]
        let geometry: [Int]
        let bias: Bool
    }

    /// Plans by key; nil marks a convolution oneDNN has no implementation for.
    nonisolated(unsafe) private static var plans: [Key: OpaquePointer?] = [:]
    private static let lock = NSLock()

    private static func plan(_ pass: Pass, x: [Int], w: [Int], _ g: Conv2dGeometry, bias: Bool) -> OpaquePointer? {
        let p = g.padding
        let key = Key(pass: pass, x: x, w: w,
                      geometry: [g.stride.h, g.stride.w, g.dilation.h, g.dilation.w, p.top, p.bottom, p.left, p.right], bias: bias)
        return lock.withLock {
            if let made = plans[key] { return made }
            fovea_dnnl_set_threads(Int32(Parallel.threads))           // the pool's size, --threads included
            var shape = fovea_conv_shape(n: Int64(x[0]), cin: Int64(x[1]), h: Int64(x[2]), w: Int64(x[3]),
                                         cout: Int64(w[0]), kh: Int64(w[2]), kw: Int64(w[3]),
                                         stride_h: Int64(g.stride.h), stride_w: Int64(g.stride.w),
                                         dilation_h: Int64(g.dilation.h), dilation_w: Int64(g.dilation.w),
                                         pad_top: Int64(p.top), pad_bottom: Int64(p.bottom),
                                         pad_left: Int64(p.left), pad_right: Int64(p.right), has_bias: bias ? 1 : 0)
            let made = fovea_conv_create(&shape, fovea_conv_kind(rawValue: UInt32(pass.rawValue)), nil)
            plans[key] = .some(made)
            return made
        }
    }

    /// `body` with 64-byte-aligned scratch of the plan's size.
    private static func withScratch(_ plan: OpaquePointer, _ body: (UnsafeMutableRawPointer) -> Int32) {
        let floats = fovea_conv_scratch_bytes(plan) / 4 + 16
        let status = BufferPool.withScratch(floats) { p in
            let raw = UnsafeMutableRawPointer(p)
            return body(raw + (64 - Int(bitPattern: raw) % 64) % 64)
        }
        check(status == 0, "oneDNN convolution failed with status \(status)")
    }

    /// y = conv(x, w) + bias, or nil when oneDNN has no plan for it.
    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, _ d: Convolution.Dims) -> Tensor? {
        guard let plan = plan(.forward, x: x.shape, w: w.shape, g, bias: bias != nil) else { return nil }
        let y = Tensor(overwriting: [d.n, d.cout, d.ho, d.wo]) { _ in }
        withScratch(plan) { scratch in
            fovea_conv_forward(plan, x.storage.pointer, w.storage.pointer, bias?.storage.pointer, y.storage.pointer, scratch)
        }
        return y
    }

    /// dx of a convolution of an input of `inputShape` by w, from dy; nil without a plan.
    static func backwardData(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry) -> Tensor? {
        guard let plan = plan(.backwardData, x: inputShape, w: w.shape, g, bias: false) else { return nil }
        let dx = Tensor(overwriting: inputShape) { _ in }
        withScratch(plan) { scratch in
            fovea_conv_backward_data(plan, dy.storage.pointer, w.storage.pointer, dx.storage.pointer, scratch)
        }
        return dx
    }

    /// dw of a convolution of x by weights of `weightShape`, from dy; nil without a plan.
    static func backwardWeights(_ dy: Tensor, _ x: Tensor, weightShape: [Int], _ g: Conv2dGeometry) -> Tensor? {
        guard let plan = plan(.backwardWeights, x: x.shape, w: weightShape, g, bias: false) else { return nil }
        let dw = Tensor(overwriting: weightShape) { _ in }
        withScratch(plan) { scratch in
            fovea_conv_backward_weights(plan, x.storage.pointer, dy.storage.pointer, dw.storage.pointer, nil, scratch)
        }
        return dw
    }
    #else
    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, _ d: Convolution.Dims) -> Tensor? { nil }
    static func backwardData(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry) -> Tensor? { nil }
    static func backwardWeights(_ dy: Tensor, _ x: Tensor, weightShape: [Int], _ g: Conv2dGeometry) -> Tensor? { nil }
    #endif
}
