import Foundation
import Testing
import _FoveaTestSupport

/// Every command on exported classifiers as they come (Tests/Golden/make_exports_golden.py):
/// a final Softmax, a fixed batch of 1, channels-last activations; and files that are not models.
@Suite struct ImportedModelCommandTests {
    static let exports = ONNXFixtures.folder.deletingLastPathComponent().appendingPathComponent("exports").path
    static let softmaxModel = "\(exports)/torch_softmax.onnx"
    static let nhwcModel = "\(exports)/tf_nhwc.onnx"
    static let photos = cache.appendingPathComponent("photos").path

    /// The graph's own Softmax is not applied twice: the top class keeps its p = 0.999 (softmax of
    /// probabilities would flatten it below e / (e + 4) = 0.40), and `layers` says so.
    @Test func finalSoftmaxIsReadAsLogits() throws {
        let r = try fovea(["classify", chelsea, "--model-file", Self.softmaxModel, "--json"])
        #expect(r.status == 0, "\(r.err)")
        let rows = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [[String: Any]]
        let top = (rows[0]["top"] as! [[String: Any]])[0]["probability"] as! Double
        #expect(top > 0.99, "top probability \(top)")
        let layers = try fovea(["layers", "--model-file", Self.softmaxModel])
        #expect(layers.out.contains("ends in Softmax") && layers.out.contains("batch of 1"))
        let nhwc = try fovea(["layers", "--model-file", Self.nhwcModel])
        #expect(nhwc.out.contains("ends in LogSoftmax") && nhwc.out.contains("NHWC in the file"))
    }

    /// A graph exported for one image runs in every command that batches.
    @Test func fixedBatchRunsEverywhere() throws {
        let folder = temporaryPath("")
        let explain = try fovea(["explain", Self.photos, "--model-file", Self.softmaxModel, "-o", folder])
        #expect(explain.status == 0, "\(explain.err)")
        let embedding = temporaryPath("npy")
        let embed = try fovea(["embed", Self.photos, "--model-file", Self.softmaxModel, "-o", embedding])
        #expect(embed.status == 0, "\(embed.err)")
        #expect(embed.out.contains("x 16 features (/Flatten_output_0, the input of /fc/Gemm_output_0)"), "\(embed.out)")
        let patches = try fovea(["top-patches", Self.photos, "--model-file", Self.nhwcModel, "--layer", "conv2/Relu", "-o", temporaryPath("png")])
        #expect(patches.status == 0, "\(patches.err)")
        let saliency = try fovea(["saliency", chelsea, "--model-file", Self.nhwcModel, "--method", "cam", "-o", temporaryPath("png")])
        #expect(saliency.status == 0, "\(saliency.err)")
        #expect(saliency.out.contains("cam at conv2/scaled") && saliency.out.contains("16x16 map"), "\(saliency.out)")
    }

    @Test func filtersOfImportedConvolutions() throws {
        let out = temporaryPath("png")
        let r = try fovea(["filters", "--model-file", Self.nhwcModel, "-o", out])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("conv1/BiasAdd: weights 8x3x3x3"), "\(r.out)")
        try expectCleanFailure(["filters", "--model-file", Self.nhwcModel, "--layer", "gap", "-o", out], mentions: ["--layer gap", "not a convolution"])
    }

    /// Graphs that are not classifiers are listed node by node; files that are not models, and
    /// folders, pipes and devices, get one line.
    @Test func notClassifiersAndNotModels() throws {
        let graph = ONNXFixtures.folder.appendingPathComponent("operators.onnx").path
        let r = try fovea(["layers", "--model-file", graph])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("not used as an image classifier") && r.out.contains("outputs: probabilities, log_probabilities, gram"))
        let text = temporaryPath("onnx")
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: text))
        try expectOneLineFailure(["layers", "--model-file", text], mentions: [text, "ONNX (.onnx) and Keras (.h5, .keras)"])
        try expectOneLineFailure(["layers", "--model-file", NSTemporaryDirectory()], mentions: ["a folder, not a model file"])
        try expectCleanFailure(["classify", chelsea, "--weights", "/dev/zero"], mentions: ["/dev/zero", "a device"])
        let fifo = temporaryPath("fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        try expectOneLineFailure(["layers", "--model-file", fifo], mentions: ["a pipe (FIFO)"])
        try expectCleanFailure(["classify", chelsea, "--model-file", Self.softmaxModel, "--channel-order", "grb"], mentions: ["--channel-order grb"])
        try expectCleanFailure(["classify", chelsea, "--model-file", Self.softmaxModel, "--pixel-scale", "100"], mentions: ["--pixel-scale 100"])
    }
}
