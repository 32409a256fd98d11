import Foundation
import FoveaTensor
import Testing
import _FoveaTestSupport

/// Runs the built `fovea` binary (next to the test bundle), with `environment` added to this
/// process's and the variables named in `unsetting` removed, and returns (status, stdout, stderr).
func fovea(_ arguments: [String], environment: [String: String] = [:],
           unsetting: [String] = []) throws -> (status: Int32, out: String, err: String) {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let binary = directory.appendingPathComponent("fovea")
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if !environment.isEmpty || !unsetting.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            .filter { !unsetting.contains($0.key) }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

let cache = URL(fileURLWithPath: ProcessInfo.processInfo.environment["FOVEA_CACHE"]
    ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/fovea").path)
let chelsea = cache.appendingPathComponent("photos/chelsea.png").path
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("FoveaIOTests/Fixtures")

func temporaryFile(_ name: String, _ contents: Data) throws -> String {
    let dir = Scratch.url("fovea-cli")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try contents.write(to: url)
    return url.path
}

@Suite struct ClassifyCommandTests {
    @Test func classifiesChelseaLikePyTorch() throws {
        let r = try fovea(["classify", chelsea, "--top", "3"])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[1].contains("282") && lines[1].contains("tiger cat") && lines[1].hasSuffix("0.385"))
        #expect(lines[2].contains("285") && lines[2].contains("Egyptian cat") && lines[2].hasSuffix("0.363"))
        #expect(lines[3].contains("281") && lines[3].contains("tabby") && lines[3].hasSuffix("0.167"))
    }

    @Test func jsonOutput() throws {
        let r = try fovea(["classify", chelsea, "--top", "2", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let parsed = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [[String: Any]]
        let top = parsed[0]["top"] as! [[String: Any]]
        #expect(top.count == 2)
        #expect(top[0]["index"] as? Int == 282)
        #expect(abs((top[0]["probability"] as! Double) - 0.385) < 0.0015)
    }

    @Test func figureIsAPNGWithTheCrop() throws {
        let out = Scratch.url("fovea-figure", ext: "png").path
        let r = try fovea(["classify", chelsea, "--top", "3", "-o", out])
        #expect(r.status == 0, "\(r.err)")
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(data.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        // IHDR width and height (big-endian) at bytes 16..<24: the 224-pixel crop plus margins.
        let height = data[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(height == 224 + 24)
    }

    /// -o fig.svg: vector text (glyph paths) around the embedded crop, at the PNG's size.
    @Test func figureAsSVG() throws {
        let out = Scratch.url("fovea-figure", ext: "svg").path
        let r = try fovea(["classify", chelsea, "--top", "3", "-o", out])
        #expect(r.status == 0, "\(r.err)")
        let svg = try String(contentsOfFile: out, encoding: .utf8)
        #expect(svg.contains("<svg") && svg.contains("height=\"\(224 + 24)px\""))
        #expect(svg.contains("<image") && svg.contains("glyph"))
        let bad = try fovea(["classify", chelsea, "-o", "/tmp/figure.eps"])
        #expect(bad.status != 0 && bad.err.contains("-o /tmp/figure.eps: use a .png or .jpg or .jpeg or .svg or .pdf file name"), "\(bad.err)")
    }

    @Test func failedRunWritesNoFigure() throws {
        let out = Scratch.url("fovea-figure", ext: "png").path
        let r = try fovea(["classify", chelsea, "/nonexistent/x.png", "-o", out])
        #expect(r.status != 0)
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func cropNoneUsesAnInputSizedImageAsIs() throws {
        // The golden 224x224 crop with --crop none must give the same answer as the photo.
        let crop = fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Golden/efficientnet_lite0/chelsea_input.png").path
        let r = try fovea(["classify", crop, "--crop", "none", "--top", "1", "--json"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("\"index\" : 282"))
        #expect(r.out.contains("0.3851"))
    }
}

@Suite struct BadInputTests {
    /// A failure is one line on stderr naming `mention`, nothing on stdout, exit status non-zero.
    func expectCleanFailure(_ args: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try fovea(args)
        #expect(r.status != 0, sourceLocation: sourceLocation)
        #expect(r.out.isEmpty, "stdout: \(r.out)", sourceLocation: sourceLocation)
        let lines = r.err.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count == 1, "stderr: \(r.err)", sourceLocation: sourceLocation)
        for m in mentions { #expect(r.err.contains(m), "stderr \(r.err) lacks \(m)", sourceLocation: sourceLocation) }
        #expect(!r.err.contains("Fatal error"), sourceLocation: sourceLocation)
    }

    @Test func benchUnknownMethod() throws {
        try expectCleanFailure(["bench", "--methods", "gradient,smoothgrad"],
                               mentions: ["--methods", "smoothgrad", "integrated-gradients"])
    }

    /// --threads (anywhere on the line) and FOVEA_THREADS size the pool; bad values are one line.
    @Test func threadCountFromFlagOrEnvironment() throws {
        let quick = ["--models", "", "--attribution-runs", "0", "--workload-runs", "0"]
        let flag = try fovea(["bench"] + quick + ["--threads", "3"])
        #expect(flag.status == 0 && flag.out.contains("; 3 threads"), "\(flag.out) \(flag.err)")
        let before = try fovea(["--threads=1", "bench"] + quick)
        #expect(before.status == 0 && before.out.contains("; 1 thread\n"), "\(before.out) \(before.err)")
        let env = try fovea(["bench"] + quick, environment: ["FOVEA_THREADS": "5"])
        #expect(env.status == 0 && env.out.contains("; 5 threads"), "\(env.out) \(env.err)")
        try expectCleanFailure(["bench", "--threads", "0"], mentions: ["--threads 0", "1 to 1024"])
        try expectCleanFailure(["classify", "--threads"], mentions: ["--threads needs a number"])
    }

    /// Where OpenBLAS falls back to its SSE3 kernels on a CPU with AVX2 or AVX-512 (one newer
    /// than the library), the command line runs itself again with the kernels the CPU has; a
    /// choice the environment makes is kept.
    @Test func blasKernelsForTheCPU() throws {
        let quick = ["bench", "--models", "", "--attribution-runs", "0", "--workload-runs", "0"]
        let pinned = try fovea(quick, environment: ["OPENBLAS_CORETYPE": "Haswell"])
        #expect(pinned.status == 0 && pinned.out.hasPrefix("GEMM: OpenBLAS Haswell (OPENBLAS_CORETYPE=Haswell);")
                    || pinned.out.contains("Accelerate"), "\(pinned.out) \(pinned.err)")
        let chosen = try fovea(quick, unsetting: ["OPENBLAS_CORETYPE"])
        #expect(chosen.status == 0 && chosen.out.hasPrefix("GEMM: "), "\(chosen.out) \(chosen.err)")
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if Set(["avx2", "fma"]).isSubset(of: BLASKernels.flags(cpuinfo: cpuinfo)) {
            #expect(!chosen.out.hasPrefix("GEMM: OpenBLAS Prescott"), "\(chosen.out)")
        }
    }

    @Test func missingImage() throws {
        try expectCleanFailure(["classify", "/nonexistent/cat.png"], mentions: ["/nonexistent/cat.png"])
    }

    @Test func corruptImage() throws {
        let path = try temporaryFile("cat.png", Data("this is not a picture".utf8))
        try expectCleanFailure(["classify", path], mentions: [path])
        let png = try Data(contentsOf: URL(fileURLWithPath: chelsea))
        let truncated = try temporaryFile("cut.png", png.prefix(png.count / 3))
        try expectCleanFailure(["classify", truncated], mentions: [truncated])
    }

    @Test func oneBadImageAmongGoodOnesPrintsNothing() throws {
        try expectCleanFailure(["classify", chelsea, "/nonexistent/dog.jpg"], mentions: ["/nonexistent/dog.jpg"])
    }

    @Test func truncatedCheckpoint() throws {
        let weights = cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth")
        let data = try Data(contentsOf: weights)
        let path = try temporaryFile("cut.pth", data.prefix(data.count / 2))
        try expectCleanFailure(["classify", chelsea, "--weights", path], mentions: [path])
    }

    @Test func maliciousCheckpoints() throws {
        for name in ["evil_zip.pt", "evil_legacy.pt"] {
            let path = fixtures.appendingPathComponent(name).path
            try expectCleanFailure(["classify", chelsea, "--weights", path], mentions: [path, "forbidden global"])
        }
    }

    @Test func checkpointOfAnotherModel() throws {
        // A valid checkpoint with the wrong keys and shapes for EfficientNet-Lite0.
        let path = fixtures.appendingPathComponent("tiny_zip.pt").path
        try expectCleanFailure(["classify", chelsea, "--weights", path], mentions: [path, "missing keys"])
    }

    @Test func randomWeightsAreNotedOnlyOnSuccess() throws {
        let r = try fovea(["classify", chelsea, "--model", "resnet18", "--top", "1"])
        #expect(r.status == 0)
        #expect(r.err.contains("fovea: note: resnet18 has no fetched weights and runs with a random initialisation"))
        try expectCleanFailure(["classify", "/nonexistent/x.png", "--model", "resnet18"], mentions: ["/nonexistent/x.png"])
    }

    @Test func unknownModelAndLayer() throws {
        try expectCleanFailure(["classify", chelsea, "--model", "resnet9000"], mentions: ["resnet9000", "efficientnet-lite0"])
        try expectCleanFailure(["layers", "--model", "efficientnet-lite0", "--layer", "_blocks.42"], mentions: ["_blocks.42", "_blocks.15"])
    }

    @Test func badOptionValue() throws {
        try expectCleanFailure(["classify", chelsea, "--top", "0"], mentions: ["--top"])
        try expectCleanFailure(["classify", chelsea, "--crop", "diagonal"], mentions: ["--crop"])
    }
}

@Suite struct HelpAndListingTests {
    @Test func helpTeachesTheCommands() throws {
        let r = try fovea(["--help"])
        #expect(r.status == 0)
        for word in ["classify", "layers", "models", "FOVEA_CACHE", "_blocks.15"] { #expect(r.out.contains(word)) }
        let c = try fovea(["classify", "--help"])
        for word in ["--top", "--crop", "--json", "--weights", "87.5%"] { #expect(c.out.contains(word), "\(word)") }
    }

    @Test func layersListsPyTorchPathsWithShapes() throws {
        let r = try fovea(["layers", "--model", "resnet18", "--depth", "2"])
        #expect(r.status == 0, "\(r.err)")
        let row = try #require(r.out.split(separator: "\n").first { $0.hasPrefix("layer4.1 ") })
        #expect(row.contains("1x512x7x7") && row.contains("BasicBlock"))
        let e = try fovea(["layers", "--layer", "_blocks.15"])
        #expect(e.out.contains("_blocks.15._depthwise_conv") && e.out.contains("1x1152x7x7"))
    }
}

@Suite struct SaliencyCommandTests {
    @Test func gradCAMWritesMapOverlayAndJSON() throws {
        let (npy, png) = (temporaryPath("npy"), temporaryPath("png"))
        let r = try fovea(["saliency", chelsea, "--method", "gradcam", "--layer", "_conv_head", "--npy", npy, "-o", png, "--json"])
        #expect(r.status == 0, "\(r.err)")
        let report = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(report["target"] as? Int == 282)
        #expect(report["layer"] as? String == "_conv_head")
        #expect(report["height"] as? Int == 7)
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: npy)).prefix(80), as: UTF8.self)
        #expect(header.contains("'descr': '<f4'") && header.contains("(7, 7)"))
        #expect(FileManager.default.fileExists(atPath: png))
    }

    @Test func gradientMapIsAtInputSizeAndTargetsByLabel() throws {
        let npy = temporaryPath("npy")
        let r = try fovea(["saliency", chelsea, "--method", "gradient", "--target", "Egyptian cat", "--npy", npy])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("285 Egyptian cat"))
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: npy)).prefix(80), as: UTF8.self)
        #expect(header.contains("(224, 224)"))
    }

    @Test func badSaliencyInputFailsCleanly() throws {
        let png = temporaryPath("png")
        for args in [["--method", "gradcam", "--layer", "_blocks.99"], ["--method", "cam", "--model", "vgg16"],
                     ["--method", "gradcam", "--target", "not a class"], ["--method", "lime"],
                     ["--method", "occlusion", "--window", "500"], ["--method", "gradient", "--layer", "_blocks.15"],
                     ["--method", "integrated-gradients", "--steps", "0"]] {
            let r = try fovea(["saliency", chelsea, "-o", png] + args)
            #expect(r.status != 0, "\(args)")
            #expect(r.out.isEmpty)
            #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: png))
    }
}

@Suite struct ExplainCommandTests {
    @Test func explainsAFolderWithGridAndSelfContainedHTML() throws {
        let dir = Scratch.url("fovea-explain")
        let photos = dir.appendingPathComponent("in"), out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        // Two small images keep this quick: the golden 224x224 crops.
        let golden = fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Golden/efficientnet_lite0")
        for name in ["chelsea_input.png", "coffee_input.png"] {
            try FileManager.default.copyItem(at: golden.appendingPathComponent(name), to: photos.appendingPathComponent(name))
        }
        let r = try fovea(["explain", photos.path, "--crop", "none", "-o", out.path,
                           "--methods", "gradient,cam,gradcam,gradcam++"])
        #expect(r.status == 0, "\(r.err)")
        for stem in ["chelsea_input", "coffee_input"] {
            let html = try String(contentsOf: out.appendingPathComponent("\(stem).html"), encoding: .utf8)
            #expect(html.contains("data:image/png;base64,"))
            #expect(!html.contains("src=\"http"))
            for method in ["gradient", "cam", "gradcam", "gradcam++"] {
                #expect(html.contains(">\(method)"), "\(stem).html lacks \(method)")
            }
            #expect(html.contains("deletion AUC") && html.contains("insertion AUC"))
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("\(stem).png").path))
        }
        #expect(r.out.contains("282 tiger cat") && r.out.contains("967 espresso"))
    }

    @Test func explainSkipsCAMWhereItDoesNotApply() throws {
        let out = Scratch.url("fovea-explain")
        let golden = fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Golden/efficientnet_lite0")
        let r = try fovea(["explain", golden.appendingPathComponent("coffee_input.png").path, "--model", "vgg11",
                           "-o", out.path, "--methods", "cam,gradient"])
        #expect(r.status == 0, "\(r.err)")
        let html = try String(contentsOf: out.appendingPathComponent("coffee_input.html"), encoding: .utf8)
        #expect(html.contains("Not applicable") && html.contains("cam: vgg11 does not end in global average pooling"))
    }

    @Test func emptyOrMissingInputFailsCleanly() throws {
        let empty = Scratch.url("fovea-empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        for path in [empty.path, "/nonexistent/photos"] {
            let r = try fovea(["explain", path, "-o", empty.appendingPathComponent("out").path])
            #expect(r.status != 0)
            #expect(r.err.contains(path))
        }
        #expect(!FileManager.default.fileExists(atPath: empty.appendingPathComponent("out").path))
        // A one-letter output folder (Foundation's path splitting trapped on it).
        try expectOneLineFailure(["explain", "/nonexistent/photos", "-o", "q"], mentions: ["/nonexistent/photos"])
    }
}

