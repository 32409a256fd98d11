import Foundation
import Testing
import _FoveaTestSupport

/// One command line: -o is the output everywhere, lists take commas, train reads its dataset
/// like every other command, JSON paths are plain.
@Suite struct CommandLineTests {
    /// saliency --sanity -o: the report's steps and NAME-sanity.png with a panel per step
    /// (21 steps for EfficientNet-Lite0: 23 panels, 4 rows of 6).
    @Test func sanityCheckDrawsItsSteps() throws {
        let out = temporaryPath("png")
        let r = try fovea(["saliency", chelsea, "--method", "gradcam", "--sanity", "--no-faithfulness", "--json", "-o", out])
        #expect(r.status == 0, "\(r.err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect((report["sanity"] as? [[String: Any]])?.count == 21)
        let figure = String(out.dropLast(4)) + "-sanity.png"
        let header = [UInt8](try Data(contentsOf: URL(fileURLWithPath: figure)).prefix(24))
        let (width, height) = (header[16..<20].reduce(0) { $0 << 8 | Int($1) }, header[20..<24].reduce(0) { $0 << 8 | Int($1) })
        #expect(width >= 6 * 128 && height >= 4 * 128 && height < 5 * 128 + 60, "\(width)x\(height)")
    }

    /// explain --scale shared: a folder's maps of one method on one colour range, so at least
    /// one image's grid differs from its own-range (--scale each) grid.
    @Test func explainScaleSharedDrawsOneRangePerMethod() throws {
        let photos = temporaryPath("photos")
        try FileManager.default.createDirectory(atPath: photos, withIntermediateDirectories: true)
        for name in ["chelsea.png", "coffee.png"] {
            try FileManager.default.copyItem(atPath: cache.appendingPathComponent("photos/\(name)").path, toPath: photos + "/" + name)
        }
        var grids: [String: [Data]] = [:]
        var index: [String: Any] = [:]
        for scale in ["each", "shared"] {
            let out = temporaryPath("explain")
            let r = try fovea(["explain", photos, "--methods", "gradcam,gradient", "--scale", scale, "-o", out] + (scale == "shared" ? ["--json"] : []))
            #expect(r.status == 0, "\(r.err)")
            grids[scale] = try ["chelsea", "coffee"].map { try Data(contentsOf: URL(fileURLWithPath: "\(out)/\($0).png")) }
            let page = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
            #expect(page.contains("chelsea.html") && page.contains("coffee.html") && page.contains("<polyline"))
            if scale == "shared" { index = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]) }
        }
        #expect(grids["each"] != grids["shared"])
        // The folder's index: each method's mean is the mean of its images' scores.
        let methods = try #require(index["methods"] as? [[String: Any]]), images = try #require(index["images"] as? [[String: Any]])
        #expect(methods.map { $0["method"] as? String } == ["gradcam", "gradient"] && images.count == 2)
        for (m, method) in methods.enumerated() {
            let scores = images.map { (($0["scores"] as! [[String: Any]])[m]["deletionAUC"] as! Double) }
            #expect(abs((method["meanDeletionAUC"] as! Double) - scores.reduce(0, +) / 2) < 1e-6)
            #expect((method["meanDeletionCurve"] as! [Double]).count == 33)
        }
    }

    @Test func listsTakeCommasAndOutputIsDashO() throws {
        let folder = temporaryPath("explain")
        let exports = ONNXFixtures.folder.deletingLastPathComponent().appendingPathComponent("exports/torch_softmax.onnx").path
        let r = try fovea(["explain", chelsea, "--model-file", exports, "--methods", "gradcam,occlusion", "-o", folder])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("gradcam") && r.out.contains("occlusion") && !r.out.contains("smoothgrad"), "\(r.out)")
        try expectOneLineFailure(["explain", chelsea, "--methods", "gradcam,wobble", "-o", folder], mentions: ["--methods wobble", "gradcam"])
        // classify: -o, --output and the old --figure name the same picture.
        for flag in ["-o", "--output", "--figure"] {
            let png = temporaryPath("png")
            let c = try fovea(["classify", chelsea, "--model", "fashion-cnn", flag, png])
            #expect(c.status == 0 && FileManager.default.fileExists(atPath: png), "\(flag): \(c.err)")
        }
    }

    @Test func trainTakesAPositionalDatasetAndModel() throws {
        try expectOneLineFailure(["train", "fashion-mnist", "--model", "nonet", "-o", temporaryPath("safetensors")], mentions: ["--model nonet"])
        try expectOneLineFailure(["train", "--model", "fashion-cnn", "-o", temporaryPath("safetensors")], mentions: ["fovea train DATASET"])
    }

    @Test func versionAndPlainJSONPaths() throws {
        let v = try fovea(["--version"])
        #expect(v.status == 0 && v.out.hasPrefix("fovea "), "\(v.out)")
        let j = try fovea(["classify", chelsea, "--model", "fashion-cnn", "--json"])
        #expect(j.out.contains("\"file\" : \"\(chelsea)\"") && !j.out.contains("\\/"), "\(j.out)")
    }

    /// --json where a script wants numbers; grayscale models' receptive fields (the probe used
    /// to be 3-channel, silently wrong until the engine's checks stopped it).
    @Test func jsonReportsAndGrayscaleTopPatches() throws {
        let r = try fovea(["top-patches", "fashion-mnist:test", "--model", "fashion-cnn", "--layer", "features.6", "--top-channels", "2", "--k", "3",
                           "--json", "-o", temporaryPath("png")])
        #expect(r.status == 0, "\(r.err)")
        let report = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let field = report["receptiveField"] as! Int
        #expect(field > 3 && field <= 28, "receptive field \(field)")
        let channels = report["channels"] as! [[String: Any]]
        #expect(channels.count == 2 && (channels[0]["patches"] as! [Any]).count == 3)
        let layers = try fovea(["layers", "--model", "fashion-cnn", "--json"])
        let rows = (try JSONSerialization.jsonObject(with: Data(layers.out.utf8)) as! [String: Any])["layers"] as! [[String: Any]]
        #expect(rows.contains { $0["layer"] as? String == "features.0" && $0["shape"] as? [Int] == [1, 32, 28, 28] })
        let models = try fovea(["models", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(models.out.utf8)) as! [[String: Any]]).contains { $0["name"] as? String == "resnet50" })
    }
}
