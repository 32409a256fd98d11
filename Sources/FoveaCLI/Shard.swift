import ArgumentParser
import Fovea
import FoveaAdversarial
import FoveaAttribution
import FoveaFeatures
import FoveaIO
import FoveaTensor
import Foundation

/// `--shard K/N`: shard K (1-based) of N processes a deterministic, contiguous share of a
/// dataset, cut at whole batches so each batch holds the images it holds in a single run (and
/// gives the same bits). Beside its output it writes OUTPUT.shard.json, which `fovea merge`
/// reads to put the shards back together.
struct Shard: ExpressibleByArgument, Equatable {
    let index: Int
    let count: Int

    init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, (1...n).contains(k) else { return nil }
        (index, count) = (k, n)
    }

    static let help = ArgumentHelp("Process only shard K of N (1 <= K <= N) of the dataset and write a partial result for `fovea merge`; for Slurm job arrays and Kubernetes Indexed Jobs (docs/sharding.md).", valueName: "K/N")

    /// The images of this shard out of `total`, in `batch`-sized blocks: blocks
    /// floor((K-1) B / N) ..< floor(K B / N) of the B = ceil(total / batch). Throws when there
    /// are fewer blocks than shards (some shard would be empty); `dataset` names it.
    func rows(of total: Int, batch: Int, dataset: String) throws -> Range<Int> {
        let blocks = (total + batch - 1) / batch
        guard count <= blocks else {
            if batch == 1 { throw ValidationError("--shard \(index)/\(count): \(dataset) has \(total) image\(total == 1 ? "" : "s"); use at most \(total) shards") }
            throw ValidationError("--shard \(index)/\(count): \(dataset) has \(total) images, \(blocks) batch\(blocks == 1 ? "" : "es") of --batch \(batch); use at most \(blocks) shards")
        }
        let first = (index - 1) * blocks / count, last = index * blocks / count
        return min(first * batch, total)..<min(last * batch, total)
    }
}

/// The JSON of shard files (manifests and partial results): sorted keys, unescaped slashes,
/// and infinities and NaN as strings (a top-patches scan has -inf for unscanned channels).
enum ShardJSON {
    static let nonFinite = (positive: "inf", negative: "-inf", nan: "nan")

    static func write<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: nonFinite.positive,
                                                                      negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        try encoder.encode(value).write(to: url, options: .atomic)
    }

    /// The file's value, or nil when it cannot be read or is not a `T`.
    static func read<T: Decodable>(_ type: T.Type, from url: URL) -> T? {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: nonFinite.positive,
                                                                        negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        return (try? Data(contentsOf: url)).flatMap { try? decoder.decode(type, from: $0) }
    }
}

/// What a shard wrote, saved as OUTPUT.shard.json: enough to check that a set of shards is one
/// whole run (same command, dataset, model and settings; every shard once) and to merge it.
struct ShardManifest: Codable, Equatable {
    var command: String
    var shard: Int
    var of: Int
    /// This shard's rows of the whole dataset, [first, end).
    var rows: [Int]
    var total: Int
    /// Everything else the result depends on (dataset, model, layer, batch, ...), compared as is.
    var settings: [String: String]
    /// The files written, by role ("output", "labels", "paths"); merge writes the same roles.
    var files: [String: String]

    static func url(for output: String) -> URL { URL(fileURLWithPath: output + ".shard.json") }

    /// Files are recorded as absolute paths, so a merge run from another folder finds them.
    func write(beside output: String) throws {
        var absolute = self
        absolute.files = files.mapValues { URL(fileURLWithPath: $0).standardizedFileURL.path }
        try ShardJSON.write(absolute, to: Self.url(for: output))
    }