@Suite struct FeatureCommandTests {
    @Test func filtersAndActivationsWritePictures() throws {
        let dir = Scratch.url("fovea-features")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let filters = try fovea(["filters", "-o", dir.appendingPathComponent("f.png").path])
        #expect(filters.status == 0, "\(filters.err)")
        #expect(filters.out.contains("_conv_stem: weights 32x3x3x3"))
        let act = try fovea(["activations", chelsea, "--layer", "_blocks.2", "--top", "4", "-o", dir.appendingPathComponent("a.png").path])
        #expect(act.status == 0, "\(act.err)")
        #expect(act.out.contains("_blocks.2: 24x56x56"))
        for name in ["f.png", "a.png"] { #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path)) }
    }

    @Test func topPatchesReportTheReceptiveField() throws {
        let out = Scratch.url("fovea-patches", ext: "png").path
        let r = try fovea(["top-patches", cache.appendingPathComponent("photos").path, "--layer", "_blocks.4",
                           "--top-channels", "3", "--k", "2", "-o", out])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("_blocks.4: receptive field 67x67 px, stride 8; 3 channels x 2 patches from 8 images"))
        #expect(FileManager.default.fileExists(atPath: out))
        let bad = try fovea(["top-patches", cache.appendingPathComponent("photos").path, "--layer", "_blocks.4", "--channels", "1,x", "-o", out + "2"])
        #expect(bad.status != 0 && bad.err.contains("--channels"))
    }

