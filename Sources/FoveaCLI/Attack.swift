import ArgumentParser
import Fovea
import FoveaAdversarial
import FoveaAttribution
import FoveaEmbedding
import FoveaIO
import FoveaTensor
import Foundation

struct Attack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fool the model with a small perturbation: FGSM or PGD, untargeted or targeted.",
        discussion: """
        Epsilon and step size are pixel units of the original image, before normalisation:
        8/255, 8 (any value >= 1 is on the 0..255 scale) or 0.03 (below 1: the 0..1 scale). \
        Untargeted attacks push away from the model's own top-1 class (or --label); targeted \
        ones (--target) towards a class. The loss is cross-entropy on the logits. \
        The adversarial crop is written losslessly (-o, PNG), then reloaded and classified again:
        if rounding to 8 bits undid the attack, PGD is rerun on the 8-bit grid.

          fovea attack chelsea.png --method fgsm --epsilon 2/255 -o adv.png
          fovea attack chelsea.png --method pgd --epsilon 4 --steps 10 --target "golden retriever" -o adv.png
        """
    )

    @Argument(help: "Image file (PNG or JPEG).")
    var image: String

    @Option(name: .long, help: "fgsm or pgd.")
    var method: AttackSettings.Method

    @Option(name: .long, help: "L-infinity budget: 8/255, 8 (0..255 scale) or 0.03 (0..1 scale).")
    var epsilon: String

    @Option(name: .long, help: "pgd: iterations.")
    var steps = 10

    @Option(name: .long, help: "pgd: step size (same units as --epsilon; default 2.5 * epsilon / steps).")
    var stepSize: String?

    @Option(name: .long, help: "Targeted attack: class index or label to reach.")
    var target: String?

    @Option(name: .long, help: "Untargeted attack: the true class (default: the model's top-1).")
    var label: String?

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "center: the model's own crop; none: resize the whole image.")
    var crop: CropMode = .center

    @Option(name: [.customShort("o"), .long], help: "The adversarial image (PNG, lossless).")
    var output: String

    @Option(name: .long, help: "The lecture's figure: original + epsilon x perturbation = adversarial (.png, or .svg / .pdf for vector text).")
    var figure: String?

    @Flag(name: .long, help: "Also write clean vs adversarial Grad-CAM and gradient saliency to --figure's folder (NAME-explain.EXT, beside --figure and in its format).")
    var explain = false

    @Option(name: .long, help: "With --explain: shared (each method's panels on one colour scale, so clean and adversarial compare) or each (every panel on its own range).")
    var scale: PanelScale = .shared

    @Option(name: .long, help: "With --explain: an embedding index (from `fovea embed`) to show the clean and adversarial images' nearest neighbours in.")
    var index: String?

    @Option(name: .long, help: "Image paths of the --index rows (from `fovea embed --paths`).")
    var paths: String?

    @Flag(name: .long, help: "Print JSON: before/after top-5, perturbation norms, success, 8-bit check.")
    var json = false

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        if target != nil && label != nil { throw ValidationError("--target (targeted) and --label (untargeted) exclude each other") }
        guard output.lowercased().hasSuffix(".png") else { throw ValidationError("-o \(output): the adversarial image must be a .png (lossless)") }
        if (index != nil || paths != nil) && !(explain && figure != nil && index != nil && paths != nil) {
            throw ValidationError("--index and --paths go together, with --explain and --figure")
        }
    }

    struct Report: Codable {
        let file: String, method: String, epsilon: Float, steps: Int?
        let targeted: Bool, source: Int, target: Int?
        let before: [Prediction.Entry], after: [Prediction.Entry]
        let linf: Float, l2: Float, linf255: Float
        let succeeded: Bool
        /// After saving as 8-bit PNG and reloading.
        let succeededAfter8Bit: Bool, rerunOn8BitGrid: Bool
    }

    func run() throws {
        let classifier = try model.load(needsClassifier: true)
        var settings = AttackSettings(method: method, epsilon: try AttackSettings.parseEpsilon(epsilon))
        settings.steps = steps
        settings.stepSize = try stepSize.map { try AttackSettings.parseEpsilon($0, option: "--step-size") }
        settings.target = try target.map { try classifier.labels.resolve($0) }
        try checkWritable(output, flag: "-o", extensions: ["png"])
        if let figure {
            try checkWritable(figure, flag: "--figure")
            if explain { try checkWritable(siblingPath(figure, suffix: "explain"), flag: "--figure (its -explain file)") }
        }
        settings.label = try label.map { try classifier.labels.resolve($0) }
        let crop = try classifier.input(from: image, crop: crop).crop
        let clean = classifier.pixels(crop)
        var result = try classifier.attack(clean, settings)
        // What a user gets from the saved 8-bit file.
        func survives(_ r: AttackResult) -> Bool {
            let reloaded = classifier.pixels(classifier.image(ofPixels: r.adversarial))
            let top = classifier.predict(classifier.normalizedInput(reloaded)).top(1)[0].index
            return settings.target.map { top == $0 } ?? (top != r.sourceClass)
        }
        if result.usedLogitMargin {
            Notes.add("the cross-entropy gradient was exactly zero (the softmax is saturated at p = 1), so the attack followed the logit margin max_j z_j - z_label instead (Carlini & Wagner)")
        }
        if !result.succeeded && result.linf == 0 {
            Notes.add("the perturbation is zero: the model's gradient with respect to the pixels is zero here, so there is no direction to move (a flat or dead model)")
        }
        var survived = survives(result)
        var rerun = false
        if result.succeeded && !survived && method == .pgd {
            settings.quantize = true
            result = try classifier.attack(clean, settings)
            survived = survives(result)
            rerun = true
        }
        let adversarialImage = classifier.image(ofPixels: result.adversarial)
        // Every picture is made before any is written: a failure leaves no file behind.
        var pictures: [(image: Image, path: String)] = [(adversarialImage, output)]
        func describe(_ p: Prediction) -> String {
            let e = p.top(1)[0]
            return "\(classifier.labels.short(e.index)) \(String(format: "%.3f", e.probability))"
        }
        if let figure {
            let delta = withNoGrad { result.adversarial - result.clean }
            pictures.append((AttackFigure.render(original: crop, adversarial: adversarialImage, perturbation: delta,
                                                 epsilon: settings.epsilon, before: describe(result.before), after: describe(result.after)), figure))
            if explain {
                // Rows: the clean image and the adversarial one explained for the original class,
                // then the adversarial one for the class it now gets (when that changed).
                let source = result.sourceClass, fooled = result.after.top(1)[0].index
                var rows = [("clean", result.clean, source), ("adversarial", result.adversarial, source)]
                if fooled != source { rows.append(("adversarial", result.adversarial, fooled)) }
                let methods = [AttributionMethod.gradcam, .gradient]
                let maps = try rows.map { row in
                    try methods.map { try classifier.attribute($0, input: classifier.normalizedInput(row.1), target: row.2).map }
                }
                // --scale shared: each method's panels on one colour scale, so the rows compare.
                let shared = methods.indices.map { m in scale == .shared ? SaliencyFigure.range(of: maps.map { $0[m] }) : nil }
                var panels: [Image] = []
                for ((name, pixels, target), rowMaps) in zip(rows, maps) {
                    let shownCrop = classifier.image(ofPixels: pixels)
                    for (m, map) in rowMaps.enumerated() {
                        panels.append(SaliencyFigure.render(crop: shownCrop, map: map, caption: "\(name) \(methods[m].rawValue)",
                                                            footnote: "for \(classifier.labels.short(target))", sharedRange: shared[m]))
                    }
                }
                let path = siblingPath(figure, suffix: "explain")
                pictures.append((Image.grid(panels, columns: 2, padding: 6), path))
                if let index, let paths {
                    pictures.append((try neighbours(classifier, clean: result.clean, adversarial: result.adversarial, index: index, paths: paths),
                                     siblingPath(figure, suffix: "neighbors")))
                }
            }
        }
        for picture in pictures { try picture.image.save(path: picture.path) }
        let report = Report(file: image, method: method.rawValue, epsilon: settings.epsilon,
                            steps: method == .pgd ? steps : nil, targeted: settings.target != nil,
                            source: result.sourceClass, target: settings.target,
                            before: result.before.top(5), after: result.after.top(5),
                            linf: result.linf, l2: result.l2, linf255: result.linf * 255,
                            succeeded: result.succeeded, succeededAfter8Bit: survived, rerunOn8BitGrid: rerun)
        if json {
            try printJSON(report)
            return
        }
        print("\(method.rawValue), epsilon \(String(format: "%.4g", settings.epsilon)) (\(String(format: "%.3g", settings.epsilon * 255))/255)\(settings.target.map { ", target \($0) \(classifier.labels.short($0))" } ?? "")")
        print("  before: \(describe(result.before))")
        print("  after:  \(describe(result.after))  -> \(result.succeeded ? "attack succeeded" : "attack failed")")
        print("  perturbation: L-inf \(String(format: "%.4g", result.linf)) (\(String(format: "%.3g", result.linf * 255))/255), L2 \(String(format: "%.4g", result.l2))")
        let rounding = survived ? "still fools the model" : (method == .fgsm && result.succeeded ? "no longer fools the model (FGSM is not rerun; use --method pgd)" : "does not fool the model")
        print("  saved 8-bit PNG \(output): \(rounding)\(rerun ? " (PGD rerun on the 8-bit grid)" : "")")
    }
}

