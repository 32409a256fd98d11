import Foundation
import Testing
import Fovea
import FoveaAttribution
import FoveaNN
import FoveaTensor
import _FoveaTestSupport

/// Attribution maps on EfficientNet-Lite0 against plain PyTorch implementations
/// (Tests/Golden/make_golden.py) on real photos.
@Suite(.serialized) struct AttributionGoldenTests {
    let classifier: ImageClassifier
    init() throws { classifier = try Pretrained.efficientNet.get() }

    func input(_ photo: String) throws -> Tensor {
        classifier.preprocessing.normalize(try Golden.image("\(photo)_input.png"))
    }

    @Test(arguments: ["_blocks.15", "_conv_head"])
    func gradCAMMatchesPyTorch(_ layer: String) throws {
        let map = try classifier.gradCAM(try input("chelsea"), target: 282, layer: layer)
        let expected = try Golden.npy("chelsea_gradcam_\(layer.replacingOccurrences(of: ".", with: "_")).npy")
        #expect([map.height, map.width] as [Int] == expected.shape)
        let error = relativeL2(map.values, expected.scalars)
        #expect(error <= 1e-3, "Grad-CAM at \(layer): relative L2 error \(error)")
        #expect(map.values.allSatisfy { $0 >= 0 })
    }

    @Test func camMatchesPyTorch() throws {
        let map = try classifier.cam(try input("chelsea"), target: 282)
        let expected = try Golden.npy("chelsea_cam.npy")
        #expect(map.height == 7 && map.width == 7)
        #expect(map.layer == "_avg_pooling")
        let error = relativeL2(map.values, expected.scalars)
        #expect(error <= 1e-3, "CAM: relative L2 error \(error)")
    }

    /// On astronaut no ReLU6 unit sits at a kink (see EfficientNetGoldenTests), so the input
    /// gradient, and the saliency made from it, match PyTorch to 1e-3.
    @Test func gradientSaliencyMatchesPyTorch() throws {
        let x = try input("astronaut")
        let target = classifier.topClass(x)
        #expect(target == 560)
        let map = try classifier.gradientSaliency(x, target: target)
        let grad = try Golden.npy("astronaut_grad_top.npy").scalars      // [1, 3, 224, 224]
        let plane = 224 * 224
        let expected = (0..<plane).map { i in (0..<3).map { Swift.abs(grad[$0 * plane + i]) }.max()! }
        #expect(map.height == 224 && map.width == 224)
        let error = relativeL2(map.values, expected)
        #expect(error <= 1e-3, "gradient saliency: relative L2 error \(error)")
        let signed = try classifier.gradientSaliency(x, target: target, signed: true)
        #expect(zip(signed.values, map.values).allSatisfy { Swift.abs($0) == $1 })
        #expect(signed.values.contains { $0 < 0 })
    }

    @Test func faithfulnessMatchesPyTorch() throws {
        let x = try input("chelsea")
        let map = try classifier.gradCAM(x, target: 282, layer: "_blocks.15")
        let f = classifier.faithfulness(of: map, input: x, baseline: .blur)
        let photos = try #require(try Golden.json["photos"] as? [String: Any])
        let chelsea = try #require(photos["chelsea"] as? [String: Any])
        let deletion = try #require(chelsea["gradcam_blocks15_blur_deletion_auc"] as? Double)
        let insertion = try #require(chelsea["gradcam_blocks15_blur_insertion_auc"] as? Double)
        #expect(abs(Double(f.deletionAUC) - deletion) < 2e-3, "deletion AUC \(f.deletionAUC) vs \(deletion)")
        #expect(abs(Double(f.insertionAUC) - insertion) < 2e-3, "insertion AUC \(f.insertionAUC) vs \(insertion)")
        #expect(f.deletionCurve.count == 33 && f.insertionCurve.count == 33)
        // f = 0 of deletion and f = 1 of insertion are the unmodified image.
        let p = classifier.predict(x).probabilities[282]
        #expect(abs(f.deletionCurve[0] - p) < 1e-5 && abs(f.insertionCurve[32] - p) < 1e-5)
    }

    @Test func aMapBeatsItsOwnReverse() throws {
        // Deleting the pixels Grad-CAM ranks first must hurt more than deleting those it ranks last.
        let x = try input("chelsea")
        let map = try classifier.gradCAM(x, target: 282, layer: "_blocks.15")
        let reversed = SaliencyMap(values: map.values.map { -$0 }, height: map.height, width: map.width,
                                   method: "reversed", layer: map.layer, target: map.target)
        let f = classifier.faithfulness(of: map, input: x), r = classifier.faithfulness(of: reversed, input: x)
        #expect(f.deletionAUC < r.deletionAUC)
        #expect(f.insertionAUC > r.insertionAUC)
    }

