import Testing
import Foundation
@testable import FoveaTensor

/// oneDNN's convolutions (Linux) against the direct reference and the im2col + GEMM kernels,
/// for the geometries the in-house kernels hand it and some they never would.
struct OneDNNTests {
    /// (N, Cin, H, W, Cout, kernel, stride, padding top/bottom/left/right, dilation)
    static let cases: [(Int, Int, Int, Int, Int, Int, Int, (Int, Int, Int, Int), Int)] = [
        (1, 3, 21, 19, 5, 9, 1, (4, 4, 4, 4), 1),     // the Johnson network's 9x9 layers
        (2, 8, 17, 16, 6, 3, 2, (1, 1, 1, 1), 1),     // a strided 3x3, odd size
        (1, 4, 15, 15, 7, 5, 1, (2, 1, 0, 2), 2),     // asymmetric padding, dilation
        (1, 6, 12, 10, 3, 1, 1, (0, 0, 0, 0), 1),     // pointwise
        (1, 3, 33, 33, 8, 11, 4, (2, 2, 2, 2), 1),    // AlexNet's stem
    ]

    @Test(arguments: 0..<cases.count)
    func matchesTheInHouseKernels(_ index: Int) throws {
        #if canImport(CFoveaDNNL)
        let (n, cin, h, w, cout, k, s, p, dil) = Self.cases[index]
        let x = randomTensor([n, cin, h, w], seed: 11), wt = randomTensor([cout, cin, k, k], seed: 12)
        let b = randomTensor([cout], seed: 13)
        let g = Conv2dGeometry(kernel: (k, k), stride: (s, s), padding: (p.0, p.1, p.2, p.3), dilation: (dil, dil))
        let d = Convolution.dims(x.shape, wt.shape, g, groups: 1)
        let y = try #require(OneDNN.forward(x, wt, b, g, d))
        let reference = KernelReferenceTests.referenceConv(x, wt, b, stride: s, pad: (p.0, p.1, p.2, p.3), dilation: dil, groups: 1)
        #expect(y.shape == [n, cout, d.ho, d.wo])
        #expect(maxRelativeError(y.scalars, reference.map(Float.init)) < 1e-5)

        let dy = randomTensor(y.shape, seed: 14)
        let dx = try #require(OneDNN.backwardData(dy, wt, inputShape: x.shape, g))
        let dxGEMM = Convolution.backwardInputByGEMM(dy, wt, inputShape: x.shape, g, groups: 1)
        #expect(maxRelativeError(dx.scalars, dxGEMM.scalars) < 1e-5)
        let dw = try #require(OneDNN.backwardWeights(dy, x, weightShape: wt.shape, g))
        let dwGEMM = Convolution.backwardWeightByGEMM(dy, x, weightShape: wt.shape, g, groups: 1)
        #expect(maxRelativeError(dw.scalars, dwGEMM.scalars) < 1e-4)
        #endif
    }

