import Foundation
import Testing
@testable import Fovea
import _FoveaTestSupport
import FoveaModels
import FoveaNN
@testable import FoveaTensor

/// Layer names, state-dict keys and shapes of the built-in architectures.
@Suite struct ArchitectureTests {
    func parameterCount(_ m: Module) -> Int { m.namedParameters().reduce(0) { $0 + $1.tensor.count } }

    @Test func efficientNetLayerNamesAndShapes() {
        let model = EfficientNetLite0()
        let shapes = Dictionary(uniqueKeysWithValues: model.layerShapes(input: [1, 3, 224, 224]).map { ($0.path, $0.shape) })
        #expect(shapes["_conv_stem"] == [1, 32, 112, 112])
        #expect(shapes["_blocks.0"] == [1, 16, 112, 112])
        #expect(shapes["_blocks.10"] == [1, 112, 14, 14])
        #expect(shapes["_blocks.15"] == [1, 320, 7, 7])
        #expect(shapes["_blocks.15._depthwise_conv"] == [1, 1152, 7, 7])
        #expect(shapes["_conv_head"] == [1, 1280, 7, 7])
        #expect(shapes["_bn1"] == [1, 1280, 7, 7])
        #expect(shapes["_fc"] == [1, 1000])
        let keys = Set(model.stateDict().map(\.key))
        #expect(keys.contains("_blocks.1._expand_conv.weight"))
        #expect(!keys.contains("_blocks.0._expand_conv.weight"))     // expansion 1: no expand conv
        #expect(keys.contains("_bn0.num_batches_tracked"))
        #expect(parameterCount(model) == 4_652_008)
    }

    @Test func vgg16MatchesTorchvisionLayout() {
        let model = VGG("vgg16")!
        #expect(parameterCount(model) == 138_357_544)
        #expect(model.module(at: "features.28") is Conv2d)
        #expect(model.module(at: "features.30") is MaxPool2d)
        #expect(model.module(at: "classifier.6") is Linear)
        #expect(VGG("vgg16_bn")!.module(at: "features.1") is BatchNorm2d)
        #expect(parameterCount(VGG("vgg19")!) == 143_667_240)
    }

    @Test func resNetsMatchTorchvisionLayout() {
        let r18 = ResNet("resnet18")!
        #expect(parameterCount(r18) == 11_689_512)
        #expect(r18.module(at: "layer4.1") is BasicBlock)
        #expect(r18.module(at: "layer2.0.downsample.0") is Conv2d)
        let shapes = Dictionary(uniqueKeysWithValues: r18.layerShapes(input: [1, 3, 224, 224]).map { ($0.path, $0.shape) })
        #expect(shapes["layer4.1"] == [1, 512, 7, 7])
        #expect(shapes["maxpool"] == [1, 64, 56, 56])
        let r50 = ResNet("resnet50")!
        #expect(parameterCount(r50) == 25_557_032)
        #expect(r50.module(at: "layer3.5.conv3") is Conv2d)
    }

