#if canImport(CFoveaDNNL)
import CFoveaDNNL
#endif
import Foundation

/// Dense convolutions (groups = 1) through oneDNN (Debian `libdnnl`, `fovea_dnnl.h`): forward,
/// input gradient and weight gradient of NCHW tensors, each in the layout oneDNN picks for the
/// machine (AVX-512 blocked layouts where the CPU has it). Plans are made once per (pass, shape, geometry) and hold no data; their
/// scratch (converted operands, oneDNN's scratchpad) is one buffer kept for every call
/// (``withScratch(_:_:)``).
///
/// `FOVEA_CONV=blas` turns it off (the im2col/Winograd kernels, and the only path on Apple);
/// `FOVEA_CONV=dnnl` sends every dense convolution it can run to it. By default it takes the
/// convolutions where it was measured faster (``preferred(_:_:pass:)``). Parts of
/// ``Parallel/concurrently(_:_:)`` keep the in-house kernels: oneDNN would start a team of
/// threads inside each.
enum OneDNN {
    enum Pass: Int, Hashable { case forward = 0, backwardData = 1, backwardWeights = 2 }

    enum Mode: Sendable { case off, preferred, everywhere }

    /// The mode ``ConvolutionPath/with(_:_:)`` sets for its body, else the environment's. Task-local,
    /// so concurrent callers (tests running in parallel) each keep their own.
    @TaskLocal static var chosen: Mode?
    static var mode: Mode { chosen ?? environmentMode }

    static let environmentMode: Mode = {
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
        if mode == .everywhere { return true }
        if pass == .forward, FrozenWeights.isActive, preferredWithPreparedWeights(d, g) { return true }
        guard preferred(d, g, pass: pass) else { return false }
        // Its direct kernels lose to the in-house Winograd: only its own Winograd wins there
        // (AVX-512 CPUs, symmetric padding).
        return !Winograd.applies(d, g)
            || implementation(pass, x: [d.n, d.cin, d.h, d.w], w: [d.cout, d.cin, 3, 3], g)?.contains("wino") == true
    }

    /// Where oneDNN beat the in-house kernels on this machine class (2 cores, AVX-512; `fovea
    /// bench --convolutions 224` and `512`, `bench` and `bench-style` with FOVEA_CONV=blas and =dnnl):
    /// - 3x3 stride-1 layers with at least 32x32 outputs per batch, where oneDNN has its AVX-512
    ///   Winograd for them (``applies(_:_:pass:)`` asks): its F(4x4, 3x3) does 4x fewer
    ///   multiplications than direct convolution where the in-house
    ///   F(2x2, 3x3) does 2.25x fewer. VGG-16's 224x224 to 56x56 layers ran 1.4-2.2x faster in
    ///   every pass (conv1_2 forward 22.2 -> 11.3 ms, input gradient 49.6 -> 24.4 ms, weight
    ///   gradient 46.0 -> 23.3 ms; at 512x512, 1.2-2.1x down to 32x32); about even at 28x28;
    ///   slower at 14x14, where its per-call filter transform outweighs the products and the
    ///   in-house kernel reuses frozen filters' transforms.
    /// - Large kernels and strided convolutions with at least 0.5 GFLOP of work, where im2col
    ///   builds huge, narrow matrices (the Johnson network's 9x9 layers at 512x512: a 2.7 GB
    ///   column matrix for 3 output channels; stylize 2.2 s -> 0.96 s).
    /// Not the small layers of classifiers at 224x224, where its direct kernels and the layout
    /// conversions around each call lose (`fovea bench --paths`, with its OpenMP threads
    /// sleeping between calls: ResNet-18 forward 21 ms in-house, 62 ms with every layer in
    /// oneDNN; AlexNet 16.5 against 18.7 ms), nor the batched small-map paths of training (one
    /// GEMM over all images; a fashion-cnn epoch with every layer in oneDNN was slower too).
    static func preferred(_ d: Convolution.Dims, _ g: Conv2dGeometry, pass: Pass) -> Bool {
        if Winograd.applies(d, g) { return d.n * d.hwo >= 32 * 32 }
        let flops = 2 * d.n * d.cout * d.k * d.hwo
        return flops >= 500_000_000 && (d.kh * d.kw >= 25 || g.stride != (1, 1))
            && !Convolution.batchesColumns(d, g) && !Convolution.batchesPointwise(d, g)
    }

