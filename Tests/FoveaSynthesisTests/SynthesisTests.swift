import Foundation
import Testing
import Fovea
import FoveaNN
import FoveaONNX
import FoveaOptim
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaSynthesis

@Suite struct SynthesisTests {
    /// Rosenbrock f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, 2): minimum 0 at (1, 1).
    @Test func lbfgsFindsTheRosenbrockMinimum() {
        let p = Tensor(shape: [2], values: [-1.5, 2], requiresGrad: true)
        let optimizer = LBFGS([p], maxIterations: 100)
        optimizer.step {
            p.zeroGrad()
            let x = p.slice(axis: 0, 0..<1), y = p.slice(axis: 0, 1..<2)
            let f = (1 - x).pow(2).sum() + 100 * (y - x.pow(2)).pow(2).sum()
            f.backward()
            return f.item
        }
        #expect(abs(p.scalars[0] - 1) < 1e-3 && abs(p.scalars[1] - 1) < 1e-3, "ended at \(p.scalars)")
        #expect(optimizer.evaluations < 200)
    }

    @Test func aTruncatedPassStopsAfterTheBlockAndMatchesTheFullPass() throws {
        let classifier = try Pretrained.efficientNet.get()
        let model = classifier.module
        var g = SeededGenerator(seed: 3)
        let x = Tensor.uniform([1, 3, 64, 64], in: -1...1, using: &g)
        let capture = try LayerCapture(model, layers: ["_blocks.2._bn1", "_blocks.5"], gradients: false)
        _ = withNoGrad { model(x) }
        let full = capture.outputs
        capture.remove()
        var ran: [String] = []
        let watchers = ["_blocks.2", "_blocks.3", "_blocks.6", "_conv_head", "_fc"].map { path in
            model.module(at: path)!.addForwardHook { _, _ in ran.append(path); return nil }
        }
        let inner = try withNoGrad { try model.outputs(of: ["_blocks.2._bn1"], for: x) }
        // A layer inside block 2 ends the pass after block 2.
        #expect(ran == ["_blocks.2"])
        #expect(inner["_blocks.2._bn1"]!.scalars == full["_blocks.2._bn1"]!.scalars)
        ran = []
        let deeper = try withNoGrad { try model.outputs(of: ["_blocks.5", "_blocks.2._bn1"], for: x) }
        #expect(ran == ["_blocks.2", "_blocks.3"])
        #expect(deeper["_blocks.5"]!.scalars == full["_blocks.5"]!.scalars)
        ran = []
        _ = try withNoGrad { try model.outputs(of: [""], for: x) }
        #expect(ran == ["_blocks.2", "_blocks.3", "_blocks.6", "_conv_head", "_fc"])
        watchers.forEach { $0.remove() }
        #expect(throws: (any Error).self) { try model.outputs(of: ["_blocks.99"], for: x) }
    }

    /// An imported ONNX graph (ResNet-18 with synthetic weights) stops walking its nodes after
    /// the layer read, with the value of the full pass.
    @Test func importedGraphsStopEarlyToo() throws {
        let url = try ONNXFixtures.graphWithExternalData("resnet18") { key, shape in SyntheticWeights.tensor(key, shape: shape) }
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let graph = try ONNXGraph(contentsOf: url)
        graph.setRequiresGrad(false)
        let layer = "/layer2/layer2.1/relu_1/Relu_output_0"
        let x = SyntheticWeights.input
        let capture = try LayerCapture(graph, layers: [layer, "/layer4/layer4.1/relu_1/Relu_output_0"], gradients: false)
        _ = withNoGrad { graph(x) }
        let full = capture.outputs[layer]!.scalars
        let stopped = try withNoGrad { try graph.outputs(of: [layer], for: x) }
        #expect(stopped[layer]!.scalars == full)
        // Nothing after layer2 ran: layer4's hook did not see this pass's (fresh) output.
        let before = capture.outputs["/layer4/layer4.1/relu_1/Relu_output_0"]!
        _ = try withNoGrad { try graph.outputs(of: [layer], for: x) }
        #expect(capture.outputs["/layer4/layer4.1/relu_1/Relu_output_0"]! === before)
    }

    @Test func aSeededRunRaisesItsObjectiveAndRepeatsBitForBit() throws {
        let synthesizer = Synthesizer(try Pretrained.efficientNet.get())
        let objective = Objective.channel("_blocks.3", 5)
        var settings = SynthesisSettings()
        settings.steps = 12
        settings.transforms = ImageTransform.scaled(ImageTransform.standard, toSize: 64)
        func render() throws -> SynthesisResult {
            var g = SeededGenerator(seed: 7)
            return try synthesizer.run(objective, FourierImage(shape: [1, 3, 64, 64], generator: &g), settings: settings)
        }
        let first = try render(), second = try render()
        #expect(first.image.scalars == second.image.scalars)
        #expect(first.history == second.history)
        #expect(first.skippedSteps == 0 && first.image.scalars.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
        let start = try synthesizer.evaluate(objective, image: Tensor(repeating: 0.5, shape: [1, 3, 64, 64]))
        let end = try synthesizer.evaluate(objective, image: first.image)
        #expect(end > start + 1, "objective \(start) -> \(end)")
    }