    @Test func strictLoadingReportsEveryProblem() throws {
        let model = ResNet("resnet18")!
        var state = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.tensor) })
        state["fc.bias"] = nil
        state["fc.weight"] = Tensor(zeros: [10, 512])
        state["head.extra"] = Tensor(zeros: [1])
        let error = try #require(throws: StateDictError.self) { try model.loadStateDict(state) }
        #expect(error.missing == ["fc.bias"])
        #expect(error.unexpected == ["head.extra"])
        #expect(error.mismatched.map(\.key) == ["fc.weight"])
        #expect(error.description.contains("fc.weight expects [1000, 512] but file has [10, 512]"))
    }

    @Test func loadingCopiesValuesAndModesPropagate() throws {
        let a = ResNet("resnet18")!, b = ResNet("resnet18")!
        let state = Dictionary(uniqueKeysWithValues: a.stateDict().map { ($0.key, $0.tensor) })
        try b.loadStateDict(state)
        #expect(b.module(at: "fc")!.parameters[0].tensor.scalars == a.module(at: "fc")!.parameters[0].tensor.scalars)
        b.train()
        #expect(b.module(at: "layer1.0.bn1")!.isTraining)
        b.eval()
        #expect(!b.module(at: "layer1.0.bn1")!.isTraining)
    }

    @Test func unknownLayerErrorNamesTheLayer() {
        let model = EfficientNetLite0()
        let error = #expect(throws: UnknownLayerError.self) { try LayerCapture(model, layers: ["_blocks.99"]) }
        #expect(error?.description.contains("unknown layer '_blocks.99'") == true)
        #expect(error?.description.contains("_blocks.15") == true)
    }

    /// A batch norm and the ReLU after it run as one op only where nothing can tell: the output
    /// and input gradient are the same either way, and a hook on the batch norm (which turns the
    /// fusion off) still sees its own pre-activation output.
    @Test func batchNormActivationFusionIsInvisible() throws {
        let bn = BatchNorm2d(4, eps: 1e-3)
        let model = Sequential([Conv2d(3, 4, kernel: 3, padding: .symmetric(1), bias: false), bn, Activation(.relu)])
        var g = SeededGenerator(seed: 41)
        for t in [bn.weight, bn.bias, bn.runningMean] { _ = t.buffer.update(from: Tensor.uniform([4], in: -1...1, using: &g).scalars) }
        model.eval()
        model.setRequiresGrad(false)
        let x = Tensor.uniform([2, 3, 9, 11], in: -1...1, using: &g)
        let (fused, fusedGrad) = Self.outputAndInputGradient(model, x)
        let capture = try LayerCapture(model, layers: ["1"], gradients: false)
        let (plain, plainGrad) = Self.outputAndInputGradient(model, x)
        #expect(fused.node?.primitive.name == "batchNormClamp" && plain.node?.primitive.name == "relu")
        #expect(fused.scalars == plain.scalars)
        #expect(fusedGrad.scalars == plainGrad.scalars)
        #expect(capture.outputs["1"]!.scalars.contains { $0 < 0 })              // before the ReLU
        #expect(fused.scalars.allSatisfy { $0 >= 0 } && fused.scalars.contains { $0 > 0 })
    }

    /// A residual block's last batch norm, the shortcut's add and the ReLU run as one op
    /// (batchNormAddClamp), and the stem's batch norm, ReLU and max pool too
    /// (batchNormClampMaxPool), only where nothing can tell: ResNet-18 and ResNet-50 give the
    /// same logits and input gradient, bit for bit, as with hooks on every block's last batch
    /// norm and on the max pool (which keep the steps apart), and such a hook sees the batch
    /// norm's own output.
    @Test(arguments: ["resnet18", "resnet50"])
    func residualTailFusionIsInvisible(name: String) throws {
        let model = try #require(ResNet(name, classes: 10))
        var g = SeededGenerator(seed: 47)
        for (path, m) in model.namedModules() {
            guard let bn = m as? BatchNorm2d, path.hasSuffix("bn2") || path.hasSuffix("bn3") || path.hasSuffix("downsample.1") else { continue }
            _ = bn.weight.buffer.update(from: Tensor.uniform(bn.weight.shape, in: 0.2...0.6, using: &g).scalars)
            _ = bn.bias.buffer.update(from: Tensor.uniform(bn.bias.shape, in: -0.3...0.3, using: &g).scalars)
        }
        model.eval()
        model.setRequiresGrad(false)
        let x = Tensor.uniform([1, 3, 40, 40], in: -1...1, using: &g)
        let tails = model.namedModules().map(\.path).filter { $0.hasSuffix(name == "resnet18" ? ".bn2" : ".bn3") }
        let block = try #require(model.module(at: String(tails.last!.dropLast(4))))
        let h = Tensor.uniform([1, name == "resnet18" ? 512 : 2048, 2, 2], in: -1...1, using: &g)
        h.requiresGrad = true
        let (fused, fusedGrad) = Self.outputAndInputGradient(model, x)
        #expect(block(h).node?.primitive.name == "batchNormAddClamp")
        let capture = try LayerCapture(model, layers: tails + ["maxpool"], gradients: false)
        let (plain, plainGrad) = Self.outputAndInputGradient(model, x)
        #expect(withExtendedLifetime(capture) { block(h).node?.primitive.name } == "relu")
        #expect(fused.scalars == plain.scalars && fusedGrad.scalars == plainGrad.scalars)
        #expect(fusedGrad.scalars.contains { $0 != 0 })
        #expect(capture.outputs[tails.last!]!.scalars.contains { $0 < 0 })        // before the add and ReLU
    }

    /// A convolution and the ReLU or ReLU6 after it run as one op (clamped in place) only where
    /// nothing can tell: the same output, input gradient and weight and bias gradients, bit for
    /// bit, as with a hook on each convolution (which keeps them separate steps); a hook on an
    /// activation keeps the fusion and sees the clamped output. VGG16Features runs its layers
    /// the same way.
    @Test func convolutionActivationFusionIsInvisible() throws {
        let (first, second) = (Conv2d(3, 4, kernel: 3, padding: .symmetric(1)), Conv2d(4, 5, kernel: 3, stride: 2))
        let model = Sequential([first, Activation(.relu), second, Activation(.relu6)])
        var g = SeededGenerator(seed: 43)
        _ = second.weight.buffer.update(from: Tensor.uniform(second.weight.shape, in: -2...2, using: &g).scalars)
        let x = Tensor.uniform([2, 3, 12, 10], in: -3...3, using: &g)
        func run() -> (y: Tensor, grads: [[Float]]) {
            for (_, p) in model.namedParameters() { p.grad = nil }
            let (y, dx) = Self.outputAndInputGradient(model, x)
            return (y, [dx.scalars] + model.namedParameters().map { $0.tensor.grad!.scalars })
        }
        let fused = try { () throws -> (y: Tensor, grads: [[Float]], captured: Tensor) in
            let capture = try LayerCapture(model, layers: ["3"], gradients: false)
            let result = run()
            return (result.y, result.grads, capture.outputs["3"]!)
        }()
        let plain = try { () throws -> (y: Tensor, grads: [[Float]]) in
            let capture = try LayerCapture(model, layers: ["0", "2"], gradients: false)
            defer { withExtendedLifetime(capture) {} }
            return run()
        }()
        #expect(fused.y.node?.primitive.name == "conv2dClamp" && plain.y.node?.primitive.name == "relu6")
        #expect(fused.y.scalars == plain.y.scalars && fused.grads == plain.grads && fused.grads.count == 5)
        #expect(fused.y.scalars.contains(6) && fused.y.scalars.contains(0))
        #expect(fused.captured.scalars == plain.y.scalars)
        let vgg = VGG16Features()
        #expect(vgg(Tensor.uniform([1, 3, 32, 32], in: -1...1, using: &g)).node?.primitive.name == "maxPool2d")
        let relu = try vgg.outputs(of: ["conv1_1"], for: Tensor.uniform([1, 3, 8, 8], in: -1...1, using: &g))["conv1_1"]!
        #expect(relu.node?.primitive.name == "conv2d" && relu.scalars.contains { $0 < 0 })      // hooked: before its ReLU
    }

    /// A depthwise convolution, its batch norm and ReLU6 run as one op (the batch norm and clamp
    /// applied as the kernel writes each row) only where nothing can tell: bit-identical output
    /// and input gradient, at strides 1 and 2 and with a bias; hooks turn it off, and the one on
    /// the convolution sees the convolution's own output.
    @Test(arguments: [1, 2])
    func depthwiseBatchNormActivationFusionIsInvisible(_ stride: Int) throws {
        let conv = Conv2d(6, 6, kernel: 5, stride: stride, padding: .tfSame, groups: 6, bias: true)
        let bn = BatchNorm2d(6, eps: 1e-3)
        let model = Sequential([conv, bn, Activation(.relu6)])
        var g = SeededGenerator(seed: 42)
        for t in [bn.weight, bn.bias, bn.runningMean] { _ = t.buffer.update(from: Tensor.uniform([6], in: -1...1, using: &g).scalars) }
        _ = conv.weight.buffer.update(from: Tensor.uniform(conv.weight.shape, in: -2...2, using: &g).scalars)
        model.eval()
        model.setRequiresGrad(false)
        let x = Tensor.uniform([2, 6, 19, 23], in: -3...3, using: &g)
        let (fused, fusedGrad) = Self.outputAndInputGradient(model, x)
        let capture = try LayerCapture(model, layers: ["0", "1"], gradients: false)     // no fusion at all
        let (plain, plainGrad) = Self.outputAndInputGradient(model, x)
        #expect(fused.node?.primitive.name == "conv2dBatchNormClamp" && plain.node?.primitive.name == "relu6")
        #expect(fused.scalars == plain.scalars)
        #expect(fusedGrad.scalars == plainGrad.scalars)
        #expect(capture.outputs["0"]!.scalars.contains { $0 < 0 || $0 > 6 })     // before batch norm and clamp
        #expect(fused.scalars.contains { $0 == 6 } && fused.scalars.contains { $0 == 0 } && fused.scalars.contains { $0 > 0 && $0 < 6 })
    }

    /// In EfficientNet's blocks the expand layer's batch norm and ReLU6 run inside the depthwise
    /// kernel only where nothing can tell: the same logits and input gradient, bit for bit, as
    /// with a hook on every `_bn0` (which keeps each one a separate step).
    @Test func expandBatchNormFusionIsInvisible() throws {
        let model = EfficientNetLite0()
        var g = SeededGenerator(seed: 44)
        for entry in model.stateDict() where entry.key.contains("_bn") {
            let range: ClosedRange<Float> = switch entry.key.split(separator: ".").last! {
            case "weight", "running_var": 0.5...1.5
            case "bias": -0.5...1
            default: -0.2...0.2
            }
            _ = entry.tensor.buffer.update(from: Tensor.uniform(entry.tensor.shape, in: range, using: &g).scalars)
        }
        model.eval()
        model.setRequiresGrad(false)
        let x = Tensor.uniform([1, 3, 64, 64], in: -2...2, using: &g)
        let (fused, fusedGrad) = Self.outputAndInputGradient(model, x)
        let expands = model.namedModules().map(\.path).filter { $0.hasSuffix("._bn0") }
        #expect(expands.count == 15)
        let capture = try LayerCapture(model, layers: expands, gradients: false)
        let (plain, plainGrad) = Self.outputAndInputGradient(model, x)
        #expect(capture.outputs.count == 15)
        let (sameLogits, sameGradient) = (fused.scalars == plain.scalars, fusedGrad.scalars == plainGrad.scalars)
        #expect(sameLogits && sameGradient, "max gradient difference \(zip(fusedGrad.scalars, plainGrad.scalars).map { abs($0 - $1) }.max()!)")
        #expect(fusedGrad.scalars.contains { $0 != 0 })
    }

    /// The affine stem (conv + eval batch norm) and the rest of the network compose to the
    /// network, bit for bit; training mode or a hook on a stem layer makes the stem inseparable.
    /// The target-row score is that logit, and its input gradient the one through all the
    /// logits; a hook on the classifier rules it out.
    @Test func affineStemComposesToTheNetwork() throws {
        let models: [any AffineStem] = [EfficientNetLite0(), ResNet("resnet18")!]
        var g = SeededGenerator(seed: 45)
        for model in models {
            model.eval()
            for entry in model.stateDict() where entry.key.hasSuffix("running_mean") {
                _ = entry.tensor.buffer.update(from: Tensor.uniform(entry.tensor.shape, in: -0.3...0.3, using: &g).scalars)
            }
            let x = Tensor.uniform([2, 3, 48, 40], in: -2...2, using: &g)
            #expect(model.stemIsSeparable)
            let whole = withNoGrad { model(x) }, split = withNoGrad { model.forward(afterStem: model.stem(x)) }
            #expect(whole.shape == [2, 1000] && whole.scalars == split.scalars, "\(type(of: model))")
            let h = withNoGrad { model.stem(x) }
            h.requiresGrad = true
            let score = model.score(afterStem: h, target: 7)
            #expect(score.shape == [2, 1])
            // A dot product, not a GEMM row: the two sum the same n = 512 or 1280 float products in
            // different orders, so they differ by up to ~n·eps·sum|w·f| / |logit|, which reached 2e-4
            // on one CI machine's BLAS kernels. A wrong row, bias or scale is off by O(1).
            #expect(relativeL2(score.scalars, [whole.scalars[7], whole.scalars[1007]]) < 2e-3)
            score.sum().backward()
            let viaScore = h.grad!.scalars
            h.grad = nil
            model.forward(afterStem: h).slice(axis: 1, 7..<8).sum().backward()
            #expect(relativeL2(viaScore, h.grad!.scalars) < 1e-6, "\(type(of: model))")
            #expect(model.scoreIsSeparable)
            let classifierHook = model.classifier.addForwardHook { _, _ in nil }
            #expect(!model.scoreIsSeparable)
            classifierHook.remove()
            let hook = model.stemLayers[1].addForwardHook { _, _ in nil }
            #expect(!model.stemIsSeparable)
            hook.remove()
            model.train()
            #expect(!model.stemIsSeparable)
        }
    }

    /// model(x) and the gradient of sum(y^2) with respect to x.
    static func outputAndInputGradient(_ model: Module, _ x: Tensor) -> (Tensor, Tensor) {
        let input = x.detached()
        input.requiresGrad = true
        let y = model(input)
        (y * y).sum().backward()
        return (y, input.grad!)
    }

    /// A frozen block sends ResNet's strided layers, its stem and its last stage's 3x3 layers
    /// (7x7 maps at 224; 4x4 here) to oneDNN with weights prepared once, and their input
    /// gradients too (as forward passes with flipped filters): logits and the input gradient
    /// match the in-house kernels' outside any block, on the first pass and on the second,
    /// which reuses the prepared copies.
    @Test func frozenPassesMatchTheInHouseKernels() {
        let model = ResNet("resnet18")!
        model.eval()
        model.setRequiresGrad(false)
        var g = SeededGenerator(seed: 43)
        // Weights of its own (PyTorch's default ranges): the shared initialisation stream gives
        // a different network whenever tests running alongside build models too.
        for (_, p) in model.namedParameters() where p.rank >= 2 {
            let bound = 1 / Float(p.count / p.shape[0]).squareRoot()
            _ = p.buffer.update(from: Tensor.uniform(p.shape, in: -bound...bound, using: &g).scalars)
        }
        let x = Tensor.uniform([1, 3, 112, 112], in: -1...1, using: &g)
        func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
            let scale = b.scalars.map(abs).max() ?? 1
            return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()! / scale
        }
        let (logits, gradient) = ConvolutionPath.with(.inHouse) { Self.outputAndInputGradient(model, x) }
        FrozenWeights.run {
            #if canImport(CFoveaDNNL)
            let layer4 = Conv2dGeometry(kernel: (3, 3), padding: (1, 1, 1, 1))
            #expect(OneDNN.applies(Convolution.dims([1, 512, 4, 4], [512, 512, 3, 3], layer4, groups: 1), layer4, pass: .forward))
            #endif
            for _ in 0..<2 {
                let (frozenLogits, frozenGradient) = Self.outputAndInputGradient(model, x)
                #expect(relativeError(frozenLogits, logits) < 1e-4)
                #expect(relativeError(frozenGradient, gradient) < 1e-4)
            }
        }
    }

    /// Weights and running statistics live as long as the model: they are out of the buffer
    /// pool's count (so it budgets idle buffers by what passes use), activations are not.
    @Test func parametersAndBuffersAreLongLived() {
        let model = EfficientNetLite0()
        let large = model.stateDict().map(\.tensor).filter { $0.count >= BufferPool.minimumCount }
        #expect(large.count > 20 && large.allSatisfy { $0.storage.isLongLived })
        #expect(!Tensor(zeros: [1, 32, 64, 64]).storage.isLongLived)
    }
}
