import Foundation
import Testing
@testable import Fovea
import FoveaIO
import FoveaModels
import FoveaNN
import FoveaTensor
import _FoveaTestSupport

/// torchvision layouts and numbers (Tests/Golden/make_torchvision_golden.py).
@Suite struct TorchvisionModelTests {
    static let folder = Golden.folder.deletingLastPathComponent().appendingPathComponent("torchvision")

    @Test(arguments: ["alexnet", "squeezenet1_0", "squeezenet1_1", "mobilenet_v2"])
    func stateDictKeysAndShapesMatchTorchvision(_ name: String) throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent("layouts.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let expected = (json["models"] as! [String: [String: [Int]]])[name]!
        let model = try #require(ModelSpec.named(name)).build()
        let ours = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.tensor.shape) })
        #expect(Set(ours.keys) == Set(expected.keys))
        for (key, shape) in expected { #expect(ours[key] == shape, "\(key)") }
    }

    /// A seeded squeezenet1_1 checkpoint (float16 safetensors) on chelsea, preprocessed the
    /// torchvision way: the crop is byte-identical and the logits match PyTorch's.
    @Test func squeezeNetLogitsMatchPyTorch() throws {
        let classifier = try ImageClassifier.load("squeezenet1_1", weights: Self.folder.appendingPathComponent("squeezenet1_1.safetensors"))
        let crop = classifier.preprocessing.crop(try Image.load(path: Pretrained.workspace.photos.appendingPathComponent("chelsea.png").path), mode: .center)
        let expectedCrop = try Image.load(path: Self.folder.appendingPathComponent("chelsea_torchvision.png").path)
        #expect(crop.pixels == expectedCrop.pixels)
        let logits = classifier.logits(classifier.preprocessing.normalize(crop))
        let expected = try NPY.read(Self.folder.appendingPathComponent("squeezenet1_1_chelsea_logits.npy"))
        #expect(logits.shape == [1, 1000])
        let error = relativeL2(logits.scalars, expected.scalars)
        #expect(error <= 1e-4, "relative L2 error \(error)")
    }
}
