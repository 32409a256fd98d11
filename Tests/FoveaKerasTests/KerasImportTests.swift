import Foundation
import Testing
import Fovea
import FoveaIO
import FoveaNN
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaKeras

/// cifar-10-model 7.4.0's Keras CNN (fetched .h5) against the same network written in PyTorch
/// from the h5 weights (Tests/Golden/make_keras_golden.py).
@Suite struct KerasImportTests {
    static let file = Pretrained.workspace.models.appendingPathComponent("cifar10_cnn_model.h5")
    static let golden = Result { try Safetensors.load(URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Golden/keras/cifar10.safetensors")) }

    @Test func cifarCNNMatchesPyTorch() throws {
        let golden = try Self.golden.get()
        let model = try KerasModel(contentsOf: Self.file)
        #expect(model.layerNames.first == "conv2d" && model.layerNames.last == "dense_2" && model.layerNames.count == 21)
        #expect(model.inputShape.height == 32 && model.inputShape.channels == 3 && !model.droppedFinalSoftmax)
        model.eval()
        model.setRequiresGrad(false)
        let x = golden["input"]!.copy()
        x.requiresGrad = true
        let capture = try LayerCapture(model, layers: ["conv2d_3"])
        let logits = model(x)
        #expect(relativeL2(logits.scalars, golden["logits"]!.scalars) <= 1e-5)
        #expect(relativeL2(capture.outputs["conv2d_3"]!.scalars, golden["conv2d_3"]!.scalars) <= 1e-5)
        logits.slice(axis: 1, 3..<4).sum().backward()
        let error = relativeL2(x.grad!.scalars, golden["input_grad"]!.scalars)
        #expect(error <= 1e-4, "input gradient relative L2 \(error)")
        // Parameters keep Keras's names.
        #expect(Set(model.namedParameters().map(\.key)).isSuperset(of: ["conv2d.kernel", "conv2d.bias", "batch_normalization.gamma", "dense_2.kernel"]))
    }

    @Test func classifierFromTheH5File() throws {
        let classifier = try ImageClassifier.load(modelFile: Self.file)
        #expect(classifier.preprocessing.inputSize == 32 && classifier.preprocessing.std == [1, 1, 1])
        #expect(classifier.spec.camLayer == "batch_normalization_4" && classifier.spec.classifier == "dense_2")
        #expect(classifier.labels.names.count == 10)
    }

    @Test func notAKerasModel() throws {
        // An HDF5 file without model_config, and a file that is not HDF5 at all.
        let folder = Scratch.url("fovea-keras")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = folder.appendingPathComponent("model.h5")
        try Data("just text".utf8).write(to: text)
        #expect(throws: KerasError.self) { _ = try KerasModel(contentsOf: text) }
        let truncated = folder.appendingPathComponent("cut.h5")
        try Data(contentsOf: Self.file).prefix(4096).write(to: truncated)
        do {
            _ = try KerasModel(contentsOf: truncated)
            Issue.record("a truncated file loaded")
        } catch {
            #expect("\(error)".hasPrefix(truncated.path), "\(error)")
        }
    }
}