    @Test func guidedBackpropMatchesPyTorch() throws {
        let x = try input("astronaut")
        let guided = try classifier.guidedGradient(x, target: 560)
        let expected = try Golden.npy("astronaut_guided_backprop.npy")
        let error = relativeL2(guided.scalars, expected.scalars)
        #expect(error <= 1e-3, "guided backprop: relative L2 error \(error)")
        #expect(guided.scalars.contains { $0 != 0 })
    }

    @Test func integratedGradientsMatchCaptum() throws {
        let x = try input("astronaut")
        let ig = try classifier.integratedGradients(x, target: 560, steps: 50)
        let expected = try Golden.npy("astronaut_integrated_gradients.npy")
        let error = relativeL2(ig.attribution.scalars, expected.scalars)
        #expect(error <= 1e-3, "Integrated Gradients: relative L2 error \(error)")
        let photos = try #require(try Golden.json["photos"] as? [String: Any])
        let astronaut = try #require(photos["astronaut"] as? [String: Any])
        let captumDelta = try #require(astronaut["integrated_gradients_captum_delta"] as? Double)
        #expect(abs(Double(ig.completenessError) - captumDelta) < 5e-3, "completeness \(ig.completenessError) vs Captum \(captumDelta)")
    }

    /// The path walked in the stem's output space (EfficientNet's stem conv and bn0 are affine)
    /// gives the attribution of the path walked in pixels, step by step through the whole network
    /// (a hook on _bn0 turns the shortcut off). At one point the two agree exactly (the network
    /// is piecewise linear, so the gradient does not move with rounding); over 20 points, where
    /// the path crosses ReLU6 kinks, by 5.6e-4 relative L2, while scaling the input by 1 + 1e-6
    /// moves the step-by-step result itself by 7.0e-4.
    @Test(arguments: [(1, 1e-6), (20, 2e-3)])
    func integratedGradientsThroughTheAffineStemMatchStepByStep(steps: Int, tolerance: Double) throws {
        let x = try input("astronaut")
        let stem = try #require(classifier.module as? AffineStem)
        #expect(stem.stemIsSeparable)
        let shortcut = try classifier.integratedGradients(x, target: 560, steps: steps)
        let hook = try #require(classifier.module.module(at: "_bn0")).addForwardHook { _, _ in nil }
        defer { hook.remove() }
        #expect(!stem.stemIsSeparable)
        let stepwise = try classifier.integratedGradients(x, target: 560, steps: steps)
        let error = relativeL2(shortcut.attribution.scalars, stepwise.attribution.scalars)
        #expect(error <= tolerance, "relative L2 difference \(error)")
        #expect(abs(shortcut.scoreDifference - stepwise.scoreDifference) < 1e-4 * abs(stepwise.scoreDifference))
        #expect(abs(shortcut.completenessError - stepwise.completenessError) < 1e-3)
    }

    /// Points in batches (one GEMM over the batch's images) and one at a time give the same
    /// attributions to rounding: over 20 points within what scaling the input by 1 + 1e-6 does
    /// to the result itself (7.0e-4 relative L2, ReLU6 kinks along the path).
    @Test func integratedGradientsBatchedMatchOneAtATime() throws {
        let x = try input("astronaut")
        let single = try classifier.integratedGradients(x, target: 560, steps: 20, batch: 1)
        let batched = try classifier.integratedGradients(x, target: 560, steps: 20, batch: 6)
        let error = relativeL2(batched.attribution.scalars, single.attribution.scalars)
        #expect(error <= 2e-3, "relative L2 difference \(error)")
        #expect(abs(batched.completenessError - single.completenessError) < 1e-3)
        #expect(batched.scoreDifference == single.scoreDifference)
    }

