import Foundation
import Testing
import _FoveaTestSupport

/// Inputs that crashed Fovea, hung it, made it allocate gigabytes or left half-written output
/// (Tests/Golden/make_hostile_inputs.py): each gets one line naming the file or argument, a
/// non-zero exit and no output file.
@Suite struct HostileInputTests {
    static let folder = ONNXFixtures.folder.deletingLastPathComponent().appendingPathComponent("hostile").path

    @Test func hugeSizesAreRefusedBeforeAllocating() throws {
        for (model, expected) in [("constant_of_shape", "too large"), ("conv_pads", "too large"), ("expand", "too large"),
                                  ("big_input", "up to 4096x4096")] {
            try expectCleanFailure(["classify", chelsea, "--model-file", "\(Self.folder)/\(model).onnx"], mentions: ["\(model).onnx", expected])
        }
        try expectCleanFailure(["classify", "\(Self.folder)/huge_header.jpg"], mentions: ["26000x26000", "100-megapixel"])
        try expectOneLineFailure(["embed", "\(Self.folder)/bomb-images-idx3-ubyte.gz", "--model", "fashion-cnn", "-o", temporaryPath("npy")],
                                 mentions: ["more than the 800 bytes"])
    }

    /// A corrupt HDF5 file on which Debian's libhdf5 loops forever (found by `make fuzz`): the
    /// watchdog stops the process with one line.
    @Test func libhdf5HangBecomesAnError() throws {
        let start = Date()
        let r = try fovea(["layers", "--model-file", "\(Self.folder)/libhdf5_hang.h5"], environment: ["FOVEA_HDF5_TIMEOUT": "2"])
        #expect(r.status != 0 && r.err.contains("libhdf5 did not finish reading the file"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1)
        #expect(Date().timeIntervalSince(start) < 30)
    }

    @Test func corruptDataIsAnError() throws {
        try expectCleanFailure(["classify", "\(Self.folder)/truncated.jpg"], mentions: ["truncated.jpg", "Corrupt JPEG data"])
        try expectCleanFailure(["classify", chelsea, "--model-file", "\(Self.folder)/nan_model.onnx"], mentions: ["not finite"])
        try expectCleanFailure(["robustness", "\(Self.folder)/empty-images-idx3-ubyte", "--model", "fashion-cnn", "--epsilons", "1/255"],
                               mentions: ["holds no images"])
    }

