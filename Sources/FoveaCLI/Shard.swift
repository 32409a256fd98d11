import ArgumentParser
import Fovea
import FoveaAdversarial
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
    /// floor((K-1) B / N) ..< floor(K B / N) of the B = ceil(total / batch).
    func rows(of total: Int, batch: Int) -> Range<Int> {
        let blocks = (total + batch - 1) / batch
        let first = (index - 1) * blocks / count, last = index * blocks / count
        return min(first * batch, total)..<min(last * batch, total)
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

    func write(beside output: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: Self.url(for: output), options: .atomic)
    }

    static func read(beside output: String) throws -> ShardManifest {
        let url = url(for: output)
        guard let data = try? Data(contentsOf: url) else {
            throw FoveaError("\(output): no \(url.lastPathComponent) beside it (not written by a command run with --shard)")
        }
        do { return try JSONDecoder().decode(ShardManifest.self, from: data) } catch {
            throw FoveaError("\(url.path): not a shard manifest (\(error.localizedDescription))")
        }
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

          for k in 1 2 3; do fovea embed fashion-mnist --model fashion-cnn --shard $k/3 \\
              -o part$k.npy --labels part$k-labels.npy --paths part$k.txt; done
          fovea merge part1.npy part2.npy part3.npy -o fm.npy --labels fm-labels.npy --paths fm.txt

        `embed` and `robustness` shard (see docs/sharding.md for a Slurm job array and a \
        Kubernetes Indexed Job). A robustness shard writes its counts to -o FILE.json; the merge \
        adds them and draws the plot (-o) and the report the single run prints.
        """
    )

    @Argument(help: "The shards' outputs (the files given to -o in each shard).")
    var parts: [String]

    @Option(name: [.customShort("o"), .long], help: "The merged result, as -o of the single run (embed: the .npy; robustness: the plot, optional).")
    var output: String?

    @Option(name: .long, help: "Merged labels (embed: when the shards wrote --labels).")
    var labels: String?

    @Option(name: .long, help: "Merged paths (embed: when the shards wrote --paths).")
    var paths: String?

    @Flag(name: .long, help: "Print JSON (robustness: the curve, as the single run prints it).")
    var json = false

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
        switch first.command {
        case "embed": try mergeEmbeddings(ordered.map(\.1))
        case "robustness": try mergeRobustness(ordered.map(\.1))
        default: throw FoveaError("\(parts[0]): shards of `\(first.command)` cannot be merged by this version")
        }
    }

    /// The shards' counts added: the curve, plot and report one run writes (its seconds the sum
    /// of the shards').
    func mergeRobustness(_ manifests: [ShardManifest]) throws {
        if let output { try checkWritable(output, flag: "-o") }
        for (flag, value) in [("--labels", labels), ("--paths", paths)] where value != nil {
            throw ValidationError("\(flag): robustness shards have no \(flag.dropFirst(2))")
        }
        let settings = manifests[0].settings
        let epsilonLabels = (settings["epsilons"] ?? "").split(separator: ",").map(String.init)
        let epsilons = try epsilonLabels.map { try AttackSettings.parseEpsilon($0, option: "--epsilons") }
        var correct = [Int](repeating: 0, count: epsilons.count), seconds = 0.0
        for m in manifests {
            let file = m.files["output"]!
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: file)),
                  let part = try? JSONDecoder().decode(Robustness.PartialCounts.self, from: data), part.correct.count == epsilons.count else {
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