    /// Where oneDNN beats the in-house kernels once its copy of the weights in its own blocked
    /// layout is made once per frozen block (``FrozenWeights``) rather than on every call: its
    /// direct (brgconv) inference kernels on every strided or larger-than-1x1 layer with 20
    /// MFLOP or more, and on 3x3 stride-1 layers with maps of 7x7 or smaller. Measured per
    /// layer, 1 x 224 x 224 input, 2 threads, with the NCHW conversions around each call,
    /// against the in-house kernels with their Winograd tiles kept: ResNet-18's stem 1.2
    /// against 2.1 ms, its stride-2 3x3 layers 0.59-0.63 against 0.84-1.0 ms, its 7x7 3x3
    /// layers 0.95 against 1.9 ms.
    ///
    /// The copy may be no larger than the weights: its Winograd kernels, whose transformed
    /// filters are 16/9 to 4 times the weights, were faster still on the larger 3x3 stride-1
    /// maps (0.50-0.64 against 0.80-1.0 ms at 14 to 56 pixels; VGG-16 forward 96 -> 78 ms),
    /// but kept a forward and an adjoint copy of each layer: VGG-16's passes peaked at 1,299
    /// MiB instead of 881 (PyTorch: 872-898). Direct kernels there lose to the in-house
    /// Winograd (1.06-1.13 against 0.80-1.0 ms). A layer taken here keeps no in-house tiles;
    /// with the copies ResNet-18's passes peak at 236 MiB (212 before; PyTorch 332).
    ///
    /// Pointwise stride-1 layers stay in-house: converting the activations each way costs what
    /// oneDNN gains (ResNet-50's 1x1 layers: 0.57-0.86 against 0.67-1.0 ms). Input gradients
    /// go to it only as forward passes (``backwardDataAsForward(_:_:inputShape:_:)``): its
    /// backward-data kernels lost even with prepared weights (ResNet-18 forward+backward 39 ms
    /// in-house, 41-52 ms with its strided layers' input gradients in oneDNN).
    /// Whole models, medians of 7 (`fovea bench`): ResNet-18 forward 20.0 -> 17.1 ms,
    /// forward+backward 39.5 -> 36.7 ms; ResNet-50 51 -> 48.8 / 107 -> 104.8 ms.
    static func preferredWithPreparedWeights(_ d: Convolution.Dims, _ g: Conv2dGeometry) -> Bool {
        let flops = 2 * d.n * d.cout * d.k * d.hwo
        let largeStrideOne3x3 = g.stride == (1, 1) && d.kh * d.kw == 9 && d.hwo > 7 * 7
        guard flops >= 20_000_000, d.kh * d.kw > 1 || g.stride != (1, 1), !largeStrideOne3x3,
              !Convolution.batchesColumns(d, g) else { return false }
        #if canImport(CFoveaDNNL)
        // Last, as it makes (JIT-compiles) a plan on first sight of the shape.
        let x = [d.n, d.cin, d.h, d.w], w = [d.cout, d.cin, d.kh, d.kw]
        guard let plan = plan(.forward, x: x, w: w, g, bias: false, prepared: true) else { return false }
        return fovea_conv_prepared_weights_bytes(plan) <= 4 * d.cout * d.k + 4096
        #else
        return false
        #endif
    }

    #if canImport(CFoveaDNNL)
    private struct Key: Hashable {
        let pass: Pass
        let x, w: [Int]
        let geometry: [Int]
        let bias: Bool
        let inference: Bool
    }

    /// Plans by key; nil marks a convolution oneDNN has no implementation for.
    nonisolated(unsafe) private static var plans: [Key: OpaquePointer?] = [:]
    private static let lock = NSLock()

    /// `prepared`: a forward plan for oneDNN's inference kernels, whose weights are prepared
    /// once per frozen block (``preparedWeights(_:_:flipped:)``).
    private static func plan(_ pass: Pass, x: [Int], w: [Int], _ g: Conv2dGeometry, bias: Bool, prepared: Bool = false) -> OpaquePointer? {
        let p = g.padding
        let inference = pass == .forward && prepared
        let key = Key(pass: pass, x: x, w: w,
                      geometry: [g.stride.h, g.stride.w, g.dilation.h, g.dilation.w, p.top, p.bottom, p.left, p.right], bias: bias,
                      inference: inference)
        return lock.withLock {
            if let made = plans[key] { return made }
            fovea_dnnl_set_threads(Int32(Parallel.threads))           // the pool's size, --threads included
            var shape = fovea_conv_shape(n: Int64(x[0]), cin: Int64(x[1]), h: Int64(x[2]), w: Int64(x[3]),
                                         cout: Int64(w[0]), kh: Int64(w[2]), kw: Int64(w[3]),
                                         stride_h: Int64(g.stride.h), stride_w: Int64(g.stride.w),
                                         dilation_h: Int64(g.dilation.h), dilation_w: Int64(g.dilation.w),
                                         pad_top: Int64(p.top), pad_bottom: Int64(p.bottom),
                                         pad_left: Int64(p.left), pad_right: Int64(p.right), has_bias: bias ? 1 : 0,
                                         winograd: !inference && usesWinograd(w: w, g) ? 1 : 0, inference: inference ? 1 : 0)
            let kind = fovea_conv_kind(rawValue: UInt32(pass.rawValue))
            var made = shape.winograd == 1 ? fovea_conv_create(&shape, kind, nil) : nil
            if made == nil {
                shape.winograd = 0
                made = fovea_conv_create(&shape, kind, nil)
            }
            plans[key] = .some(made)
            return made
        }
    }

