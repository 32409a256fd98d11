import Foundation
import Testing
import Fovea
import FoveaAttribution
import FoveaEmbedding
import FoveaFeatures
import FoveaIO
import FoveaNN
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaONNX

/// Classifiers in the patterns exporters produce (Tests/Golden/make_exports_golden.py), against
/// onnxruntime: a final Softmax/LogSoftmax, channels-last activations between Transposes, a
/// fixed batch of 1, and GlobalAveragePool/ReduceMean + Flatten/Reshape + Gemm/MatMul heads.
@Suite struct ExportPatternTests {
    static let folder = ONNXFixtures.folder.deletingLastPathComponent().appendingPathComponent("exports")
    static let golden = try! Safetensors.load(folder.appendingPathComponent("exports.safetensors"))

    static func load(_ name: String, options: ImportOptions = ImportOptions()) throws -> ImageClassifier {
        try ImageClassifier.load(modelFile: folder.appendingPathComponent("\(name).onnx"), options: options)
    }

    /// The golden input as Fovea feeds it: N x C x H x W (tf_nhwc's is stored channels-last).
    static func input(_ name: String) -> Tensor {
        let x = golden["\(name).input"]!
        return name == "tf_nhwc" ? x.permuted([0, 3, 1, 2]).copy() : x
    }

    @Test(arguments: ["torch_softmax", "tf_nhwc", "reducemean_head"])
    func logitsFeaturesAndCAMMatchOnnxruntime(_ name: String) throws {
        let classifier = try Self.load(name)
        let x = Self.input(name)
        // Logits: the value before the graph's own Softmax/LogSoftmax, not softmaxed twice.
        let logits = classifier.logits(x)
        #expect(relativeL2(logits.scalars, Self.golden["\(name).logits"]!.scalars) <= 1e-5)
        let output = Self.golden["\(name).output"]!.scalars
        switch name {
        case "torch_softmax": #expect(maxAbsDifference(logits.softmax(axis: 1).scalars, output) <= 1e-6)
        case "tf_nhwc": #expect(maxAbsDifference(logits.logSoftmax(axis: 1).scalars, output) <= 1e-5)
        default: #expect(relativeL2(logits.scalars, output) <= 1e-5)
        }
        // The default embedding: what enters the final Gemm/MatMul.
        #expect(relativeL2(try classifier.features(x).scalars, Self.golden["\(name).features"]!.scalars) <= 1e-5)
        // CAM from the exported head: M_c = sum_k W[c, k] f_k over the pooled NCHW features.
        let spatial = Self.golden["\(name).spatial"]!.slice(axis: 0, 0..<1)
        let weight = Self.golden["\(name).weight"]!
        let (k, h, w) = (spatial.shape[1], spatial.shape[2], spatial.shape[3])
        let target = logits.slice(axis: 0, 0..<1).argmax()[0]
        let expected = weight.slice(axis: 0, target..<(target + 1)).matmul(spatial.reshaped([k, h * w]))
        let cam = try classifier.cam(x.slice(axis: 0, 0..<1), target: target)
        #expect(cam.height == h && cam.width == w)
        #expect(relativeL2(cam.values, expected.scalars) <= 1e-5)
        #expect(classifier.spec.camLayer == classifier.spec.pooledFeatures)
    }

    /// A graph exported for a batch of 1 runs a batch one image at a time, and a hook on a
    /// layer still sees the whole batch.
    @Test func fixedBatchOfOneRunsABatch() throws {
        let classifier = try Self.load("torch_softmax")
        let x = Self.input("torch_softmax")
        let batch = Tensor.concat([x, x * 0.5, -x], axis: 0)
        let layer = classifier.spec.camLayer
        let capture = try LayerCapture(classifier.module, layers: [layer], gradients: false)
        let logits = classifier.logits(batch)
        #expect(logits.shape == [3, 5])
        #expect(capture.outputs[layer]?.shape[0] == 3)
        for (b, image) in [x, x * 0.5, -x].enumerated() {
            #expect(maxAbsDifference(logits.slice(axis: 0, b..<(b + 1)).scalars, classifier.logits(image).scalars) <= 1e-5)
        }
        // Gradients flow through the per-image pass.
        let input = batch.detached()
        input.requiresGrad = true
        classifier.module(input).slice(axis: 1, 2..<3).sum().backward()
        let g = input.grad!
        let single = x.detached()
        single.requiresGrad = true
        classifier.module(single).slice(axis: 1, 2..<3).sum().backward()
        #expect(maxAbsDifference(g.slice(axis: 0, 0..<1).scalars, single.grad!.scalars) <= 1e-6)
    }

    /// Channels-last values are shown to hooks as N x C x H x W; a value in another order is
    /// refused as a map layer, and CAM's default layer is an NCHW one.
    @Test func layoutsAreFollowed() throws {
        let tf = try Self.load("tf_nhwc")
        let graph = try #require(tf.module as? ONNXGraph)
        #expect(graph.layout(of: "conv2/Relu") == .nhwc)
        #expect(graph.layout(of: "conv2/BiasAdd") == .nchw)
        #expect(tf.spec.camLayer == "conv2/scaled")
        let shapes = Dictionary(uniqueKeysWithValues: tf.module.layerShapes(input: [1, 3, 32, 32]).map { ($0.path, $0.shape) })
        #expect(shapes["conv2/Relu"] == [1, 12, 16, 16])
        #expect(shapes["pool1_nhwc"] == [1, 8, 16, 16])

        let odd = try Self.load("odd_transpose")
        #expect((odd.module as? ONNXGraph)?.layout(of: "relu") == .unknown)
        #expect(odd.spec.camLayer == "conv")
        #expect(throws: LayerAxisError.self) { try LayerCapture(odd.module, layers: ["relu"]) }
        #expect(throws: FoveaError.self) { try odd.cam(Tensor(zeros: [1, 3, 32, 32]), target: 0) }
    }

    /// `--channel-order bgr`: the graph sees the input's channels reversed; mean and std are
    /// read in the model's order. `--pixel-scale 255`: they are on the 0...255 scale.
    @Test func channelOrderAndPixelScale() throws {
        let rgb = try Self.load("reducemean_head")
        let bgr = try Self.load("reducemean_head", options: ImportOptions(mean: [103.939, 116.779, 123.68], std: [1], bgr: true, pixelScale: 255))
        #expect(bgr.preprocessing.mean == [123.68, 116.779, 103.939])
        #expect(bgr.preprocessing.std == [1, 1, 1])
        let x = Self.input("reducemean_head")
        #expect(maxAbsDifference(bgr.logits(x).scalars, rgb.logits(x.reversed(axis: 1)).scalars) <= 1e-5)
        let scaled = try Self.load("reducemean_head", options: ImportOptions(mean: [0.5], std: [0.25]))
        #expect(scaled.preprocessing.mean == [127.5, 127.5, 127.5] && scaled.preprocessing.std == [63.75, 63.75, 63.75])
    }

    /// Every ONNX Conv with a constant weight is a filter layer.
    @Test func convolutionWeightsAreFilters() throws {
        let classifier = try Self.load("tf_nhwc")
        let first = try #require(FilterGrid.firstConvolution(of: classifier.module, input: [1, 3, 32, 32]))
        #expect(first == "conv1/BiasAdd")
        let weight = try #require((classifier.module.module(at: first) as? ConvolutionWeighted)?.convolutionWeight)
        #expect(weight.shape == [8, 3, 3, 3])
        #expect((classifier.module.module(at: "conv2/Relu") as? ConvolutionWeighted)?.convolutionWeight == nil)
    }
}
