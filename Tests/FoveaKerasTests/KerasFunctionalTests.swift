import Foundation
import Testing
import Fovea
import FoveaIO
import FoveaNN
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaKeras

/// Keras 3's own outputs (Tests/Golden/make_keras_functional_golden.py) on a Functional CNN with
/// residual Add, squeeze-excite Multiply, SeparableConv2D, DepthwiseConv2D, Concatenate and
/// Reshape, saved as a .keras archive, a legacy .h5 and a Keras 2-layout .h5; and on a
/// Sequential .keras.
@Suite struct KerasFunctionalTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Golden/keras")
    static let golden = Result { try Safetensors.load(folder.appendingPathComponent("keras3.safetensors")) }

    @Test(arguments: ["functional.keras", "functional.h5", "functional_keras2.h5", "sequential.keras"])
    func matchesKeras(_ file: String) throws {
        let golden = try Self.golden.get()
        let key = file.hasPrefix("functional") ? "functional" : "sequential"
        let model = try KerasModel(contentsOf: Self.folder.appendingPathComponent(file))
        #expect(model.architecture == (key == "functional" ? "Functional" : "Sequential"))
        #expect(model.droppedFinalSoftmax && model.inputShape.height == 32 && model.inputShape.channels == 3)
        model.eval()
        model.setRequiresGrad(false)
        let x = golden["\(key).input"]!
        let capture = try LayerCapture(model, layers: [key == "functional" ? "se_scale" : "conv_b"], gradients: false)
        let logits = model(x)
        let error = relativeL2(logits.scalars, golden["\(key).logits"]!.scalars)
        #expect(error <= 1e-5, "logits relative L2 \(error)")
        #expect(maxAbsDifference(logits.softmax(axis: 1).scalars, golden["\(key).output"]!.scalars) <= 1e-5)
        if key == "functional" {
            #expect(relativeL2(capture.outputs["se_scale"]!.scalars, golden["functional.se_scale"]!.scalars) <= 1e-5)
        }
    }

    /// CAM's head (GlobalAveragePooling2D, then Dense) and the layer it reads.
    @Test func classifierHeadForCAM() throws {
        let classifier = try ImageClassifier.load(modelFile: Self.folder.appendingPathComponent("functional.keras"))
        #expect(classifier.spec.summary.hasPrefix("Keras Functional"))
        #expect(classifier.spec.camLayer == "concat" && classifier.spec.pooledFeatures == "concat")
        #expect(classifier.spec.classifierWeight?.shape == [5, 14])
    }

    @Test func snakeCaseOfClassNames() {
        let cases = ["Conv2D": "conv2d", "DepthwiseConv2D": "depthwise_conv2d", "ReLU": "re_lu", "BatchNormalization": "batch_normalization",
                     "GlobalAveragePooling2D": "global_average_pooling2d", "PReLU": "p_re_lu", "InputLayer": "input_layer"]
        for (name, snake) in cases { #expect(KerasArchiveWeights.snakeCase(name) == snake, "\(name)") }
    }

    /// Layers that would run the file's Python code are refused by name.
    @Test func lambdaLayersAreRefused() throws {
        let config = #"{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}, {"class_name": "Lambda", "config": {"name": "code", "function": "..."}}]}}"#
        struct NoWeights: KerasWeightStore {
            func weights(layer name: String, kind: String, config: [String: Any], occurrence: Int) throws -> [String: Tensor] { [:] }
        }
        #expect(throws: KerasError.self) { _ = try KerasModel.parse(source: "m.keras", config: Data(config.utf8), weights: NoWeights()) }
        do { _ = try KerasModel.parse(source: "m.keras", config: Data(config.utf8), weights: NoWeights()) } catch {
            #expect("\(error)".contains("layer 'code' (Lambda)") && "\(error)".contains("never runs"))
        }
    }
}