    /// Whether a plan asks for oneDNN's Winograd algorithm (3x3 stride-1 layers; it falls back
    /// to direct convolution where oneDNN has no Winograd kernel for the shape or the CPU).
    private static func usesWinograd(w: [Int], _ g: Conv2dGeometry) -> Bool {
        w[2] == 3 && w[3] == 3 && g.stride == (1, 1) && g.dilation == (1, 1)
    }

    /// One scratch buffer for every call that needs at most `arenaLimit` bytes, grown to the
    /// largest such plan's size and kept (64-byte aligned). Each layer's plan needs a different
    /// size, up to 112 MiB in a VGG-16 forward pass at 224x224; taken from the pool, those
    /// sizes were given back and made afresh on every pass. Outside the pool's count, like the
    /// weights; never shrinks, hence the limit: larger scratch (batches of 8 at 224x224) comes
    /// from the pool. (VGG-16 saliency with faithfulness scores, which runs such batches: with
    /// no limit 1,514 MiB peak RSS and 12.6 s, with no arena 1,206 MiB and 21.5 s.)
    nonisolated(unsafe) private static var arena: (pointer: UnsafeMutableRawPointer?, bytes: Int) = (nil, 0)
    private static let arenaLock = NSLock()
    private static let arenaLimit = 128 << 20

    /// `body` with 64-byte-aligned scratch of the plan's size: the shared buffer, or pool
    /// scratch when it is larger than the limit or another call holds the buffer (tests
    /// running in parallel).
    private static func withScratch(_ plan: OpaquePointer, prepared: Bool = false, _ body: (UnsafeMutableRawPointer) -> Int32) {
        let bytes = fovea_conv_scratch_bytes(plan, prepared ? 1 : 0)
        let status: Int32
        if bytes <= arenaLimit, arenaLock.try() {
            defer { arenaLock.unlock() }
            if arena.bytes < bytes {
                free(arena.pointer)
                arena = (UnsafeMutableRawPointer(BufferPool.allocateLarge((bytes + 3) / 4)), bytes)
            }
            status = body(arena.pointer!)
        } else {
            status = BufferPool.withScratch(bytes / 4 + 16) { body(aligned($0)) }
        }
        check(status == 0, "oneDNN convolution failed with status \(status)")
    }

    /// The plan's copy of `w` in its own layout, from the frozen-weights cache (made there on
    /// first use); nil outside ``FrozenWeights/run(_:)`` or where the plan takes OIHW as it is.
    /// `flipped`: the plan convolves with w's adjoint filters, made by that function.
    private static func preparedWeights(_ plan: OpaquePointer, _ w: Tensor, flipped: (() -> Tensor)? = nil) -> UnsafeMutableRawPointer? {
        guard let cache = FrozenWeights.cache else { return nil }
        let bytes = fovea_conv_prepared_weights_bytes(plan)
        guard bytes > 0 else { return nil }
        let copy = cache.tiles(for: w, plan: Int(bitPattern: plan), flipped: flipped != nil) {
            let copy = Tensor(overwriting: [bytes / 4 + 16]) { _ in }
            let source = flipped?() ?? w
            let status = fovea_conv_prepare_weights(plan, source.storage.pointer, aligned(copy.storage.pointer))
            check(status == 0, "oneDNN weight conversion failed with status \(status)")
            return copy
        }
        return aligned(copy.storage.pointer)
    }

