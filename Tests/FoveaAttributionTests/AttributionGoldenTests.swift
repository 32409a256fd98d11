import Foundation
import Testing
import Fovea
import FoveaAttribution
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

    @Test func gradCAMNeedsASpatialLayer() throws {
        let error = #expect(throws: FoveaError.self) { try classifier.gradCAM(try input("chelsea"), target: 282, layer: "_fc") }
        #expect(error?.description.contains("_fc") == true)
    }
}