    @Test func everyParameterisationAndOptimiserStaysFinite() throws {
        let synthesizer = Synthesizer(try Pretrained.efficientNet.get())
        let objective = Objective.classLogProbability(130) - 0.1 * .totalVariation(beta: 1.5) + 0.1 * .diversity("_blocks.1")
        var g = SeededGenerator(seed: 1)
        let params: [ImageParameterization] = [
            PixelImage(shape: [2, 3, 48, 48], range: .clip, generator: &g),
            FourierImage(shape: [2, 3, 48, 48], generator: &g),
            MACOImage(shape: [2, 3, 48, 48], magnitude: try MagnitudeSpectrum.shipped(), generator: &g),
        ]
        for (param, optimizer) in zip(params, [OptimizerKind.sgd, .lbfgs, .adam]) {
            var settings = SynthesisSettings()
            (settings.steps, settings.optimizer, settings.learningRate) = (4, optimizer, optimizer == .lbfgs ? 1 : 0.05)
            settings.priors.gradientBlurSigma = 1
            settings.priors.blurEvery = 2
            settings.priors.bilateralEvery = 3
            let result = try synthesizer.run(objective, param, settings: settings)
            #expect(result.image.shape == [2, 3, 48, 48])
            #expect(result.image.scalars.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(type(of: param)) with \(optimizer)")
            #expect(result.history.allSatisfy { $0.isFinite })
        }
    }

    /// A unit that no pixel of a grey image drives (a ReLU off everywhere) still moves in the
    /// first steps: the redirected gradient raises it.
    @Test func redirectedReLUGradientRevivesADeadUnit() {
        let x = Tensor(shape: [1, 1, 1, 4], values: [-1, -2, -0.5, -3], requiresGrad: true)
        let g = withRedirectedReLU { (-x.relu().sum()) }
        g.backward()
        #expect(x.grad!.scalars == [-1, -1, -1, -1])
        x.zeroGrad()
        (-x.relu().sum()).backward()
        #expect(x.grad!.scalars == [0, 0, 0, 0])
    }

    /// The quality bar of the issue for the 28x28 grayscale fashion-cnn: one visualisation per
    /// class, each classified as its class with p >= 0.9.
    @Test func fashionClassVisualisationsAreClassifiedAsTheirClass() throws {
        let classifier = try ImageClassifier.load("fashion-cnn")
        let synthesizer = Synthesizer(classifier)
        var settings = SynthesisSettings()
        settings.steps = 96
        settings.transforms = ImageTransform.scaled(ImageTransform.standard, toSize: 28)
        for c in 0..<10 {
            var g = SeededGenerator(seed: UInt64(c))
            let result = try synthesizer.run(.classLogit(c), FourierImage(shape: [1, 1, 28, 28], decorrelate: false, generator: &g),
                                             settings: settings)
            let p = withNoGrad { classifier.module(synthesizer.modelInput(result.image)).softmax(axis: 1).scalars[c] }
            #expect(p >= 0.9, "class \(c) \(classifier.labels.names[c]): p = \(p)")
        }
    }

    /// A scale then a rotation is one resampling: with scale 1 it is exactly the rotation, and
    /// it draws the same random numbers as applying the two one by one.
    @Test func scaleThenRotateIsOneResampling() {
        var g = SeededGenerator(seed: 4)
        let x = Tensor.uniform([1, 3, 20, 20], in: 0...1, using: &g)
        let pair: [ImageTransform] = [.scale([1, 1.1]), .rotate([-5, 5])]
        var (fused, separate) = (SeededGenerator(seed: 9), SeededGenerator(seed: 9))
        _ = ImageTransform.apply(pair, to: x, using: &fused)
        var z = x
        for t in pair { z = t.apply(z, using: &separate) }
        #expect(fused.next() == separate.next())
        var same = SeededGenerator(seed: 1)
        let rotated = ImageTransform.apply([.scale([1]), .rotate([5])], to: x, using: &same)
        #expect(rotated.scalars == x.rotatedAndScaled(angle: 5 * .pi / 180, scale: 1).scalars)
    }

    @Test func transformListsParseAndBadOnesNameTheProblem() throws {
        #expect(try ImageTransform.parse("standard") == ImageTransform.standard)
        #expect(try ImageTransform.parse("none").isEmpty)
        #expect(try ImageTransform.parse("pad:4,roll:2,rotate:1") == [.pad(4, value: 0.5), .roll(2), .rotate([-1, 0, 1])])
        #expect(throws: SynthesisError.self) { try ImageTransform.parse("wobble:3") }
        #expect(throws: SynthesisError.self) { try ImageTransform.parse("scale:1.2-0.8") }
        #expect(ImageTransform.scaled(ImageTransform.standard, toSize: 28).first == .pad(2, value: 0.5))
    }

    /// The noise transform's values: N(0, std^2) moments, and the same values on one thread as
    /// on every core (each block draws from its own generator).
    @Test func noiseIsGaussianAndIndependentOfTheThreadCount() throws {
        var g = SeededGenerator(seed: 11)
        let shape = [6, 3, 64, 64], std: Float = 0.05
        let noise = gaussianNoise(shape, std: std, using: &g).scalars
        var serialGenerator = SeededGenerator(seed: 11)
        let serial = try Parallel.concurrently(1) { _ in gaussianNoise(shape, std: std, using: &serialGenerator).scalars }[0]
        #expect(serial == noise)
        let n = Double(noise.count)
        let mean = noise.reduce(0) { $0 + Double($1) } / n
        let variance = noise.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        let kurtosis = noise.reduce(0) { $0 + pow(Double($1) - mean, 4) } / (n * variance * variance)
        let withinOne = Double(noise.filter { abs($0) < std }.count) / n
        #expect(abs(mean) < 4 * Double(std) / n.squareRoot(), "mean \(mean)")
        #expect(abs(variance.squareRoot() / Double(std) - 1) < 0.01, "std \(variance.squareRoot())")
        #expect(abs(kurtosis - 3) < 0.08, "kurtosis \(kurtosis)")
        #expect(abs(withinOne - 0.6827) < 0.007, "within one std \(withinOne)")
        // A different seed, different noise.
        var other = SeededGenerator(seed: 12)
        #expect(gaussianNoise(shape, std: std, using: &other).scalars != noise)
    }
}