    /// External data that a symlink points outside the model's folder is not read.
    @Test func externalDataStaysInTheModelsFolder() throws {
        let folder = temporaryPath("model")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: "\(Self.folder)/external_data.onnx", toPath: "\(folder)/external_data.onnx")
        try FileManager.default.createSymbolicLink(atPath: "\(folder)/weights.bin", withDestinationPath: "/etc/hostname")
        try expectCleanFailure(["classify", chelsea, "--model-file", "\(folder)/external_data.onnx"], mentions: ["outside the model's folder"])
        // The real bytes beside it load.
        try FileManager.default.removeItem(atPath: "\(folder)/weights.bin")
        try Data(count: 4 * 3 * 3 * 3 * 4).write(to: URL(fileURLWithPath: "\(folder)/weights.bin"))
        let r = try fovea(["classify", chelsea, "--model-file", "\(folder)/external_data.onnx"])
        #expect(r.status == 0, "\(r.err)")
    }

    @Test func dataCommandsCheckTheirNumbers() throws {
        let dir = temporaryPath("data")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func npy(_ name: String, _ rows: [[Float]], integers: Bool = false) throws -> String {
            let path = "\(dir)/\(name).npy"
            let shape = integers ? "(\(rows.count),)" : "(\(rows.count), \(rows.first?.count ?? 0))"
            let header = "{'descr': '\(integers ? "<i8" : "<f4")', 'fortran_order': False, 'shape': \(shape), }"
            var text = header + String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
            var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
            data.append(contentsOf: withUnsafeBytes(of: UInt16(text.utf8.count).littleEndian, Array.init))
            data.append(contentsOf: Array(text.utf8))
            for v in rows.joined() {
                if integers { data.append(contentsOf: withUnsafeBytes(of: Int64(v).littleEndian, Array.init)) }
                else { data.append(contentsOf: withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init)) }
            }
            try data.write(to: URL(fileURLWithPath: path))
            text = ""
            return path
        }
        let good = try npy("good", (0..<20).map { i in (0..<4).map { Float(i * 4 + $0) / 80 } })
        let coords = try npy("coords", [[0, 0], [.nan, 1], [2, .infinity]])
        let noColumns = try npy("empty", [[], []])
        let out = "\(dir)/out"
        try expectOneLineFailure(["map", coords, "-o", out + ".png"], mentions: [coords, "finite"])
        try expectOneLineFailure(["map", try npy("ok2d", [[0, 0], [1, 1]]), "--grid", "100000", "-o", out + ".png"], mentions: ["--grid 100000"])
        try expectOneLineFailure(["pca", good, "-o", "\(dir)/c.txt"], mentions: ["c.txt", ".npy or .csv"])
        try expectOneLineFailure(["pca", noColumns, "-o", out + ".npy"], mentions: [noColumns, "rows and columns"])
        try expectOneLineFailure(["tsne", good, "--learning-rate", "nan", "-o", out + ".npy"], mentions: ["--learning-rate"])
        try expectOneLineFailure(["tsne", good, "--perplexity", "1e-30", "-o", out + ".npy"], mentions: ["--perplexity"])
        let labels = try npy("labels", (0..<20).map { [Float($0 % 3)] }, integers: true)
        let badLabels = try npy("bad-labels", [[0], [-1]], integers: true)
        try expectOneLineFailure(["map", try npy("two", [[0, 0], [1, 1]]), "--labels", badLabels, "-o", out + ".png"], mentions: ["label -1"])
        try expectOneLineFailure(["pca", try npy("nan", [[1, 2], [.nan, 0]]), "-o", out + ".npy"], mentions: ["row 1", "finite"])
        try expectOneLineFailure(["tsne", good, "-o", "\(dir)/c.json"], mentions: ["c.json", ".npy or .csv"])
        try expectOneLineFailure(["neighbors", "--evaluate", "--index", good, "--labels", labels, "--k", "20"], mentions: ["--k 20", "20 rows"])
        try expectOneLineFailure(["top-patches", Self.folder, "--layer", "_blocks.2", "--channels", "", "-o", out + ".png"], mentions: ["--channels"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { $0.hasSuffix(".npy") && !$0.hasPrefix("out") })
    }

    /// An error that cannot be written (stderr on a full device) still ends with a non-zero
    /// exit, not a trap; a folder given as weights is named as one.
    @Test func unwritableStderrAndFolderWeights() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fovea")
        process.arguments = ["classify", "/nonexistent.png"]
        process.standardError = FileHandle(forWritingAtPath: "/dev/full")
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 1)
        try expectOneLineFailure(["classify", chelsea, "--model", "resnet18", "--weights", NSTemporaryDirectory()], mentions: ["a folder, not a weights file"])
    }

    /// Every output is checked before anything is written.
    @Test func noPartialOutputs() throws {
        let png = temporaryPath("png"), npy = temporaryPath("npy")
        let attack = try fovea(["attack", chelsea, "--model", "fashion-cnn", "--method", "fgsm", "--epsilon", "8/255", "-o", png, "--figure", "/nonexistent-folder/f.png"])
        #expect(attack.status != 0 && attack.err.contains("--figure /nonexistent-folder/f.png"), "\(attack.err)")
        #expect(!FileManager.default.fileExists(atPath: png))
        let saliency = try fovea(["saliency", chelsea, "--model", "fashion-cnn", "--npy", npy, "-o", "/nonexistent-folder/s.png"])
        #expect(saliency.status != 0 && !FileManager.default.fileExists(atPath: npy))
        let file = temporaryPath("txt")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        try expectOneLineFailure(["explain", chelsea, "--model", "fashion-cnn", "-o", file], mentions: [file, "not a folder"])
        try expectOneLineFailure(["train", "--dataset", "fashion-mnist", "--arch", "fashion-cnn", "-o", "\(file).pth"], mentions: [".safetensors"])
    }
}