extension Attack {
    /// Two rows: the clean image and its 5 nearest index images, then the adversarial one and
    /// its neighbours (cosine distance of the embeddings).
    func neighbours(_ classifier: ImageClassifier, clean: Tensor, adversarial: Tensor, index: String, paths: String) throws -> Image {
        let embeddings = try DataMatrix.read(index)
        let rowPaths = try CoordinateFile.paths(paths, rows: embeddings.shape[0])
        let search = NearestNeighbors(index: embeddings, metric: .cosine)
        var tiles: [Image] = []
        for (name, pixels) in [("clean", clean), ("adversarial", adversarial)] {
            let f = try classifier.features(classifier.normalizedInput(pixels))
            guard f.shape[1] == embeddings.shape[1] else {
                throw FoveaError("\(index): rows are not \(classifier.spec.name)'s last-layer features")
            }
            var query = classifier.image(ofPixels: pixels).resized(width: 112, height: 112)
            query.drawText(name, x: 2, y: 2, color: [255, 255, 255])
            tiles.append(query)
            for hit in search.search(f, k: 5)[0] {
                var t = classifier.preprocessing.crop(try loadImage(rowPaths[hit.row]), mode: .center).resized(width: 112, height: 112)
                t.drawText(String(format: "%.3f", hit.distance), x: 2, y: 2, color: [255, 255, 255])
                tiles.append(t)
            }
        }
        return Image.grid(tiles, columns: 6, padding: 3)
    }
}

