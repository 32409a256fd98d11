import Foundation
import Testing
import _FoveaTestSupport

let scream = cache.appendingPathComponent("styles/scream.jpg").path

@Suite struct StyleCommandTests {
    @Test func badArgumentsFailWithOneLine() throws {
        let broken = temporaryPath("jpg")
        try Data("not a jpeg".utf8).write(to: URL(fileURLWithPath: broken))
        try expectCleanFailure(["style", chelsea, broken, "--size", "32"], mentions: ["style \(broken)", "cannot read"])
        try expectCleanFailure(["style", "/nonexistent.jpg", scream, "--size", "32"], mentions: ["content /nonexistent.jpg", "not found"])
        try expectCleanFailure(["texture", broken], mentions: ["style \(broken)"])
        try expectCleanFailure(["style", chelsea, scream, "--size", "32", "--style-layers", "relu1_1,relu9_1"], mentions: ["relu9_1"])
        try expectCleanFailure(["texture", scream, "--layers", "block7_conv1"], mentions: ["block7_conv1"])
        try expectCleanFailure(["style", chelsea, scream, scream, "--style-weights", "1,2,3"], mentions: ["--style-weights", "3 weights for 2"])
        try expectCleanFailure(["style", chelsea, scream, "--size", "2"], mentions: ["--size"])
        try expectCleanFailure(["adain", chelsea, scream, "--alpha", "1.5"], mentions: ["--alpha 1.5", "0 and 1"])
        try expectCleanFailure(["adain", chelsea, "--styles", "\(scream),\(scream)", "--style-weights", "1"], mentions: ["--style-weights"])
        // A network of the wrong architecture: fashion-cnn's weights as a style network and as a decoder.
        let fashion = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Fovea/Resources/fashion-cnn.safetensors").path
        try expectCleanFailure(["stylize", chelsea, "--net", fashion], mentions: ["--net \(fashion)", "not a feed-forward style network"])
        try expectCleanFailure(["adain", chelsea, scream, "--decoder", fashion], mentions: ["--decoder \(fashion)", "not an AdaIN decoder"])
        let r = try fovea(["classify", chelsea, "--model", "vgg16-features"])
        #expect(r.status != 0 && r.err.contains("feature extractor"))
    }

    /// The bar for texture synthesis: from noise, the final style loss is no larger than
    /// that between two different random crops of the style image at the same size.
    @Test func textureMatchesTheStyleAsWellAsTheStyleMatchesItself() throws {
        let out = temporaryPath("png")
        let r = try fovea(["texture", scream, "--size", "64", "--steps", "40", "--json", "-o", out])
        #expect(r.status == 0, "\(r.err)")
        let rows = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [[String: Any]]
        let loss = rows[0]["styleLoss"] as! Double, baseline = rows[0]["cropBaseline"] as! Double
        #expect(loss <= baseline, "style loss \(loss) vs two crops \(baseline)")
        #expect(FileManager.default.fileExists(atPath: out))
    }

    @Test func styleTransferRunsCoarseToFine() throws {
        let out = temporaryPath("png")
        let r = try fovea(["style", chelsea, scream, "--size", "48,96", "--steps", "15", "--alpha", "1000", "--json", "-o", out])
        #expect(r.status == 0, "\(r.err)")
        let report = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(report["width"] as? Int == 96 && report["height"] as? Int == 64)
        let (content, style) = (report["contentLoss"] as! Double, report["styleLoss"] as! Double)
        #expect(content > 0 && style > 0 && (report["loss"] as! Double - content - style).magnitude < 1e-3 * (content + style))
    }

    /// A network trained for one step runs on an odd-sized image and gives that size back; so does AdaIN.
    @Test func feedForwardNetworksTrainSaveAndRun() throws {
        let folder = cache.appendingPathComponent("photos").path
        let net = temporaryPath("safetensors"), decoder = temporaryPath("safetensors")
        defer {
            for file in [net, net + ".checkpoint", decoder, decoder + ".checkpoint"] { try? FileManager.default.removeItem(atPath: file) }
        }
        let t = try fovea(["train-style", scream, "--content", folder, "--holdout", "2", "--steps", "1", "--crop", "32", "--batch", "2", "-o", net])
        #expect(t.status == 0, "\(t.err)")
        #expect(FileManager.default.fileExists(atPath: net + ".checkpoint"))
        let styled = temporaryPath("png")
        let s = try fovea(["stylize", chelsea, "--net", net, "--size", "67", "-o", styled])
        #expect(s.status == 0, "\(s.err)")
        #expect(s.out.contains("67x45"))
        let resumed = try fovea(["train-style", scream, "--content", folder, "--holdout", "2", "--steps", "2", "--crop", "32", "--batch", "2", "--resume", "-o", net])
        #expect(resumed.status == 0 && resumed.err.contains("resumed at step 1"), "\(resumed.err)")
        let a = try fovea(["train-adain", "--content", folder, "--styles", cache.appendingPathComponent("styles").path, "--holdout", "2",
                           "--steps", "1", "--crop", "32", "--batch", "1", "-o", decoder])
        #expect(a.status == 0, "\(a.err)")
        let out = temporaryPath("png")
        let d = try fovea(["adain", chelsea, scream, "--decoder", decoder, "--size", "61", "--alpha", "0.5", "-o", out])
        #expect(d.status == 0, "\(d.err)")
        #expect(d.out.contains("61x41"))
    }
}