    private static func aligned(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutableRawPointer {
        let raw = UnsafeMutableRawPointer(p)
        return raw + (64 - Int(bitPattern: raw) % 64) % 64
    }

    /// oneDNN's name for the kernel that runs `pass` of this convolution, or nil without a plan.
    static func implementation(_ pass: Pass, x: [Int], w: [Int], _ g: Conv2dGeometry) -> String? {
        plan(pass, x: x, w: w, g, bias: false).map { String(cString: fovea_conv_implementation($0)) }
    }

    /// y = conv(x, w) + bias, or nil when oneDNN has no plan for it.
    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, _ d: Convolution.Dims) -> Tensor? {
        let prepare = FrozenWeights.isActive && preferredWithPreparedWeights(d, g)
        guard let plan = plan(.forward, x: x.shape, w: w.shape, g, bias: bias != nil, prepared: prepare) else { return nil }
        let y = Tensor(overwriting: [d.n, d.cout, d.ho, d.wo]) { _ in }
        let prepared = prepare ? preparedWeights(plan, w) : nil
        withScratch(plan, prepared: prepared != nil) { scratch in
            fovea_conv_forward(plan, x.storage.pointer, prepared.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(w.storage.pointer), prepared != nil ? 1 : 0,
                               bias?.storage.pointer, y.storage.pointer, scratch)
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

    /// The geometry of a 3x3 stride-1 convolution's adjoint: padding 2 - p on each side.
    private static func adjointGeometry(_ g: Conv2dGeometry) -> Conv2dGeometry {
        let p = g.padding
        return Conv2dGeometry(kernel: (3, 3), padding: (2 - p.top, 2 - p.bottom, 2 - p.left, 2 - p.right))
    }

    /// Whether the input gradient of this 3x3 stride-1 convolution (``Winograd/applies(_:_:)``)
    /// runs here (``backwardDataAsForward(_:_:inputShape:_:)``), so that its forward pass need
    /// not keep the in-house Winograd filter tiles.
    static func takesInputGradient(_ d: Convolution.Dims, _ g: Conv2dGeometry) -> Bool {
        guard mode == .preferred, FrozenWeights.isActive, !Parallel.isSerial, d.groups == 1 else { return false }
        let adjoint = adjointGeometry(g)
        let a = Convolution.dims([d.n, d.cout, d.ho, d.wo], [d.cin, d.cout, 3, 3], adjoint, groups: 1)
        return a.ho == d.h && a.wo == d.w && preferredWithPreparedWeights(a, adjoint)
    }

    /// dx of a 3x3 stride-1 convolution as a forward convolution of dy, inside
    /// ``FrozenWeights/run(_:)``: dx = conv(dy, w'), w'[i, o, a, b] = w[o, i, 2 - a, 2 - b],
    /// padding 2 - p on each side, so oneDNN's inference kernels compute it with w' prepared
    /// once. nil outside a frozen block, where
    /// ``preferredWithPreparedWeights(_:_:)`` declines the adjoint's shape, or without a plan.
    static func backwardDataAsForward(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry) -> Tensor? {
        let (cout, cin) = (w.shape[0], w.shape[1])
        let adjoint = adjointGeometry(g)
        guard takesInputGradient(Convolution.dims(inputShape, w.shape, g, groups: 1), g),
              let plan = plan(.forward, x: dy.shape, w: [cin, cout, 3, 3], adjoint, bias: false, prepared: true) else { return nil }
        let prepared = preparedWeights(plan, w, flipped: {
            let pw = w.storage.pointer
            return Tensor(overwriting: [cin, cout, 3, 3]) { flipped in
                for i in 0..<cin {
                    for o in 0..<cout {
                        for t in 0..<9 { flipped[(i * cout + o) * 9 + t] = pw[(o * cin + i) * 9 + 8 - t] }
                    }
                }
            }
        })
        guard let prepared else { return nil }
        let dx = Tensor(overwriting: inputShape) { _ in }
        withScratch(plan, prepared: true) { scratch in
            fovea_conv_forward(plan, dy.storage.pointer, UnsafeRawPointer(prepared), 1, nil, dx.storage.pointer, scratch)
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
    static func implementation(_ pass: Pass, x: [Int], w: [Int], _ g: Conv2dGeometry) -> String? { nil }
    static func forward(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ g: Conv2dGeometry, _ d: Convolution.Dims) -> Tensor? { nil }
    static func backwardData(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry) -> Tensor? { nil }
    static func backwardWeights(_ dy: Tensor, _ x: Tensor, weightShape: [Int], _ g: Conv2dGeometry) -> Tensor? { nil }
    static func backwardDataAsForward(_ dy: Tensor, _ w: Tensor, inputShape: [Int], _ g: Conv2dGeometry) -> Tensor? { nil }
    static func takesInputGradient(_ d: Convolution.Dims, _ g: Conv2dGeometry) -> Bool { false }
    #endif
}

/// Which kernels run dense convolutions, for benchmarks that time one layer both ways.
public enum ConvolutionPath: String, CaseIterable, Sendable {
    /// Winograd F(2x2, 3x3), im2col + GEMM and the depthwise kernels.
    case inHouse = "in-house"
    /// oneDNN wherever it has an implementation (Winograd F(4x4, 3x3) for 3x3 stride-1 layers).
    case oneDNN = "oneDNN"
    /// The default: each layer where it was measured faster.
    case preferred

    /// `body` with every dense convolution it calls on `path` (those on its own task or thread).
    public static func with<R>(_ path: ConvolutionPath, _ body: () throws -> R) rethrows -> R {
        let mode: OneDNN.Mode = switch path { case .inHouse: .off; case .oneDNN: .everywhere; case .preferred: .preferred }
        return try OneDNN.$chosen.withValue(mode, operation: body)
    }
}