    /// The default rule: oneDNN for large-kernel and strided layers with real work and for 3x3
    /// stride-1 layers with large maps, the batched GEMMs for training's small maps.
    @Test func takesTheLayersItWasMeasuredFasterOn() {
        func dims(_ x: [Int], _ w: [Int], _ g: Conv2dGeometry) -> (Convolution.Dims, Conv2dGeometry) {
            (Convolution.dims(x, w, g, groups: 1), g)
        }
        let johnson = dims([1, 3, 512, 512], [32, 3, 9, 9], Conv2dGeometry(kernel: (9, 9), padding: (4, 4, 4, 4)))
        let strided = dims([4, 32, 256, 256], [64, 32, 3, 3], Conv2dGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1, 1, 1)))
        let vgg = dims([1, 64, 512, 512], [64, 64, 3, 3], Conv2dGeometry(kernel: (3, 3), padding: (1, 1, 1, 1)))
        let stem224 = dims([1, 3, 224, 224], [64, 3, 7, 7], Conv2dGeometry(kernel: (7, 7), stride: (2, 2), padding: (3, 3, 3, 3)))
        let fashion = dims([128, 32, 14, 14], [64, 32, 5, 5], Conv2dGeometry(kernel: (5, 5), padding: (2, 2, 2, 2)))
        #expect(OneDNN.preferred(johnson.0, johnson.1, pass: .forward))
        #expect(OneDNN.preferred(strided.0, strided.1, pass: .backwardData))
        #expect(OneDNN.preferred(vgg.0, vgg.1, pass: .forward))
        #expect(!OneDNN.preferred(stem224.0, stem224.1, pass: .forward))
        #expect(!OneDNN.preferred(fashion.0, fashion.1, pass: .forward))
    }

    /// libdnnl is opened at the first plan, after OMP_WAIT_POLICY is set to PASSIVE (unless the
    /// environment had a policy), so its OpenMP threads sleep between calls instead of spinning
    /// on the cores Fovea's own workers run on.
    @Test func opensTheLibraryWithSleepingOpenMPThreads() throws {
        #if canImport(CFoveaDNNL)
        let policyBefore = ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"]
        let g = Conv2dGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1, 1, 1))
        let name = try #require(OneDNN.implementation(.forward, x: [1, 4, 9, 9], w: [5, 4, 3, 3], g))
        #expect(!name.isEmpty && name != "unknown")
        let policy = String(cString: try #require(getenv("OMP_WAIT_POLICY")))
        #expect(policy == (policyBefore ?? "PASSIVE"))
        #endif
    }
}

/// oneDNN's Winograd F(4x4, 3x3), which takes the large 3x3 stride-1 layers.
struct OneDNNWinogradTests {
    /// oneDNN's `avx512_core`: AVX-512 F, BW, VL and DQ.
    static var hasAVX512: Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy { info.contains(" \($0)") }
    }

    /// Forward, input and weight gradients against the direct reference and im2col + GEMM, with
    /// odd sizes and asymmetric padding. F(4x4, 3x3) transforms scale terms by up to 8 (A^T)
    /// and 1/24 (G), so its float32 error is several times F(2x2, 3x3)'s: about 5e-5 of the
    /// output's magnitude here, against 1e-6 for a wrong-by-one tap or a dropped channel's O(1).
    @Test(arguments: [(1, 1, 1, 1), (0, 2, 1, 0)])
    func matchesTheReference(_ p: (Int, Int, Int, Int)) throws {
        #if canImport(CFoveaDNNL)
        let x = randomTensor([1, 32, 61, 75], seed: 21), w = randomTensor([48, 32, 3, 3], seed: 22)
        let b = randomTensor([48], seed: 23)
        let g = Conv2dGeometry(kernel: (3, 3), padding: p)
        let d = Convolution.dims(x.shape, w.shape, g, groups: 1)
        // Its Winograd kernels need AVX-512 and symmetric padding; elsewhere it runs direct
        // convolution, slower than the in-house Winograd, which then keeps the layer.
        let winograd = Self.hasAVX512 && p.0 == p.1 && p.2 == p.3
        for pass in [OneDNN.Pass.forward, .backwardData, .backwardWeights] {
            let name = try #require(OneDNN.implementation(pass, x: x.shape, w: w.shape, g))
            #expect(name.contains("wino") == winograd, "\(pass): \(name)")
            #expect(OneDNN.applies(d, g, pass: pass) == winograd)
        }
        let y = try #require(OneDNN.forward(x, w, b, g, d))
        let reference = KernelReferenceTests.referenceConv(x, w, b, stride: 1, pad: p, dilation: 1, groups: 1)
        #expect(maxRelativeError(y.scalars, reference.map(Float.init)) < 3e-4)
        let dy = randomTensor(y.shape, seed: 24)
        let dx = try #require(OneDNN.backwardData(dy, w, inputShape: x.shape, g))
        #expect(maxRelativeError(dx.scalars, Convolution.backwardInputByGEMM(dy, w, inputShape: x.shape, g, groups: 1).scalars) < 3e-4)
        let dw = try #require(OneDNN.backwardWeights(dy, x, weightShape: w.shape, g))
        #expect(maxRelativeError(dw.scalars, Convolution.backwardWeightByGEMM(dy, x, weightShape: w.shape, g, groups: 1).scalars) < 3e-4)
        // ResNet's 14x14 stage stays in-house.
        let small = Convolution.dims([1, 256, 14, 14], [256, 256, 3, 3], g, groups: 1)
        #expect(!OneDNN.preferred(small, g, pass: .forward))
        #endif
    }
}

