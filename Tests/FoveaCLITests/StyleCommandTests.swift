import Foundation
import Testing
import FoveaIO
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

    /// With --average-decay the checkpoint keeps the averaged weights beside the trained ones, the
    /// network file is the average, and a resumed run continues the average.
    @Test func averagedTrainingSavesTheAverage() throws {
        let folder = cache.appendingPathComponent("photos").path
        let net = temporaryPath("safetensors")
        defer { for f in [net, net + ".checkpoint"] { try? FileManager.default.removeItem(atPath: f) } }
        let base = ["train-style", scream, "--content", folder, "--holdout", "2", "--crop", "32", "--batch", "1", "--average-decay", "0.5", "-o", net]
        #expect(try fovea(base + ["--steps", "2", "--checkpoint-every", "1"]).status == 0)
        let checkpoint = try Safetensors.load(URL(fileURLWithPath: net + ".checkpoint")), saved = try Safetensors.load(URL(fileURLWithPath: net))
        let averaged = saved.keys.filter { checkpoint["average.\($0)"] != nil }
        #expect(averaged.count == saved.count && saved.count > 10)
        #expect(averaged.allSatisfy { saved[$0]!.scalars == checkpoint["average.\($0)"]!.scalars })
        #expect(averaged.contains { saved[$0]!.scalars != checkpoint["net.\($0)"]!.scalars })
        let resumed = try fovea(base + ["--steps", "3", "--resume"])
        #expect(resumed.status == 0 && resumed.err.contains("resumed at step 2") && !resumed.err.contains("no averaged weights"), "\(resumed.err)")
        let bad = try fovea(base + ["--steps", "1", "--average-decay", "1"])
        #expect(bad.status != 0 && bad.err.split(separator: "\n").count == 1 && bad.err.contains("--average-decay 1.0: must be from 0 to below 1"), "\(bad.err)")
    }

    /// --from starts training at a network's weights: with a vanishing learning rate the
    /// result is that network; without --from training starts elsewhere.
    @Test func trainingFromANetworkStartsAtItsWeights() throws {
        let folder = cache.appendingPathComponent("photos").path
        let (first, tuned, fresh) = (temporaryPath("safetensors"), temporaryPath("safetensors"), temporaryPath("safetensors"))
        defer { for f in [first, tuned, fresh] { for g in [f, f + ".checkpoint"] { try? FileManager.default.removeItem(atPath: g) } } }
        let base = ["train-style", scream, "--content", folder, "--holdout", "2", "--steps", "1", "--crop", "32", "--batch", "1"]
        #expect(try fovea(base + ["-o", first]).status == 0)
        let t = try fovea(base + ["--from", first, "--lr", "1e-30", "--seed", "5", "-o", tuned])
        #expect(t.status == 0 && t.err.contains("started from"), "\(t.err)")
        #expect(try fovea(base + ["--lr", "1e-30", "--seed", "5", "-o", fresh]).status == 0)
        let a = try Safetensors.load(URL(fileURLWithPath: first)), b = try Safetensors.load(URL(fileURLWithPath: tuned))
        let c = try Safetensors.load(URL(fileURLWithPath: fresh))
        #expect(a.count > 10 && Set(a.keys) == Set(b.keys))
        // Adam moves each weight by at most about the learning rate (zeros become 1e-30 denormals).
        #expect(a.keys.allSatisfy { key in zip(a[key]!.scalars, b[key]!.scalars).allSatisfy { abs($0 - $1) <= 1e-6 * abs($0) + 1e-25 } })
        #expect(a.keys.contains { a[$0]!.scalars != c[$0]!.scalars })
        for (args, mention) in [(["--from", first, "--resume"], "--from and --resume"),
                                (["--from", "/nonexistent.safetensors"], "--from /nonexistent.safetensors: file not found"),
                                (["--layer-weights", "1,4,16"], "--layer-weights: 3 weights for 4 layers"),
                                (["--layer-weights", "0,0,0,0"], "--layer-weights 0,0,0,0: at least one weight must be positive"),
                                (["--style-layers", "relu1_1,relu9_1"], "--style-layers: vgg16-features has no layer relu9_1"),
                                (["--style-layers", "relu1_1,block2_conv1", "--layer-weights", "1,2,3"], "--layer-weights: 3 weights for 2 layers"),
                                (["--content-layer", "fc7"], "--content-layer: vgg16-features has no layer fc7"),
                                (["--style-layers", " , "], "--style-layers: give at least one layer")] {
            let r = try fovea(base + args + ["-o", tuned])
            #expect(r.status != 0 && r.out.isEmpty && r.err.split(separator: "\n").count == 1 && r.err.contains(mention), "\(r.err)")
        }
    }
}