    static func read(beside output: String) throws -> ShardManifest {
        let url = url(for: output)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FoveaError("\(output): no \(url.lastPathComponent) beside it (not written by a command run with --shard)")
        }
        guard let manifest = ShardJSON.read(ShardManifest.self, from: url) else { throw FoveaError("\(url.path): not a shard manifest") }
        return manifest
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine the partial results of --shard runs into the single-run result.",
        discussion: """
        Give every shard's output (each has OUTPUT.shard.json beside it, naming its other \
        files). The shards must come from one command with the same dataset, model and \
        settings, and be all of 1..N, in any order. The result is, byte for byte, what one run \
        without --shard writes.

          for k in 1 2 3; do
            fovea embed fashion-mnist --model fashion-cnn --shard $k/3 -o p$k.npy
          done
          fovea merge p1.npy p2.npy p3.npy -o fm.npy

        `embed`, `robustness`, `top-patches` and `explain` (on a folder) shard (see \
        docs/sharding.md for a Slurm job array and a Kubernetes Indexed Job). A robustness \
        shard writes its counts to -o FILE.json, a top-patches shard its scan, an explain shard \
        its explanations into its -o folder; the merge draws the single run's figures (-o) and \
        prints its report. top-patches merges need the shards' --model, to cut the patches.
        """
    )

    @Argument(help: "The shards' outputs (the files given to -o in each shard).")
    var parts: [String]

    @Option(name: [.customShort("o"), .long], help: "The merged result, as -o of the single run (embed: the .npy; robustness: the plot, optional; explain: the folder).")
    var output: String?

    @Option(name: .long, help: "Merged labels (embed: when the shards wrote --labels).")
    var labels: String?

    @Option(name: .long, help: "Merged paths (embed: when the shards wrote --paths).")
    var paths: String?

    @Flag(name: .long, help: "Print JSON (robustness, top-patches: as the single run prints it).")
    var json = false

    @OptionGroup(title: "Model (top-patches: the shards' model, to cut the patches)") var model: ModelOptions

    func run() throws {
        guard !parts.isEmpty else { throw ValidationError("give the shards' outputs") }
        let manifests = try parts.map { try ShardManifest.read(beside: $0) }
        let first = manifests[0]
        for (part, m) in zip(parts, manifests) {
            guard m.command == first.command, m.of == first.of, m.total == first.total, m.settings == first.settings else {
                let differing = Set(m.settings.keys).union(first.settings.keys).filter { m.settings[$0] != first.settings[$0] }.sorted()
                throw FoveaError("\(part): not a shard of the same run as \(parts[0]) (\(m.command != first.command ? "command \(m.command) vs \(first.command)" : m.of != first.of ? "\(m.of) shards vs \(first.of)" : "differs in " + differing.joined(separator: ", ")))")
            }
        }
        let shards = manifests.map(\.shard)
        let missing = (1...first.of).filter { !shards.contains($0) }
        guard missing.isEmpty else { throw FoveaError("shard\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) of \(first.of) missing") }
        guard Set(shards).count == shards.count else { throw FoveaError("a shard is given twice (\(shards.map(String.init).joined(separator: ", ")))") }
        let ordered = zip(parts, manifests).sorted { $0.1.shard < $1.1.shard }
        var end = 0
        for (part, m) in ordered {
            guard m.rows.count == 2, m.rows[0] == end, m.rows[1] >= m.rows[0] else { throw FoveaError("\(part): rows \(m.rows) do not follow row \(end)") }
            end = m.rows[1]
        }
        guard end == first.total else { throw FoveaError("the shards cover \(end) of \(first.total) rows") }
        for (flag, value) in [("--labels", labels), ("--paths", paths)] where value != nil && first.command != "embed" {
            throw ValidationError("\(flag): \(first.command) shards have no \(flag.dropFirst(2))")
        }
        switch first.command {
        case "embed": try mergeEmbeddings(ordered.map(\.1))
        case "robustness": try mergeRobustness(ordered.map(\.1))
        case "top-patches": try mergeTopPatches(ordered.map(\.1))
        case "explain": try mergeExplanations(ordered.map(\.1))
        default: throw FoveaError("\(parts[0]): shards of `\(first.command)` cannot be merged by this version")
        }
    }

    /// The shards' scans merged: the grid and report the single run writes. The crops are cut
    /// from the dataset again, through the model given to merge (the shards' model, checked).
    func mergeTopPatches(_ manifests: [ShardManifest]) throws {
        guard let output else { throw ValidationError("top-patches shards: give -o for the merged grid (.png, .svg or .pdf)") }
        try checkWritable(output, flag: "-o")
        let settings = manifests[0].settings
        let classifier = try model.load()
        guard classifier.spec.name == settings["model"] else {
            throw ValidationError("--model: the shards ran \(settings["model"] ?? "?"), not \(classifier.spec.name); give merge the shards' --model")
        }
        let data = try openDatasetNoting(settings["dataset"] ?? "", skipUnreadable: settings["skip-unreadable"] == "true")
        guard data.count == manifests[0].total else { throw FoveaError("\(settings["dataset"] ?? ""): \(data.count) images now, \(manifests[0].total) when the shards ran") }
        let channels = (settings["channels"] ?? "").isEmpty ? nil : settings["channels"]!.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let scan = TopPatches.Scan.merged(try manifests.map { try PartialScan.read($0.files["output"]!).scan })
        let result = TopPatches(layer: settings["layer"] ?? "", field: scan.field,
                                hits: scan.chosen(channels: channels, topChannels: Int(settings["top-channels"] ?? "") ?? 8))
        try TopPatchesCommand.report(result, classifier: classifier, data: data, k: scan.k, output: output, json: json)
    }

    /// The shards' explanations in order: the grids, pages and index one run writes.
    func mergeExplanations(_ manifests: [ShardManifest]) throws {
        guard let output else { throw ValidationError("explain shards: give -o FOLDER for the merged figures and pages") }
        try checkOutputFolder(output, flag: "-o")
        var names: [String] = [], explanations: [Explanation] = []
        for m in manifests {
            let file = m.files["output"]!
            guard let part = ShardJSON.read(PartialExplanations.self, from: URL(fileURLWithPath: file)),
                  part.names.count == part.explanations.count, part.names.count == m.rows[1] - m.rows[0] else {
                throw FoveaError("\(file): not an explain shard's partial result")
            }
            names += part.names
            explanations += try part.explanations.map { try $0.explanation(source: file) }
        }
        let settings = manifests[0].settings
        try Explain.write(explanations, names: names, output: output, format: FigureFormat(rawValue: settings["format"] ?? "") ?? .png,
                          scale: PanelScale(rawValue: settings["scale"] ?? "") ?? .each,
                          cmap: settings["cmap"].flatMap { Colormap(rawValue: $0) }, json: json)
    }

    /// The shards' counts added: the curve, plot and report one run writes (its seconds the sum
    /// of the shards').
    func mergeRobustness(_ manifests: [ShardManifest]) throws {
        if let output { try checkWritable(output, flag: "-o") }
        let settings = manifests[0].settings
        let epsilonLabels = (settings["epsilons"] ?? "").split(separator: ",").map(String.init)
        let epsilons = try epsilonLabels.map { try AttackSettings.parseEpsilon($0, option: "--epsilons") }
        var correct = [Int](repeating: 0, count: epsilons.count), seconds = 0.0
        for m in manifests {
            let file = m.files["output"]!
            guard let part = ShardJSON.read(Robustness.PartialCounts.self, from: URL(fileURLWithPath: file)),
                  part.correct.count == epsilons.count else {
                throw FoveaError("\(file): not a robustness shard's counts")
            }
            correct = zip(correct, part.correct).map(+)
            seconds += part.seconds
        }
        let total = manifests[0].total
        let curve = RobustnessCurve(method: settings["method"] ?? "", epsilons: epsilons,
                                    accuracies: correct.map { Float($0) / Float(max(total, 1)) },
                                    images: total, reference: settings["reference"] ?? "", seconds: seconds)
        try Robustness.report(curve, epsilonLabels: epsilonLabels, output: output, json: json)
    }

    /// Rows concatenated in shard order: embeddings, labels and paths as one run writes them.
    func mergeEmbeddings(_ manifests: [ShardManifest]) throws {
        guard let output else { throw ValidationError("embed shards: give -o FILE.npy for the merged embeddings") }
        try checkWritable(output, flag: "-o", extensions: ["npy"])
        for (flag, path, role) in [("--labels", labels, "labels"), ("--paths", paths, "paths")] {
            guard let path else { continue }
            try checkWritable(path, flag: flag, extensions: role == "labels" ? ["npy"] : nil)
            guard manifests.allSatisfy({ $0.files[role] != nil }) else { throw FoveaError("\(flag): the shards were run without \(flag)") }
        }
        let tensors = try manifests.map { try NPY.read(URL(fileURLWithPath: $0.files["output"]!)) }
        guard let width = tensors.first?.shape.last, tensors.allSatisfy({ $0.rank == 2 && $0.shape[1] == width }) else {
            throw FoveaError("the shards' embeddings differ in width")
        }
        for (t, m) in zip(tensors, manifests) where t.shape[0] != m.rows[1] - m.rows[0] {
            throw FoveaError("\(m.files["output"]!): \(t.shape[0]) rows, its manifest says \(m.rows[1] - m.rows[0])")
        }
        try NPY.write(Tensor.concat(tensors, axis: 0), to: URL(fileURLWithPath: output))
        if let labels {
            let values = try manifests.flatMap { try NPY.readIntegers(URL(fileURLWithPath: $0.files["labels"]!)).values }
            try NPY.write(values, to: URL(fileURLWithPath: labels))
        }
        if let paths {
            let text = try manifests.map { try String(contentsOfFile: $0.files["paths"]!, encoding: .utf8) }.joined()
            try text.write(toFile: paths, atomically: true, encoding: .utf8)
        }
        print("\(manifests.count) shards, \(manifests.last!.total) rows x \(tensors[0].shape[1]) -> \(output)")
    }
}