/// Inside a frozen block oneDNN runs forward passes (and the input gradients of 3x3 stride-1
/// layers, as forward passes of dy with flipped, transposed weights) with its weights prepared
/// once: the results must match the in-house kernels, and a weight that changes between
/// blocks must not keep its old copy.
struct OneDNNPreparedWeightsTests {
    /// (Cin, size, Cout, stride, bias): 3x3 layers on a 7x7 map (ResNet's last stage; without a
    /// bias and with Cin = Cout the adjoint runs on the forward pass's own plan, with other
    /// filters) and two strided ones.
    static let cases: [(Int, Int, Int, Int, Bool)] = [(256, 7, 192, 1, true), (192, 7, 192, 1, false), (32, 56, 64, 2, true),
                                                      (128, 28, 128, 2, false)]

    @Test(arguments: 0..<cases.count)
    func matchesTheInHouseKernels(_ index: Int) throws {
        #if canImport(CFoveaDNNL)
        let (cin, size, cout, stride, hasBias) = Self.cases[index]
        let x = randomTensor([1, cin, size, size], seed: 31), w = randomTensor([cout, cin, 3, 3], seed: 32)
        let b = hasBias ? randomTensor([cout], seed: 33) : nil
        let g = Conv2dGeometry(kernel: (3, 3), stride: (stride, stride), padding: (1, 1, 1, 1))
        let d = Convolution.dims(x.shape, w.shape, g, groups: 1)
        let dy = randomTensor([1, cout, d.ho, d.wo], seed: 34)
        let (y, dx) = ConvolutionPath.with(.inHouse) {
            (Convolution.forward(x, w, b, g, groups: 1), Convolution.backwardInput(dy, w, inputShape: x.shape, g, groups: 1))
        }
        #expect(!OneDNN.applies(d, g, pass: .forward) || stride == 2)
        try FrozenWeights.run {
            #expect(OneDNN.applies(d, g, pass: .forward))
            for _ in 0..<2 {   // the second pass reuses the prepared copies
                let frozenY = Convolution.forward(x, w, b, g, groups: 1)
                let frozenDx = Convolution.backwardInput(dy, w, inputShape: x.shape, g, groups: 1)
                #expect(maxRelativeError(frozenY.scalars, y.scalars) < 3e-4)
                #expect(maxRelativeError(frozenDx.scalars, dx.scalars) < 3e-4)
            }
            if stride == 1 {
                _ = try #require(OneDNN.backwardDataAsForward(dy, w, inputShape: x.shape, g))
            }
        }
        // Larger 3x3 stride-1 maps stay with the in-house Winograd, whose tiles oneDNN's
        // direct kernels do not beat (and its Winograd's copies would outgrow the weights).
        let larger = Conv2dGeometry(kernel: (3, 3), padding: (1, 1, 1, 1))
        FrozenWeights.run {
            #expect(!OneDNN.applies(Convolution.dims([1, 64, 28, 28], [64, 64, 3, 3], larger, groups: 1), larger, pass: .forward))
        }
        // New weights in a new block: new prepared copies.
        let w2 = randomTensor(w.shape, seed: 35)
        let y2 = ConvolutionPath.with(.inHouse) { Convolution.forward(x, w2, b, g, groups: 1) }
        let frozenY2 = FrozenWeights.run { Convolution.forward(x, w2, b, g, groups: 1) }
        #expect(maxRelativeError(frozenY2.scalars, y2.scalars) < 3e-4)
        #expect(maxRelativeError(y2.scalars, y.scalars) > 0.1)
        #endif
    }
}