    /// Occlusion and Score-CAM run two batches at once, one per core, with unsplit kernels;
    /// with a hook in the network they run one batch after the other, split over both cores.
    /// Forward passes only, so the maps agree to rounding, in the same order.
    @Test func occlusionAndScoreCAMTwoBatchesAtOnceMatchOneAtATime() throws {
        let x = try input("chelsea")
        #expect(classifier.module.runsConcurrently)
        var reported: [Int] = []
        let occlusion = try classifier.occlusion(x, target: 282, window: 64, stride: 32, batch: 4) { done, _ in reported.append(done) }
        let scoreCAM = try classifier.scoreCAM(x, target: 282, layer: "_blocks.15", batch: 64)
        let hook = try #require(classifier.module.module(at: "_fc")).addForwardHook { _, _ in nil }
        defer { hook.remove() }
        let occlusionOneByOne = try classifier.occlusion(x, target: 282, window: 64, stride: 32, batch: 4)
        let scoreCAMOneByOne = try classifier.scoreCAM(x, target: 282, layer: "_blocks.15", batch: 64)
        #expect(relativeL2(occlusion.values, occlusionOneByOne.values) <= 1e-5)
        #expect(relativeL2(scoreCAM.values, scoreCAMOneByOne.values) <= 1e-5)
        #expect(reported.sorted() == reported && reported.last == 36)     // 6 x 6 positions, counted once each
    }

    @Test func gaussLegendreNodesAndWeights() {
        // numpy.polynomial.legendre.leggauss(5) mapped to [0, 1].
        let rule = Quadrature.gaussLegendre.rule(5)
        let alphas: [Float] = [0.04691008, 0.23076534, 0.5, 0.76923466, 0.95308992]
        let weights: [Float] = [0.11846344, 0.23931434, 0.28444444, 0.23931434, 0.11846344]
        for (r, (a, w)) in zip(rule, zip(alphas, weights)) {
            #expect(abs(r.alpha - a) < 1e-6 && abs(r.weight - w) < 1e-6)
        }
        #expect(abs(Quadrature.gaussLegendre.rule(50).map(\.weight).reduce(0, +) - 1) < 1e-5)
        #expect(Quadrature.trapezoid.rule(4).map(\.weight) == [0.125, 0.25, 0.25, 0.25, 0.125])
    }

    @Test func occlusionMatchesPyTorch() throws {
        let map = try classifier.occlusion(try input("chelsea"), target: 282, window: 32, stride: 16, batch: 13)
        let expected = try Golden.npy("chelsea_occlusion_w32_s16.npy")
        #expect(map.height == 13 && map.width == 13)
        let error = relativeL2(map.values, expected.scalars)
        #expect(error <= 1e-3, "occlusion: relative L2 error \(error)")
    }

    @Test func gradCAMPlusPlusAndScoreCAMMatchPyTorch() throws {
        let x = try input("chelsea")
        let plus = try classifier.gradCAMPlusPlus(x, target: 282, layer: "_blocks.15")
        let plusError = relativeL2(plus.values, try Golden.npy("chelsea_gradcampp__blocks_15.npy").scalars)
        #expect(plusError <= 1e-3, "Grad-CAM++: relative L2 error \(plusError)")
        let score = try classifier.scoreCAM(x, target: 282, layer: "_blocks.15", batch: 32)
        let scoreError = relativeL2(score.values, try Golden.npy("chelsea_scorecam__blocks_15.npy").scalars)
        #expect(scoreError <= 1e-3, "Score-CAM: relative L2 error \(scoreError)")
    }

    @Test func smoothGradWithoutNoiseIsTheGradient() throws {
        let x = try input("astronaut")
        let plain = try classifier.gradientSaliency(x, target: 560)
        let smooth = try classifier.smoothGrad(x, target: 560, samples: 2, noise: 0) {
            try classifier.backpropagate($0, target: 560).inputGradient
        }
        #expect(relativeL2(smooth.values, plain.values) < 1e-6)
        let noisy = try classifier.smoothGrad(x, target: 560, samples: 4, noise: 0.2) {
            try classifier.backpropagate($0, target: 560).inputGradient
        }
        #expect(relativeL2(noisy.values, plain.values) > 0.05)
        // --smooth wraps other pixel methods the same way.
        var options = AttributionOptions()
        (options.smooth, options.samples, options.noise) = (true, 2, 0)
        let guided = try classifier.guidedBackprop(x, target: 560)
        let smoothGuided = try classifier.attribute(.guidedBackprop, input: x, target: 560, options: options).map
        // The samples run side by side on one core each, whose GEMMs may sum in another order than
        // the plain pass's (OpenBLAS's SSE3 kernels do, 2e-4 apart); guided backprop's ReLU masks
        // carry such rounding further than the plain gradient. Its PyTorch golden test allows 1e-3.
        #expect(relativeL2(smoothGuided.values, guided.values) < 1e-3)
        #expect(throws: FoveaError.self) { try classifier.attribute(.gradcam, input: x, target: 560, options: options) }
    }

