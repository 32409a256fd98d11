import ArgumentParser
import Fovea
import FoveaAttribution
import FoveaEmbedding
import FoveaIO
import Foundation

/// The file format a folder of figures is written in.
enum FigureFormat: String, ExpressibleByArgument, CaseIterable {
    case png, svg, pdf
}

/// How the saliency panels of one figure (or one folder run) are coloured.
enum PanelScale: String, ExpressibleByArgument, CaseIterable {
    case shared, each
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every applicable attribution method on an image (or a folder) and compare them.",
        discussion: """
        For each image writes, into --output (default ./explain):
          NAME.png   one overlay per method with its deletion and insertion AUC
                     (NAME.svg or NAME.pdf with --format)
          NAME.html  one self-contained page: crop, top-5, every map with its scores
          index.html (a folder) each method's mean deletion and insertion AUC and mean
                     curves, and one row per image; click a column to sort
        Methods that do not apply (CAM without a global-pooling head) are listed as skipped.
        --json prints the index's numbers (per method and per image, with the curves).

          fovea explain chelsea.png
          fovea explain ~/.cache/fovea/photos --output explained

        A folder can be split over machines: with --shard K/N a run explains its share of the \
        images and writes only the partial result (-o FOLDER/explanations.json, and \
        FOLDER.shard.json beside it); `fovea merge part1 part2 ... -o explained` then writes \
        exactly what one run writes (docs/sharding.md).
        """
    )

    @Argument(help: "An image file, or a folder: every PNG/JPEG in it (and in its class subfolders).")
    var path: String

    @OptionGroup var model: ModelOptions

    @Option(name: [.customShort("o"), .long], help: "Folder for the PNG and HTML files.")
    var output = "explain"

    @Option(name: .long, help: "Class index or label (default: each image's top-1 class).")
    var target: String?

    @Option(name: .long, help: "CAM-family layer (default: the model's last block).")
    var layer: String?

    @Option(name: .long, help: "Faithfulness baseline: blur or zero.")
    var baseline: Faithfulness.Baseline = .blur

    @Option(name: .long, help: "center: the model's own crop; none: resize the whole image.")
    var crop: CropMode = .center

    @Option(name: .long, help: ArgumentHelp("Only these methods, comma-separated (default: all of them: \(AttributionMethod.allCases.map(\.rawValue).joined(separator: ","))).", valueName: "list"))
    var methods: String?

    @Option(name: .long, help: "Colour map: jet, viridis, inferno, turbo, gray, or coolwarm (diverging). Default: jet, and coolwarm centred at 0 for signed maps (Integrated Gradients).")
    var cmap: Colormap?

    @Flag(name: .long, help: "Print JSON: each method's mean scores and curves, and each image's scores.")
    var json = false

    @Option(name: .long, help: "File format of the per-image grids: png, svg or pdf (vector text, for papers).")
    var format: FigureFormat = .png

    @Option(name: .long, help: "Colour scale of a folder's grids: each (every map on its own range) or shared (each method on one range over all the images, so they compare).")
    var scale: PanelScale = .each

    @Option(name: .long, help: Shard.help)
    var shard: Shard?

    func run() throws {
        let methods = try AttributionMethod.list(methods, option: "--methods")
        try checkOutputFolder(output, flag: "-o")
        let all = try imageFiles(path)
        let rows = try shard?.rows(of: all.count, batch: 1, dataset: path) ?? 0..<all.count
        let files = Array(all[rows])
        let classifier = try model.load(needsClassifier: true)
        let targetIndex = try target.map { try classifier.labels.resolve($0) }
        var options = AttributionOptions(inputSize: classifier.preprocessing.inputSize)
        options.layer = layer
        // Read every image first: a bad file fails before anything is written.
        let inputs = try files.map { try classifier.input(from: $0, crop: crop) }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let bar = ProgressBar(label: "explain")
        let explanations = try zip(files, inputs).enumerated().map { n, item in
            try classifier.explain(file: item.0, crop: item.1.crop, input: item.1.tensor, target: targetIndex,
                                   options: options, baseline: baseline, methods: methods) { _, i, total in
                bar.update(n * total + i, files.count * total)
            }
        }
        let names = Array(Self.figureNames(all)[rows])
        if let shard {
            let partial = URL(fileURLWithPath: output).appendingPathComponent("explanations.json")
            try ShardJSON.write(PartialExplanations(names: names, explanations: try explanations.map(ExplanationRecord.init)), to: partial)
            var settings = ["path": path, "model": classifier.spec.name, "baseline": baseline.rawValue, "crop": crop.rawValue,
                            "methods": methods.map(\.rawValue).joined(separator: ","), "format": format.rawValue, "scale": scale.rawValue]
            (settings["target"], settings["layer"], settings["cmap"]) = (target, layer, cmap?.rawValue)
            try ShardManifest(command: "explain", shard: shard.index, of: shard.count, rows: [rows.lowerBound, rows.upperBound],
                              total: all.count, settings: settings, files: ["output": partial.path]).write(beside: output)
            print("shard \(shard.index) of \(shard.count): images \(rows.lowerBound)..<\(rows.upperBound) of \(all.count) -> \(partial.path)")
            return
        }
        try Self.write(explanations, names: names, output: output, format: format, scale: scale, cmap: cmap, json: json)
    }

    /// "photo.jpg" -> "photo"; a dataset reference "fashion-mnist:test#3" -> "fashion-mnist-test-3".
    /// Same-named images of different class subfolders get -2, -3, ...
    static func figureNames(_ files: [String]) -> [String] {
        var taken: [String: Int] = [:]
        return files.map { file in
            let stem = FileManager.default.fileExists(atPath: file)
                ? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
                : String(file.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
            taken[stem, default: 0] += 1
            return taken[stem]! == 1 ? stem : "\(stem)-\(taken[stem]!)"
        }
    }

    /// Each image's grid (NAME.png, .svg or .pdf) and page (NAME.html), and for several images
    /// index.html; prints the scores (or, with `json`, the index).
    static func write(_ explanations: [Explanation], names: [String], output: String, format: FigureFormat, scale: PanelScale,
                      cmap: Colormap?, json: Bool) throws {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let shared = scale == .shared ? Explanation.sharedRanges(explanations) : [:]
        for (explanation, name) in zip(explanations, names) {
            let base = URL(fileURLWithPath: output).appendingPathComponent(name)
            try explanation.grid(colormap: cmap, sharedRanges: shared).save(path: base.appendingPathExtension(format.rawValue).path)
            try explanation.html(colormap: cmap).write(to: base.appendingPathExtension("html"), atomically: true, encoding: .utf8)
            guard !json else { continue }
            print("\(explanation.file): \(explanation.target) \(explanation.label) (p = \(String(format: "%.3f", explanation.probability)))")
            for e in explanation.entries {
                print("  \(e.attribution.method.rawValue.rightPad(22)) deletion \(String(format: "%.3f", e.faithfulness.deletionAUC))  insertion \(String(format: "%.3f", e.faithfulness.insertionAUC))  \(String(format: "%5.2f s", e.seconds))")
            }
            print("  wrote \(base.path).\(format.rawValue) and .html")
        }
        let index = ExplanationIndex(explanations, names: names)
        if explanations.count > 1 {
            let page = URL(fileURLWithPath: output).appendingPathComponent("index.html")
            try index.page.write(to: page, atomically: true, encoding: .utf8)
            if !json {
                print("mean over \(explanations.count) images:")
                for m in index.methods {
                    print("  \(m.method.rightPad(22)) deletion \(String(format: "%.3f", m.meanDeletionAUC))  insertion \(String(format: "%.3f", m.meanInsertionAUC))")
                }
                print("wrote \(page.path)")
            }
        }
        if json { try printJSON(index) }
    }

    /// The image itself (a file or `DATASET#INDEX`), or every image of a folder (and of its
    /// class subfolders).
    func imageFiles(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return isDirectory.boolValue ? try ImageFolder(path).paths : [path]
        }
        _ = try loadImage(path)                 // a dataset reference, or a clear error
        return [path]
    }
}

/// An explain shard's partial result: its images' explanations and figure names, in order.
struct PartialExplanations: Codable {
    let names: [String]
    let explanations: [ExplanationRecord]
}