extension AttackSettings.Method: ExpressibleByArgument {}

struct Robustness: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy against epsilon under FGSM or PGD, as a table and a plot.",
        discussion: """
        DATASET is fashion-mnist[:test|:train|:all] (default split: test), an IDX images file \
        (labels file beside it), or a folder of images. Accuracy is against the dataset's labels \
        (class subfolders must be named like the model's labels, e.g. "tiger cat"); an \
        unlabelled folder is scored against the model's own clean predictions (so epsilon 0 \
        gives 100%). Epsilons use --epsilon's units. Images are attacked --batch at a time.

          fovea robustness fashion-mnist --model fashion-cnn --method fgsm \\
              --epsilons 0,0.05,0.1,0.15,0.2,0.25,0.3 -o curve.png
          fovea robustness ~/.cache/fovea/photos --method fgsm --epsilons 0,1,2,4,8 -o curve.png
        """
    )

    @Argument(help: "fashion-mnist[:split], an IDX images file, or a folder of images (optionally one subfolder per class label).")
    var dataset: String

    @Flag(name: .long, help: skipUnreadableHelp)
    var skipUnreadable = false

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "fgsm or pgd.")
    var method: AttackSettings.Method = .fgsm

    @Option(name: .long, help: "Comma-separated epsilons: 0,2/255,4/255 or 0,1,2 (0..255 scale) or 0,0.05,0.1.")
    var epsilons: String

    @Option(name: .long, help: "pgd: iterations.")
    var steps = 10

    @Option(name: .long, help: "Images attacked together.")
    var batch = 100

    @Option(name: .long, help: "Use only the first N images of the dataset.")
    var limit: Int?

    @Option(name: [.customShort("o"), .long], help: "The plot (.png, or .svg / .pdf for vector text); with --shard, the shard's counts (.json) for `fovea merge`.")
    var output: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: Shard.help)
    var shard: Shard?

    /// A shard's result: how many of its images kept their label at each epsilon.
    struct PartialCounts: Codable {
        let correct: [Int]
        let seconds: Double
    }

    func run() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let limit { guard limit >= 1 else { throw ValidationError("--limit must be at least 1") } }
        if shard != nil {
            guard let output else { throw ValidationError("--shard needs -o FILE.json for the shard's counts") }
            try checkWritable(output, flag: "-o", extensions: ["json"])
        } else if let output { try checkWritable(output, flag: "-o") }
        // The values, and each as the user wrote it ("8/255"), sorted together.
        let written = try epsilons.split(separator: ",").map { text in
            (value: try AttackSettings.parseEpsilon(String(text), option: "--epsilons"), text: text.trimmingCharacters(in: .whitespaces))
        }.sorted { $0.value < $1.value }
        let values = written.map(\.value)
        guard !values.isEmpty else { throw FoveaError("--epsilons: give at least one value") }
        let classifier = try model.load(needsClassifier: true)
        let data = try openDatasetNoting(dataset, skipUnreadable: skipUnreadable)
        let count = min(limit ?? data.count, data.count)
        let images = try shard?.rows(of: count, batch: batch, dataset: dataset) ?? 0..<count
        func pixels(_ range: Range<Int>) throws -> Tensor {
            Tensor.concat(try range.map { classifier.pixels(classifier.preprocessing.crop(try data.image(at: $0), mode: .center)) }, axis: 0)
        }
        let labels: [Int]
        let reference: String
        if let classes = data.labels {
            // Dataset classes by index when they are the model's classes, else by name.
            let indices = data.classNames == classifier.labels.names || data.classNames.isEmpty
                ? nil
                : try data.classNames.map { name -> Int in
                    do { return try classifier.labels.resolve(name) } catch {
                        throw FoveaError("\(dataset): class \(name) is not one of \(classifier.spec.name)'s labels")
                    }
                }
            labels = classes[images].map { indices?[$0] ?? $0 }
            if let bad = labels.first(where: { $0 >= classifier.labels.names.count }) {
                throw FoveaError("\(dataset): label \(bad) out of range for \(classifier.spec.name)'s \(classifier.labels.names.count) classes")
            }
            reference = "labels"
        } else {
            labels = try stride(from: images.lowerBound, to: images.upperBound, by: batch).flatMap { first -> [Int] in
                let p = try pixels(first..<min(first + batch, images.upperBound))
                return classifier.logits(classifier.normalizedInput(p)).argmax()
            }
            reference = "clean predictions"
        }
        let start = Date()
        let correct = try classifier.robustnessCounts(images: images, labels: labels, pixels: pixels, epsilons: values, method: method,
                                                      steps: steps, batch: batch, progress: ProgressBar(label: "robustness").update)
        let seconds = Date().timeIntervalSince(start)
        if let shard, let output {
            try ShardJSON.write(PartialCounts(correct: correct, seconds: seconds), to: URL(fileURLWithPath: output))
            let settings = ["dataset": dataset, "model": classifier.spec.name, "method": method.rawValue,
                            "epsilons": written.map(\.text).joined(separator: ","), "steps": String(steps), "batch": String(batch),
                            "skip-unreadable": String(skipUnreadable), "reference": reference]
            try ShardManifest(command: "robustness", shard: shard.index, of: shard.count, rows: [images.lowerBound, images.upperBound],
                              total: count, settings: settings, files: ["output": output]).write(beside: output)
            print("shard \(shard.index) of \(shard.count): images \(images.lowerBound)..<\(images.upperBound) of \(count) -> \(output)")
            return
        }
        let curve = RobustnessCurve(method: method.rawValue, epsilons: values, accuracies: correct.map { Float($0) / Float(max(count, 1)) },
                                    images: count, reference: reference, seconds: seconds)
        try Self.report(curve, epsilonLabels: written.map(\.text), output: output, json: json)
    }

    /// The single run's output, also written by `fovea merge` from the shards' counts: the plot
    /// at `output`, and the table (or JSON) on stdout.
    static func report(_ curve: RobustnessCurve, epsilonLabels: [String], output: String?, json: Bool) throws {
        if let output { try RobustnessPlot.render(curve, labels: epsilonLabels).save(path: output) }
        if json {
            try printJSON(curve)
            return
        }
        print("\(curve.method) on \(curve.images) images, accuracy vs \(curve.reference):")
        print("  epsilon      (0..255)   accuracy")
        for (e, a) in zip(curve.epsilons, curve.accuracies) {
            print("  \(String(format: "%-11.4g", e))  \(String(format: "%-9.3g", e * 255))  \(String(format: "%5.1f%%", a * 100))")
        }
        print(String(format: "%.1f s, %.0f attacked images/s", curve.seconds, curve.imagesPerSecond))
    }
}
