import Foundation
import Testing
import Fovea
import FoveaIO
import FoveaModels
import FoveaNN
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaONNX

/// PyTorch's ONNX exports of ResNet-18 and EfficientNet-Lite0 (Tests/Golden/make_onnx_golden.py)
/// run through Fovea's ONNX path and give the outputs, input gradients and layer outputs of
/// Fovea's native models, onnxruntime and PyTorch.
@Suite struct ONNXExportTests {
    @Test func resnet18MatchesNativeOnnxruntimeAndPyTorch() throws {
        let url = try ONNXFixtures.graphWithExternalData("resnet18") { key, shape in SyntheticWeights.tensor(key, shape: shape) }
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let graph = try ONNXGraph(contentsOf: url)
        graph.setRequiresGrad(false)
        let native = ResNet("resnet18")!
        try SyntheticWeights.load(into: native)
        native.eval()
        native.setRequiresGrad(false)

        let ort = try Safetensors.load(ONNXFixtures.folder.appendingPathComponent("resnet18_ort.safetensors"))["logits"]!
        let torch = try Safetensors.load(ONNXFixtures.folder.appendingPathComponent("../torchvision/synthetic/resnet18.safetensors"))
        let x = SyntheticWeights.input
        x.requiresGrad = true
        let layer = "/layer4/layer4.1/relu_1/Relu_output_0"
        let capture = try LayerCapture(graph, layers: [layer])
        let logits = graph(x)
        #expect(relativeL2(logits.scalars, ort.scalars) <= 1e-4)
        #expect(relativeL2(logits.scalars, torch["logits"]!.scalars) <= 1e-4)
        let top = logits.argmax()[0]
        logits.slice(axis: 1, top..<(top + 1)).sum().backward()
        let onnxGradient = x.grad!.scalars
        #expect(relativeL2(onnxGradient, torch["input_grad"]!.scalars) <= 1e-3)

        let x2 = SyntheticWeights.input
        x2.requiresGrad = true
        let nativeCapture = try LayerCapture(native, layers: ["layer4"])
        let nativeLogits = native(x2)
        nativeLogits.slice(axis: 1, top..<(top + 1)).sum().backward()
        #expect(relativeL2(onnxGradient, x2.grad!.scalars) <= 1e-5)
        // The ONNX value of layer4's last ReLU is what a hook on `layer4` sees, forward and backward.
        #expect(relativeL2(capture.outputs[layer]!.scalars, nativeCapture.outputs["layer4"]!.scalars) <= 1e-5)
        #expect(relativeL2(capture.gradients[layer]!.scalars, nativeCapture.gradients["layer4"]!.scalars) <= 1e-5)
    }

    @Test func efficientNetLite0MatchesNative() throws {
        let classifier = try Pretrained.efficientNet.get()
        let state = Dictionary(uniqueKeysWithValues: classifier.module.stateDict().map { ($0.key, $0.tensor) })
        let url = try ONNXFixtures.graphWithExternalData("efficientnet_lite0") { key, _ in
            guard let t = state[key] else { throw ONNXError("no native weight \(key)") }
            return t
        }
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let graph = try ONNXGraph(contentsOf: url)
        graph.setRequiresGrad(false)
        let (_, x) = try classifier.input(from: Pretrained.workspace.photos.appendingPathComponent("chelsea.png").path)
        let batch = Tensor.concat([x, x.scaled(by: 0.5)], axis: 0)      // dynamic batch
        batch.requiresGrad = true
        let logits = graph(batch)
        let nativeInput = batch.detached()
        nativeInput.requiresGrad = true
        let nativeLogits = classifier.module(nativeInput)
        #expect(relativeL2(logits.scalars, nativeLogits.scalars) <= 1e-5)
        #expect(logits.argmax()[0] == 282)                                // tiger cat
        logits.slice(axis: 1, 282..<283).sum().backward()
        nativeLogits.slice(axis: 1, 282..<283).sum().backward()
        #expect(relativeL2(batch.grad!.scalars, nativeInput.grad!.scalars) <= 1e-4)
    }
}