    @Test func guidedGradCAMIsGuidedBackpropTimesUpsampledGradCAM() throws {
        let x = try input("astronaut")
        let guided = try classifier.guidedGradient(x, target: 560)
        let cam = try classifier.gradCAM(x, target: 560, layer: "_blocks.15")
        let combined = try classifier.guidedGradCAM(x, target: 560, layer: "_blocks.15", signed: true)
        let up = cam.tensor.reshaped([1, 1, 7, 7]).resized(height: 224, width: 224).scalars
        // At a pixel, the map is the channel of largest |guided * cam|, i.e. of largest |guided|.
        let g = guided.scalars, plane = 224 * 224
        for i in stride(from: 0, to: plane, by: 997) {
            let best = (0..<3).map { g[$0 * plane + i] }.max { abs($0) < abs($1) }!
            #expect(abs(combined.values[i] - best * up[i]) <= 1e-6 * max(1, abs(best * up[i])))
        }
    }

    @Test func mapsDependOnTheTarget() throws {
        let x = try input("chelsea")
        let tiger = try classifier.gradCAM(x, target: 282, layer: "_blocks.15")
        let espresso = try classifier.gradCAM(x, target: 967, layer: "_blocks.15")
        #expect(relativeL2(tiger.values, espresso.values) > 0.1)
    }

    @Test func camRefusesNetworksWithoutAGlobalPoolingHead() throws {
        let vgg = try ImageClassifier.load("vgg11")
        let x = Tensor(zeros: [1, 3, 224, 224])
        let error = #expect(throws: FoveaError.self) { try vgg.cam(x, target: 0) }
        #expect(error?.description.contains("use --method gradcam") == true)
        // Grad-CAM works at any spatial layer of the same network.
        let map = try vgg.gradCAM(x, target: 0, layer: vgg.spec.camLayer)
        #expect(vgg.spec.camLayer == "features.19")
        #expect(map.height == 14 && map.width == 14)
    }

    /// MobileNetV2 pools in its forward function: CAM reads the output of `features`, and equals
    /// Grad-CAM's linear combination (alpha_k = w_k^c / (h w)) times h w before the ReLU.
    @Test func camWorksWithFunctionalPooling() throws {
        let net = try ImageClassifier.load("mobilenet_v2")
        var g = SeededGenerator(seed: 3)
        let x = Tensor.uniform([1, 3, 224, 224], in: -1...1, using: &g)
        let cam = try net.cam(x, target: 5)
        #expect(cam.layer == "features" && cam.height == 7 && cam.width == 7)
        let grad = try net.gradCAM(x, target: 5, layer: "features")
        for (c, r) in zip(cam.values, grad.values) where c > 0 {
            #expect(abs(c / 49 - r) <= 1e-4 * max(1, abs(r)))
        }
    }

    @Test func gradCAMNeedsASpatialLayer() throws {
        let error = #expect(throws: FoveaError.self) { try classifier.gradCAM(try input("chelsea"), target: 282, layer: "_fc") }
        #expect(error?.description.contains("_fc") == true)
    }
}

@Suite struct SanityCheckTests {
    @Test func spearmanRankCorrelation() {
        #expect(spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1)
        #expect(spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
        // Ties take their mean rank: ranks [1.5, 1.5, 3] vs [1, 2, 3] -> r = sqrt(3)/2.
        #expect(abs(spearman([5, 5, 7], [1, 2, 3]) - Float(3).squareRoot() / 2) < 1e-6)
        #expect(spearman([1, 1, 1], [1, 2, 3]) == 0)
    }

    @Test func randomisationCascadesFromTheTopAndRestoresTheModel() throws {
        let classifier = try Pretrained.efficientNet.get()
        let x = classifier.preprocessing.normalize(try Golden.image("chelsea_input.png"))
        let before = classifier.logits(x).scalars
        let (original, steps) = try classifier.sanityCheck(.gradcam, input: x, target: 282)
        #expect(steps.map(\.layer).prefix(4) == ["_fc", "_bn1", "_conv_head", "_blocks.15"])
        #expect(steps.count == 21 && steps.last?.layer == "_conv_stem")
        // Randomising everything leaves a map unrelated to the trained one.
        #expect(steps.allSatisfy { abs($0.spearman) < 0.9 })
        #expect(classifier.logits(x).scalars == before)
        // The figure: the input, the original map, then one panel per step, in columns of 6.
        let figure = SanityFigure.render(crop: try Golden.image("chelsea_input.png"), original: original, steps: steps, method: "gradcam")
        let panels = 2 + steps.count, rows = (panels + 5) / 6
        #expect(figure.width > 6 * SanityFigure.panelSize && figure.height > rows * SanityFigure.panelSize)
        #expect(figure.height < (rows + 1) * SanityFigure.panelSize + 80)
    }
}