/// A top-patches shard's scan as JSON: the receptive field, every channel's maximum over the
/// shard's images (-inf for channels not scanned) and each scanned channel's best hits.
struct PartialScan: Codable {
    struct HitRecord: Codable { let image, y, x, height, width: Int; let value: Float }
    /// size h, w; jump h, w; start h, w
    let field: [Int]
    let maxima: [Float]
    /// Channel (as text: a JSON key) -> hits, in list order.
    let hits: [String: [HitRecord]]
    let k: Int

    init(_ scan: TopPatches.Scan) {
        let f = scan.field
        field = [f.size.h, f.size.w, f.jump.h, f.jump.w, f.start.h, f.start.w]
        maxima = scan.maxima
        k = scan.k
        hits = Dictionary(uniqueKeysWithValues: scan.best.map { channel, list in
            (String(channel), list.map { HitRecord(image: $0.image, y: $0.window.y, x: $0.window.x, height: $0.window.height,
                                                   width: $0.window.width, value: $0.value) })
        })
    }

    var scan: TopPatches.Scan {
        let field = ReceptiveField(size: (self.field[0], self.field[1]), jump: (self.field[2], self.field[3]), start: (self.field[4], self.field[5]))
        let best = Dictionary(uniqueKeysWithValues: hits.compactMap { key, list in
            Int(key).map { ($0, list.map { TopPatches.Hit(image: $0.image, value: $0.value, window: ($0.y, $0.x, $0.height, $0.width)) }) }
        })
        return TopPatches.Scan(field: field, maxima: maxima, best: best, k: k)
    }

    static func read(_ path: String) throws -> PartialScan {
        guard let partial = ShardJSON.read(PartialScan.self, from: URL(fileURLWithPath: path)), partial.field.count == 6 else {
            throw FoveaError("\(path): not a top-patches shard's scan")
        }
        return partial
    }
}
