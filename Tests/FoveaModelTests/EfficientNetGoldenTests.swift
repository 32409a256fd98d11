import Foundation
import Testing
@testable import Fovea
import _FoveaTestSupport
import FoveaIO
import FoveaNN
import FoveaTensor

/// EfficientNet-Lite0 with the shipped ImageNet weights against PyTorch on real photos.
@Suite(.serialized) struct EfficientNetGoldenTests {
    let classifier: ImageClassifier

    init() throws { classifier = try Pretrained.efficientNet.get() }

    @Test(arguments: ["chelsea", "coffee", "astronaut"])
    func logitsMatchPyTorch(_ photo: String) throws {
        let crop = try Golden.image("\(photo)_input.png")
        let logits = classifier.logits(classifier.preprocessing.normalize(crop))
        let expected = try Golden.npy("\(photo)_logits.npy")
        #expect(logits.shape == [1, 1000])
        let diff = maxAbsDifference(logits.scalars, expected.scalars)
        #expect(diff <= 1e-3, "max |logit difference| \(diff)")
    }

    @Test(arguments: ["chelsea", "coffee", "astronaut"])
    func preprocessingMatchesPillow(_ photo: String) throws {
        let image = try Image.load(path: Pretrained.workspace.photos.appendingPathComponent("\(photo).png").path)
        let crop = classifier.preprocessing.crop(image, mode: .center)
        let expected = try Golden.image("\(photo)_input.png")
        #expect(crop.width == 224 && crop.height == 224)
        #expect(crop.pixels == expected.pixels, "crop differs from Pillow's in \(zip(crop.pixels, expected.pixels).filter { $0 != $1 }.count) bytes")
    }

    /// The gradient of the top-1 logit w.r.t. the input. One ReLU6 unit whose input lies within
    /// float32 rounding of a kink (chelsea: 9.4e-9 in float64, +3.1e-7 in PyTorch float32, -5.2e-7
    /// here) takes a different derivative in two float32 implementations and moves the whole
    /// gradient by about 1e-3; PyTorch float32 itself is 4.1e-3 from its own float64 answer on
    /// coffee (golden.json records both facts). Photos where that happens get 5e-3; the others
    /// 1e-3, and `gradientAboveTheKinkUnitMatches` pins the chelsea case down to that unit.
    @Test(arguments: [("chelsea", 5e-3), ("coffee", 5e-3), ("astronaut", 1e-3)])
    func topLogitInputGradientMatchesPyTorch(_ photo: String, _ tolerance: Double) throws {
        let x = classifier.preprocessing.normalize(try Golden.image("\(photo)_input.png"))
        x.requiresGrad = true
        let logits = classifier.module(x)
        let top = logits.argmax()[0]
        logits.slice(axis: 1, top..<(top + 1)).sum().backward()
        let expected = try Golden.npy("\(photo)_grad_top.npy")
        let grad = try #require(x.grad)
        #expect(grad.shape == expected.shape)
        let error = relativeL2(grad.scalars, expected.scalars)
        #expect(error <= tolerance, "relative L2 error of the input gradient \(error)")
    }

    /// Above `_blocks.14._bn1` (the chelsea kink unit) the backward pass agrees to float32 noise.
    @Test func gradientAboveTheKinkUnitMatches() throws {
        let capture = try LayerCapture(classifier.module, layers: ["_blocks.14"])
        defer { capture.remove() }
        let x = classifier.preprocessing.normalize(try Golden.image("chelsea_input.png"))
        x.requiresGrad = true
        classifier.module(x).slice(axis: 1, 282..<283).sum().backward()
        let grad = try #require(capture.gradients["_blocks.14"])
        let expected = try Golden.npy("chelsea_blocks14_grad.npy")
        #expect(grad.shape == [1, 192, 7, 7])
        let error = relativeL2(grad.scalars, expected.scalars)
        #expect(error <= 1e-5, "relative L2 error of the gradient into _blocks.14: \(error)")
    }

    @Test func midNetworkLayerMatchesForwardHook() throws {
        let capture = try LayerCapture(classifier.module, layers: ["_blocks.10"], gradients: false)
        defer { capture.remove() }
        _ = classifier.logits(classifier.preprocessing.normalize(try Golden.image("chelsea_input.png")))
        let output = try #require(capture.outputs["_blocks.10"])
        let expected = try Golden.npy("chelsea_blocks10.npy")
        #expect(output.shape == [1, 112, 14, 14])
        #expect(output.shape == expected.shape)
        let diff = maxAbsDifference(output.scalars, expected.scalars)
        #expect(diff <= 1e-3, "max |difference| \(diff) at _blocks.10")
    }

    @Test func chelseaTopThreeProbabilitiesMatchReference() throws {
        let photo = Pretrained.workspace.photos.appendingPathComponent("chelsea.png").path
        let top = classifier.predict(try classifier.input(from: photo).tensor).top(3)
        #expect(top.map(\.index) == [282, 285, 281])
        let photos = try #require(try Golden.json["photos"] as? [String: Any])
        let chelsea = try #require(photos["chelsea"] as? [String: Any])
        let reference = try #require(chelsea["top5_probabilities"] as? [Double])
        for (entry, p) in zip(top, reference) {
            #expect(abs(Double(entry.probability) - p) <= 0.005, "\(entry.label): \(entry.probability) vs \(p)")
        }
        #expect(abs(top[0].probability - 0.385) < 0.0015)
        #expect(classifier.labels.short(282) == "tiger cat")
    }
}
