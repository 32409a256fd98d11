import ArgumentParser
import Fovea
import FoveaModels
import FoveaONNX
import FoveaTensor

@main
struct FoveaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fovea",
        abstract: "See what a convolutional network sees.",
        discussion: """
        Models and sample photos live in the cache folder ($FOVEA_CACHE, default \
        ~/.cache/fovea), filled by `make demo`. Layer names are PyTorch module paths \
        (`_blocks.15`, `layer4.1`), as in a PyTorch hook; `fovea layers` lists them.

        Every command uses every core the process may run on; `--threads N` (before or after \
        the command's name) or $FOVEA_THREADS sets how many.

        Examples:
          fovea classify ~/.cache/fovea/photos/chelsea.png --top 3
          fovea saliency ~/.cache/fovea/photos/chelsea.png --method gradcam -o cam.png
          fovea explain ~/.cache/fovea/photos/chelsea.png
          fovea attack ~/.cache/fovea/photos/chelsea.png --method pgd --epsilon 2/255 -o adv.png
          fovea layers --model resnet18
        """,
        version: "fovea 0.9 (\(ONNXOperators.count) ONNX operators, \(ModelSpec.all.count) built-in models)",
        subcommands: [Classify.self, Saliency.self, Explain.self, Filters.self, Activations.self, TopPatchesCommand.self, Embed.self, Neighbors.self, PCACommand.self, TSNECommand.self, MapCommand.self, Visualize.self, Dream.self, Invert.self, Spectrum.self, Texture.self, Style.self, TrainStyle.self, Stylize.self, TrainAdaIN.self, AdaIN.self, BenchStyle.self, Attack.self, Robustness.self, Train.self, Layers.self, Models.self, RunONNX.self, Serve.self, Merge.self, Bench.self]
    )

    /// Runs the command; any failure is one line on stderr ("fovea: error: ...") and a non-zero
    /// exit status, never a crash or a usage dump.
    static func main() {
        BLASKernels.relaunchWithKnownKernels()   // OpenBLAS's fallback kernels on a CPU it does not know
        signal(SIGPIPE, SIG_IGN)            // a closed output pipe is a write error, not a kill
        BufferPool.mapLargeBlocksFromSystem()
        do {
            let arguments = try threadOption(Array(CommandLine.arguments.dropFirst()))
            var command = try parseAsRoot(arguments)
            try command.run()
            Notes.flush()
        } catch {
            let code = exitCode(for: error)
            if code == .success {                      // --help and friends
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = message(for: error)
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: "; ")
            let line = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
            writeStandardError("fovea: error: \(line)\n")
            Foundation.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}

/// `arguments` without `--threads N` / `--threads=N`, which sizes the thread pool (any command
/// takes it, so it is read here, before the command's own options).
func threadOption(_ arguments: [String]) throws -> [String] {
    var rest: [String] = [], value: String?
    var i = 0
    while i < arguments.count {
        let a = arguments[i]
        if a == "--" { rest += arguments[i...]; break }
        if a == "--threads" {
            guard i + 1 < arguments.count else { throw ValidationError("--threads needs a number of threads") }
            value = arguments[i + 1]
            i += 2
            continue
        }
        if a.hasPrefix("--threads=") { value = String(a.dropFirst("--threads=".count)) } else { rest.append(a) }
        i += 1
    }
    if let value {
        guard let n = Int(value), n >= 1, n <= 1024 else { throw ValidationError("--threads \(value): give a whole number from 1 to 1024") }
        Parallel.setThreads(n)
    }
    return rest
}

/// Writes to stderr without ever trapping: a full or closed stderr loses the text, the exit
/// status still tells (FileHandle.write traps on a write error).
func writeStandardError(_ text: String) {
    fputs(text, stderr)
    fflush(stderr)
}

/// Prints `value` as JSON with sorted keys (pretty-printed unless `pretty` is false).
func printJSON<T: Encodable>(_ value: T, pretty: Bool = true) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Notes for the user, printed to stderr after a command succeeds (a failure prints only its
/// one error line).
enum Notes {
    nonisolated(unsafe) static var pending: [String] = []
    static func add(_ note: String) { pending.append(note) }
    static func flush() {
        for note in pending { writeStandardError("fovea: note: \(note)\n") }
        pending = []
    }
}

/// Options shared by commands that run a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model name (see `fovea models`).")
    var model = "efficientnet-lite0"

    @Option(name: .long, help: "Weights file (.pth zip or legacy format, or .safetensors) with the model's PyTorch state-dict keys. Default: the model's fetched weights.")
    var weights: String?

    @Option(name: .long, help: ArgumentHelp("Your own model instead of --model: an ONNX file, or a Keras model (Sequential or Functional: Keras 2 .h5 from model.save, Keras 3 .keras). Layers are ONNX node output names or Keras layer names (`fovea layers --model-file F`).", valueName: "file"))
    var modelFile: String?

    @Option(name: .long, help: ArgumentHelp("Class names for --model-file: a text file, one name per line, in output order.", valueName: "file"))
    var classNames: String?

    @Option(name: .long, help: ArgumentHelp("Input height and width for --model-file when the file does not fix them (default 224). N or NxN.", valueName: "size"))
    var inputSize: String?

    @Option(name: .long, help: ArgumentHelp("Per-channel mean for --model-file, on the 0..1 pixel scale: one value or comma-separated (default: ONNX 0.485,0.456,0.406; Keras 0, i.e. raw 0..255 pixels with its default std).", valueName: "m"))
    var mean: String?

    @Option(name: .long, help: ArgumentHelp("Per-channel std for --model-file, on the 0..1 pixel scale (default: ONNX 0.229,0.224,0.225; Keras 0.00392157 = 1/255). --mean 0 --std 1 feeds 0..1 pixels; --mean 0 --std 0.00392157 feeds 0..255.", valueName: "s"))
    var std: String?

    @Option(name: .long, help: ArgumentHelp("Channel order --model-file takes: rgb, or bgr (Caffe, OpenCV): Fovea reverses its RGB input, and --mean/--std are read in BGR order.", valueName: "rgb|bgr"))
    var channelOrder: String?

    @Option(name: .long, help: ArgumentHelp("The pixel scale --mean and --std are written on: 1 (0..1 pixels, the default) or 255 (e.g. Caffe's --mean 103.939,116.779,123.68 --std 1 --channel-order bgr --pixel-scale 255).", valueName: "1|255"))
    var pixelScale: String?

    /// The model; with `needsClassifier`, a feature extractor without a classifier head
    /// (vgg16-features) is refused with one line.
    func load(needsClassifier: Bool = false) throws -> ImageClassifier {
        if let modelFile {
            guard weights == nil else { throw FoveaError("--weights: a --model-file carries its own weights") }
            let names = try classNames.map { path -> [String] in
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw FoveaError("--class-names \(path): cannot read the file") }
                return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            guard ["rgb", "bgr", nil].contains(channelOrder?.lowercased()) else { throw FoveaError("--channel-order \(channelOrder!): must be rgb or bgr") }
            guard ["1", "255", nil].contains(pixelScale) else { throw FoveaError("--pixel-scale \(pixelScale!): must be 1 or 255") }
            let options = ImportOptions(inputSize: try inputSize.map(Self.parseSize), mean: try mean.map { try Self.parseList($0, "--mean") },
                                        std: try std.map { try Self.parseList($0, "--std") }, labels: names,
                                        bgr: channelOrder?.lowercased() == "bgr", pixelScale: pixelScale == "255" ? 255 : 1)
            return try ImageClassifier.load(modelFile: URL(fileURLWithPath: modelFile), options: options)
        }
        for (flag, value) in [("--input-size", inputSize), ("--mean", mean), ("--std", std), ("--class-names", classNames),
                              ("--channel-order", channelOrder), ("--pixel-scale", pixelScale)] where value != nil {
            throw FoveaError("\(flag) applies to --model-file only (built-in models know their preprocessing)")
        }
        let classifier = try ImageClassifier.load(model, weights: weights.map { URL(fileURLWithPath: $0) })
        if needsClassifier && !classifier.spec.hasClassifier {
            throw FoveaError("--model \(model): a feature extractor without a classifier; it serves texture, style, visualize --layer, filters and activations")
        }
        if weights == nil && classifier.spec.defaultWeights == nil {
            Notes.add("\(classifier.spec.name) has no fetched weights and runs with a random initialisation; pass --weights FILE (its torchvision checkpoint)")
        }
        return classifier
    }

    /// "224" or "224x224".
    static func parseSize(_ text: String) throws -> Int {
        let parts = text.lowercased().split(separator: "x").map { Int($0) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0 != nil && $0! > 0 && $0! <= 4096 }) else {
            throw FoveaError("--input-size \(text): expected N or HxW with positive sizes")
        }
        guard parts.count == 1 || parts[0] == parts[1] else { throw FoveaError("--input-size \(text): only square inputs are supported") }
        return parts[0]!
    }

    /// "0.5" or "0.485,0.456,0.406".
    static func parseList(_ text: String, _ flag: String) throws -> [Float] {
        let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0!.isFinite }) else {
            throw FoveaError("\(flag) \(text): expected comma-separated numbers")
        }
        return values.map { $0! }
    }
}

import Foundation

/// Opens a dataset for a command; with `skipUnreadable`, a folder's undecodable images are left
/// out with a note that counts them and names the first.
func openDatasetNoting(_ spec: String, skipUnreadable: Bool) throws -> any ImageDataset {
    let data = try Fovea.openDataset(spec, skipUnreadable: skipUnreadable)
    guard data.count > 0 else { throw FoveaError("\(spec): the dataset holds no images") }
    if let folder = data as? ImageFolder, let first = folder.skipped.first {
        Notes.add("skipped \(folder.skipped.count) unreadable image\(folder.skipped.count == 1 ? "" : "s") of \(spec) (first: \(first.reason))")
    }
    return data
}

/// The flag every dataset-reading command takes.
let skipUnreadableHelp = ArgumentHelp("Leave out images of a folder that cannot be decoded (counted in a note) instead of failing.")
