import Foundation
import Testing
import Fovea
import FoveaIO
import FoveaNN
@testable import FoveaStyle
import FoveaSynthesis
import FoveaTensor
import _FoveaTestSupport

/// vgg16-features against onnxruntime on the same ONNX file, and the style losses against the
/// PyTorch reference (Tests/Golden/make_style_golden.py, scripts/style_torch.py).
@Suite(.serialized) struct VGGGoldenTests {
    static let golden = Result { try Safetensors.load(Golden.folder.deletingLastPathComponent().appendingPathComponent("style/vgg16.safetensors")) }
    static let vgg = Result { try ImageClassifier.load("vgg16-features") }

    func relativeMaxError(_ a: Tensor, _ b: Tensor) -> Float {
        let scale = b.scalars.map(abs).max() ?? 1
        return maxAbsDifference(a.scalars, b.scalars) / max(scale, 1e-6)
    }

    @Test func featuresMatchOnnxruntimeAtThreeDepths() throws {
        let g = try Self.golden.get(), model = try Self.vgg.get()
        let x = Synthesizer(model).modelInput(g["image"]!)
        let out = try withNoGrad { try model.module.outputs(of: ["relu1_2", "relu3_3", "pool5"], for: x) }
        #expect(out["relu1_2"]!.shape == [1, 64, 64, 80])
        #expect(relativeMaxError(out["relu1_2"]!.slice(axis: 1, 0..<8), g["ort_relu1_2"]!) < 1e-5)
        #expect(relativeMaxError(out["relu3_3"]!, g["ort_relu3_3"]!) < 1e-5)
        #expect(relativeMaxError(out["pool5"]!, g["ort_pool5"]!) < 1e-5)
    }

    @Test func kerasNamesAnswerWithKerasMeaning() throws {
        let g = try Self.golden.get(), model = try Self.vgg.get()
        let x = Synthesizer(model).modelInput(g["image"]!)
        let out = try withNoGrad { try model.module.outputs(of: ["block3_conv3", "relu3_3", "block2_pool", "pool2"], for: x) }
        #expect(out["block3_conv3"]!.scalars == out["relu3_3"]!.scalars)
        #expect(out["block2_pool"]!.scalars == out["pool2"]!.scalars)
        #expect(model.module.module(at: "block9_conv1") == nil)
    }

    @Test func gramStyleAndContentLossesMatchPyTorch() throws {
        let g = try Self.golden.get(), model = try Self.vgg.get()
        let synthesizer = Synthesizer(model)
        let layers = StyleLayers(["relu1_1", "relu2_1", "relu3_1"])
        let targets = try GramTargets(styles: [(g["style"]!, 1)], layers: layers, with: synthesizer)
        let contentTarget = try withNoGrad { try model.module.outputs(of: ["relu2_2"], for: synthesizer.modelInput(g["content"]!))["relu2_2"]! }
        let x = g["x"]!.copy()
        x.requiresGrad = true
        let features = try model.module.outputs(of: layers.names + ["relu2_2"], for: synthesizer.modelInput(x))
        let gram = features["relu2_1"]!.gramMatrices().reshaped([128, 128])
        #expect(relativeL2(gram.scalars, g["gram_relu2_1"]!.scalars) < 1e-5)
        let style = targets.loss(features), content = contentLoss(features["relu2_2"]!, contentTarget)
        #expect(abs(style.item / g["style_loss"]!.scalars[0] - 1) < 1e-4)
        #expect(abs(content.item / g["content_loss"]!.scalars[0] - 1) < 1e-4)
        let total = content + style * 1000
        #expect(abs(total.item / g["total"]!.scalars[0] - 1) < 1e-4)
        total.backward()
        #expect(relativeL2(x.grad!.scalars, g["grad_x"]!.scalars) < 1e-3)
    }
}