    @Test func badLayersFailCleanly() throws {
        let out = Scratch.url("fovea-features", ext: "png").path
        for args in [["filters", "--layer", "_bn0", "-o", out], ["filters", "--layer", "_blocks.77", "-o", out],
                     ["activations", chelsea, "--layer", "_fc", "-o", out], ["activations", chelsea, "--layer", "nope", "-o", out]] {
            let r = try fovea(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

@Suite struct AttackCommandTests {
    @Test func fgsmWritesTheImageFigureAndReport() throws {
        let dir = Scratch.url("fovea-attack")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let (adv, fig) = (dir.appendingPathComponent("adv.png").path, dir.appendingPathComponent("fig.png").path)
        let r = try fovea(["attack", chelsea, "--method", "fgsm", "--epsilon", "2/255", "-o", adv, "--figure", fig, "--json"])
        #expect(r.status == 0, "\(r.err)")
        let report = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(report["succeeded"] as? Bool == true)
        #expect(report["succeededAfter8Bit"] as? Bool == true)
        #expect(abs((report["linf255"] as! Double) - 2) < 1e-3)
        #expect((report["before"] as! [[String: Any]])[0]["index"] as? Int == 282)
        #expect((report["after"] as! [[String: Any]])[0]["index"] as? Int != 282)
        // The saved PNG, reloaded, is what the report says.
        let again = try fovea(["classify", adv, "--crop", "none", "--top", "1", "--json"])
        #expect(!again.out.contains("\"index\" : 282"))
        #expect(FileManager.default.fileExists(atPath: fig))
    }

    @Test func explainShowsMapsAndNeighboursOfBothImages() throws {
        let dir = Scratch.url("fovea-attack")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let (emb, paths) = (dir.appendingPathComponent("emb.npy").path, dir.appendingPathComponent("paths.txt").path)
        #expect(try fovea(["embed", cache.appendingPathComponent("photos").path, "-o", emb, "--paths", paths]).status == 0)
        let fig = dir.appendingPathComponent("fig.png").path
        let r = try fovea(["attack", chelsea, "--method", "fgsm", "--epsilon", "2", "-o", dir.appendingPathComponent("adv.png").path,
                           "--figure", fig, "--explain", "--index", emb, "--paths", paths])
        #expect(r.status == 0, "\(r.err)")
        for suffix in ["-explain.png", "-neighbors.png"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("fig\(suffix)").path))
        }
        // Three rows of panels when the attack succeeds: clean and adversarial for the original
        // class, then the adversarial image for the class it now gets (PNG IHDR: width, height).
        let header = [UInt8](try Data(contentsOf: dir.appendingPathComponent("fig-explain.png")).prefix(24))
        let (width, height) = (header[16..<20].reduce(0) { $0 << 8 | Int($1) }, header[20..<24].reduce(0) { $0 << 8 | Int($1) })
        #expect(r.out.contains("attack succeeded") && height > width, "\(width)x\(height)")
        let lonely = try fovea(["attack", chelsea, "--method", "fgsm", "--epsilon", "2", "-o", dir.appendingPathComponent("b.png").path, "--index", emb])
        #expect(lonely.status != 0 && lonely.err.contains("--index and --paths go together"))
    }

    @Test func robustnessCurveAgainstFolderLabels() throws {
        let dir = Scratch.url("fovea-robust")
        let tiger = dir.appendingPathComponent("tiger cat")
        try FileManager.default.createDirectory(at: tiger, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: chelsea, toPath: tiger.appendingPathComponent("chelsea.png").path)
        let plot = dir.appendingPathComponent("curve.png").path
        let r = try fovea(["robustness", dir.path, "--epsilons", "4,0", "-o", plot, "--json"])
        #expect(r.status == 0, "\(r.err)")
        let curve = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(curve["reference"] as? String == "labels")
        #expect((curve["epsilons"] as! [Double]).count == 2)
        #expect(curve["accuracies"] as? [Double] == [1, 0])            // chelsea is a tiger cat until FGSM 4/255
        #expect(FileManager.default.fileExists(atPath: plot))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("not a class"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: chelsea, toPath: dir.appendingPathComponent("not a class/c.png").path)
        let bad = try fovea(["robustness", dir.path, "--epsilons", "0"])
        #expect(bad.status != 0 && bad.err.contains("not a class"))
    }

    @Test func badAttackInputFailsCleanly() throws {
        let out = Scratch.url("fovea-attack", ext: "png").path
        for args in [["--method", "fgsm", "--epsilon", "-3"], ["--method", "fgsm", "--epsilon", "999"],
                     ["--method", "pgd", "--epsilon", "2", "--target", "tiger cat"],
                     ["--method", "pgd", "--epsilon", "2", "--steps", "0"]] {
            let r = try fovea(["attack", chelsea, "-o", out] + args)
            #expect(r.status != 0, "\(args)")
            #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

@Suite struct EmbeddingCommandTests {
    @Test func embedNeighborsAndPCAEndToEnd() throws {
        let dir = Scratch.url("fovea-embed")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let photos = cache.appendingPathComponent("photos").path
        let (emb, paths, nn, coords) = (dir.appendingPathComponent("emb.npy").path, dir.appendingPathComponent("paths.txt").path,
                                        dir.appendingPathComponent("nn.png").path, dir.appendingPathComponent("c.csv").path)
        let e = try fovea(["embed", photos, "-o", emb, "--paths", paths])
        #expect(e.status == 0, "\(e.err)")
        #expect(e.out.contains("8 images x 1280 features"))
        let n = try fovea(["neighbors", chelsea, "--index", emb, "--paths", paths, "--k", "2", "-o", nn])
        #expect(n.status == 0, "\(n.err)")
        #expect(n.out.hasPrefix("1. row 2  distance 0.0000") && n.out.contains("chelsea.png"))   // itself first
        #expect(FileManager.default.fileExists(atPath: nn))
        let p = try fovea(["pca", emb, "-o", coords])
        #expect(p.status == 0, "\(p.err)")
        #expect(try String(contentsOfFile: coords, encoding: .utf8).split(separator: "\n").count == 8)
        // A query embedded at another layer does not match the index.
        let bad = try fovea(["neighbors", chelsea, "--index", emb, "--layer", "_blocks.10"])
        #expect(bad.status != 0 && bad.err.contains("1280-d rows"))
        let missing = try fovea(["embed", "/nonexistent/photos", "-o", emb])
        #expect(missing.status != 0 && missing.err.contains("/nonexistent/photos"))
    }
}

/// Fashion-MNIST through the command line: datasets by name, DATASET#INDEX images, and the
/// new commands' bad input.
@Suite struct FashionCommandTests {
    @Test func classifyAndEmbedFashionMNIST() throws {
        let c = try fovea(["classify", "fashion-mnist:test#0", "--model", "fashion-cnn", "--top", "1", "--json"])
        #expect(c.status == 0, "\(c.err)")
        #expect(c.out.contains("Ankle boot"))
        let dir = Scratch.url("fovea-fashion")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let emb = dir.appendingPathComponent("e.npy").path, labels = dir.appendingPathComponent("l.npy").path
        let e = try fovea(["embed", "fashion-mnist", "--model", "fashion-cnn", "-o", emb, "--labels", labels, "--batch", "500"])
        #expect(e.status == 0, "\(e.err)")
        #expect(e.out.contains("10000 images x 128 features"))
        let n = try fovea(["neighbors", "--evaluate", "--index", emb, "--labels", labels, "--k", "10"])
        #expect(n.status == 0, "\(n.err)")
        // precision@10 of the shipped model's 128-d features (measured 0.8867).
        let value = Double(n.out.split(separator: " ").last!.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(value > 0.85, "\(n.out)")
        let j = try fovea(["neighbors", "--evaluate", "--index", emb, "--labels", labels, "--k", "10", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as! [String: Any]
        #expect(report["k"] as? Int == 10 && report["rows"] as? Int == 10000 && report["metric"] as? String == "cosine")
        #expect(abs((report["precision"] as? Double ?? 0) - value) < 1e-4)
    }

    /// Every method on a 28x28 grayscale input: occlusion's patch scales with the input (4 px, stride 2).
    @Test func explainAFashionImage() throws {
        let dir = Scratch.url("fovea-fashion-explain")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try fovea(["explain", "fashion-mnist:test#0", "--model", "fashion-cnn", "-o", dir.path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("9 Ankle boot") && r.out.contains("occlusion") && r.out.contains("integrated-gradients"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("fashion-mnist-test-0.html").path))
        let s = try fovea(["saliency", "fashion-mnist:test#0", "--model", "fashion-cnn", "--method", "occlusion", "--json"])
        #expect(s.status == 0, "\(s.err)")
        #expect(s.out.contains("\"height\" : 13") || s.out.contains("\"height\":13"), "\(s.out.prefix(400))")   // (28 - 4) / 2 + 1 rows
    }

    @Test func badInputFailsWithOneLine() throws {
        let dir = Scratch.url("fovea-fashion-bad")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        let junk = dir.appendingPathComponent("train-images-idx3-ubyte").path
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: junk))
        let cases: [[String]] = [
            ["train", "--dataset", "fashion-mnist:val", "-o", out],
            ["train", "--dataset", junk, "-o", out],
            ["train", "--dataset", "fashion-mnist", "--arch", "nonet", "-o", out],
            ["train", "--dataset", "fashion-mnist", "--epochs", "0", "-o", out],
            ["robustness", "fashion-mnist", "--model", "fashion-cnn", "--epsilons", "0,-1", "-o", out],
            ["classify", "fashion-mnist:test#10000", "--model", "fashion-cnn"],
            ["tsne", junk, "-o", out],
            ["map", junk, "-o", out],
        ]
        for args in cases {
            let r = try fovea(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("fovea: error:"), "\(args): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

/// A folder with an undecodable image: an error naming it, or, with --skip-unreadable, a note
/// that counts the skipped images and the rest processed.
@Suite struct UnreadableImageTests {
    @Test func failOrSkipByFlag() throws {
        let folder = Scratch.url("fovea-unreadable")
        for sub in ["cats", "cups"] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(atPath: chelsea, toPath: folder.appendingPathComponent("cats/chelsea.png").path)
        try FileManager.default.copyItem(atPath: cache.appendingPathComponent("photos/coffee.png").path,
                                         toPath: folder.appendingPathComponent("cups/coffee.png").path)
        try Data("not an image".utf8).write(to: folder.appendingPathComponent("cups/broken.png"))
        let out = folder.appendingPathComponent("e.npy").path
        let failed = try fovea(["embed", folder.path, "-o", out])
        #expect(failed.status != 0 && failed.err.contains("cups/broken.png") && failed.err.contains("--skip-unreadable"), "\(failed.err)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let skipped = try fovea(["embed", folder.path, "-o", out, "--skip-unreadable"])
        #expect(skipped.status == 0, "\(skipped.err)")
        #expect(skipped.err.contains("skipped 1 unreadable image"), "\(skipped.err)")
        #expect(skipped.out.contains("2 images x 1280 features"), "\(skipped.out)")
    }
}

/// A fresh file name in the temporary folder (nothing is created).
func temporaryPath(_ ext: String) -> String {
    Scratch.url("fovea-cli", ext: ext).path
}

/// One line on stderr naming the argument, a non-zero exit, nothing on stdout, no file.
func expectCleanFailure(_ args: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let out = temporaryPath("png")
    let r = try fovea(args + ["-o", out])
    #expect(r.status != 0, sourceLocation: sourceLocation)
    #expect(r.out.isEmpty, "stdout: \(r.out)", sourceLocation: sourceLocation)
    #expect(r.err.split(separator: "\n").filter { !$0.isEmpty }.count == 1, "stderr: \(r.err)", sourceLocation: sourceLocation)
    for m in mentions { #expect(r.err.contains(m), "stderr \(r.err) lacks \(m)", sourceLocation: sourceLocation) }
    #expect(!FileManager.default.fileExists(atPath: out), sourceLocation: sourceLocation)
}

/// A failure given exactly these arguments: one line on stderr naming `mentions`, nothing on
/// stdout, a non-zero exit.
func expectOneLineFailure(_ args: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try fovea(args)
    #expect(r.status != 0 && r.out.isEmpty, "stdout: \(r.out)", sourceLocation: sourceLocation)
    #expect(r.err.split(separator: "\n").count == 1, "stderr: \(r.err)", sourceLocation: sourceLocation)
    for m in mentions { #expect(r.err.contains(m), "stderr \(r.err) lacks \(m)", sourceLocation: sourceLocation) }
}
