import Foundation
import Testing
import _FoveaTestSupport

@Suite struct SynthesisCommandTests {
    @Test func badArgumentsFailWithOneLine() throws {
        try expectCleanFailure(["visualize", "--layer", "_blocks.99", "--channel", "0"], mentions: ["_blocks.99"])
        try expectCleanFailure(["visualize", "--layer", "_blocks.4", "--channel", "40"], mentions: ["--channel 40", "0..<40"])
        try expectCleanFailure(["visualize", "--layer", "_fc", "--channel", "3", "--neuron"], mentions: ["--neuron", "spatial"])
        try expectCleanFailure(["visualize", "--class", "1", "--steps", "0"], mentions: ["--steps"])
        try expectCleanFailure(["visualize", "--class", "1", "--lr", "nan"], mentions: ["--lr"])
        try expectCleanFailure(["visualize", "--class", "1", "--lr=-0.5"], mentions: ["--lr"])
        try expectCleanFailure(["visualize", "--class", "1000"], mentions: ["--class 1000"])
        try expectCleanFailure(["visualize", "--model", "fashion-cnn", "--class", "Toaster"], mentions: ["--class Toaster"])
        try expectCleanFailure(["visualize", "--class", "1", "--transforms", "wobble:2"], mentions: ["--transforms", "wobble"])
        try expectCleanFailure(["visualize", "--layer", "_blocks.4", "--channel", "1", "--blur-every", "4"], mentions: ["--blur-every", "pixel"])
        try expectCleanFailure(["visualize", "--layer", "_blocks.1", "--direction", "1,2,3"], mentions: ["--direction", "3 values", "24 channels"])
        try expectCleanFailure(["visualize", "--layer", "_blocks.1", "--direction", "1,x"], mentions: ["--direction 1,x"])
        try expectCleanFailure(["visualize", "--direction", "1,2"], mentions: ["--direction needs --layer"])
        try expectCleanFailure(["visualize", "--layer", "_blocks.1", "--direction", "/nonexistent.npy"], mentions: ["/nonexistent.npy"])
        try expectCleanFailure(["visualize", "--class", "1", "--cosine-power", "2"], mentions: ["--cosine-power", "--direction"])
        try expectCleanFailure(["dream", chelsea, "--steps", "0"], mentions: ["--steps"])
        try expectCleanFailure(["invert", chelsea, "--layer", "_blocks.42"], mentions: ["_blocks.42"])
        let r = try fovea(["visualize", "--class", "1", "-o", "/nonexistent-folder/x.png"])
        #expect(r.status != 0 && r.err.contains("-o /nonexistent-folder/x.png"))
    }

    /// fashion-cnn (28x28 grayscale): a class visualisation is classified as its class, and the
    /// same seed gives the same file byte for byte.
    @Test func smallGrayscaleClassVisualisationIsSeededAndClassified() throws {
        let (a, b) = (temporaryPath("png"), temporaryPath("png"))
        let args = ["visualize", "--model", "fashion-cnn", "--class", "Sneaker", "--steps", "64", "--seed", "3", "--json"]
        let first = try fovea(args + ["-o", a])
        #expect(first.status == 0, "\(first.err)")
        let report = try JSONSerialization.jsonObject(with: Data(first.out.utf8)) as! [String: Any]
        let p = (report["classProbabilities"] as! [Double])[0]
        #expect(p > 0.9, "p(Sneaker) = \(p)")
        #expect(report["skippedSteps"] as? Int == 0)
        let second = try fovea(args + ["-o", b])
        #expect(second.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)))
    }

    /// --direction from a photo: the photo's mean activation at the layer as the direction; the
    /// visualisation scores higher on it than the photo itself does.
    @Test func directionFromAPhotoBeatsThePhoto() throws {
        let out = temporaryPath("png")
        let r = try fovea(["visualize", "--layer", "_blocks.2", "--direction", chelsea, "--cosine-power", "1", "--size", "96",
                           "--steps", "48", "--compare", chelsea, "--json", "-o", out])
        #expect(r.status == 0, "\(r.err)")
        let report = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let objective = report["objectiveOnImage"] as! Double
        let photo = (report["bestPhoto"] as! [String: Any])["objective"] as! Double
        #expect((report["objective"] as! String).hasPrefix("direction(_blocks.2)"))
        #expect(objective > photo, "visualisation \(objective) vs the photo itself \(photo)")
    }

    @Test func dreamAndInvertWriteTheirPictures() throws {
        let dream = temporaryPath("png")
        let d = try fovea(["dream", chelsea, "--layer", "_blocks.3", "--size", "64", "--octaves", "2", "--steps", "2", "-o", dream])
        #expect(d.status == 0, "\(d.err)")
        #expect(FileManager.default.fileExists(atPath: dream))
        let inverted = temporaryPath("png")
        let i = try fovea(["invert", chelsea, "--layer", "_blocks.1", "--steps", "30", "--json", "-o", inverted])
        #expect(i.status == 0, "\(i.err)")
        let rows = try JSONSerialization.jsonObject(with: Data(i.out.utf8)) as! [[String: Any]]
        let error = rows[0]["relativeError"] as! Double
        #expect(error < 0.5, "relative feature error \(error) after 30 steps")
        #expect(FileManager.default.fileExists(atPath: inverted))
    }

    @Test func helpTeachesThePriors() throws {
        let r = try fovea(["visualize", "--help"])
        for word in ["--tv", "--blur-every", "--gradient-blur", "--bilateral-every", "--octaves", "maco", "--priors-table", "Mahendran"] {
            #expect(r.out.contains(word), "\(word)")
        }
    }

    /// visualize on other people's exports: an ONNX graph (its own final Softmax read as
    /// logits, a fixed batch of 1) and a Keras Functional model, from the command line.
    @Test func visualizeImportedModels() throws {
        let exports = ONNXFixtures.folder.deletingLastPathComponent().appendingPathComponent("exports/torch_softmax.onnx").path
        let onnx = try fovea(["visualize", "--model-file", exports, "--class", "2", "--steps", "32", "--seed", "1", "--json", "-o", temporaryPath("png")])
        #expect(onnx.status == 0, "\(onnx.err)")
        let report = try JSONSerialization.jsonObject(with: Data(onnx.out.utf8)) as! [String: Any]
        #expect((report["classProbabilities"] as! [Double])[0] > 0.9 && report["skippedSteps"] as? Int == 0)
        let channel = try fovea(["visualize", "--model-file", exports, "--layer", "/features/features.4/Relu_output_0", "--channels", "0-3",
                                 "--steps", "16", "-o", temporaryPath("png")])
        #expect(channel.status == 0, "\(channel.err)")
        let keras = ONNXFixtures.folder.deletingLastPathComponent().appendingPathComponent("keras/functional.keras").path
        let k = try fovea(["visualize", "--model-file", keras, "--layer", "se_scale", "--channel", "3", "--steps", "16", "-o", temporaryPath("png")])
        #expect(k.status == 0, "\(k.err)")
    }
}
