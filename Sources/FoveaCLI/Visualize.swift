import ArgumentParser
import Fovea
import FoveaIO
import FoveaSynthesis
import FoveaTensor
import Foundation

extension OptimizerKind: ExpressibleByArgument {}
extension ValueRange: ExpressibleByArgument {}

/// How the image is parameterised.
enum ParamKind: String, ExpressibleByArgument, CaseIterable { case pixel, fft, maco }

struct Visualize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What a unit, a channel, a layer or a class wants to see: activation maximisation.",
        discussion: """
        Finds an image that maximises an objective by gradient ascent, with the natural-image \
        priors of the lecture as switches:

          --l2 W              L2 penalty on the pixels (Simonyan et al. 2014)
          --tv W --tv-beta B  total variation, exponent beta (Mahendran & Vedaldi 2015)
          --transforms ...    random jitter, scale, rotation each step (Mordvintsev et al.
                              2015): standard (Lucid's set), none, or a list such as
                              pad:12,jitter:8,scale:0.9-1.1,rotate:10,roll:4
          --blur-every K      blur the image every K steps (Yosinski et al. 2015)
          --gradient-blur S   blur the gradient (Oygard 2015)
          --bilateral-every K bilateral filter every K steps (Tyka 2016)
          --octaves N         optimise at N growing sizes (pixel parameterisation)
          --param fft         Fourier parameterisation, with colour decorrelation unless
                              --no-decorrelate (Olah et al. 2017); the default
          --param maco        phase only, natural magnitude spectrum (Fel et al. 2023);
                              a large image (--size, default 512) seen through 6 random
                              crops per step with a little noise
        The pixel priors (blur, gradient blur, bilateral, --decay) need --param pixel. \
        Objectives: --channel (a channel's mean), --neuron (with --channel: the centre unit), \
        --class (the logit, or --log-prob), --channels A-B (one image per channel, optimised as \
        one batch), --direction V (a direction in channel space, or a photo's), --batch B --diversity W (B different images of one objective). Layers are \
        PyTorch module paths (`fovea layers`); the pass stops at the deepest layer the \
        objective reads. --priors-table draws one picture per prior for the same objective.

          fovea visualize --layer _blocks.4 --channel 7 -o channel.png
          fovea visualize --class goldfish -o goldfish.png
          fovea visualize --layer _blocks.10 --channels 0-15 -o sweep.png
          fovea visualize --layer _blocks.10 --direction cat.jpg --cosine-power 1 -o cat-direction.png
          fovea visualize --class flamingo --priors-table -o priors.png
          fovea visualize --model fashion-cnn --class Sneaker -o sneaker.png
        """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var options: SynthesisOptions

    @Option(name: .long, help: "Layer (PyTorch module path) for --channel, --channels or a layer objective.")
    var layer: String?

    @Option(name: .long, help: "Channel of --layer to maximise (its spatial mean).")
    var channel: Int?

    @Flag(name: .long, help: "With --channel: the single unit at the centre of the map instead of the channel mean.")
    var neuron = false

    @Option(name: .long, help: "A range of channels, A-B or a comma list: one image each, optimised as one batch.")
    var channels: String?

    @Option(name: .customLong("class"), help: "A class to visualise: index or label; several, comma-separated, are one image each, optimised as one batch.")
    var targetClass: String?

    @Flag(name: .long, help: "With --class: maximise the log-probability instead of the logit.")
    var logProb = false

    @Option(name: .long, help: ArgumentHelp("A direction in --layer's channel space: comma-separated values (one per channel), a .npy vector, or a photo (its mean activation there: what makes the layer respond like this photo).", valueName: "values|file.npy|photo"))
    var direction: String?

    @Option(name: .long, help: "With --direction: the cosine-similarity power p; the objective is mean (a.v)|cos(a,v)|^p (Olah et al.; 0: the plain dot product).")
    var cosinePower: Float = 0

    @Option(name: .long, help: "Image side in pixels (default: the model's input size).")
    var size: Int?

    @Option(name: .long, help: "pixel, fft or maco.")
    var param: ParamKind = .fft

    @Flag(inversion: .prefixedNo, help: "Colour decorrelation (3-channel models).")
    var decorrelate = true

    @Option(name: .long, help: "fft: the spectrum's 1/f^decay scaling (higher: smoother images).")
    var fftDecay: Float = 1

    @Option(name: .long, help: "Map to valid pixels by sigmoid or clip.")
    var range: ValueRange = .sigmoid

    @Option(name: .long, help: "Random transforms: auto (standard; for maco its crops), standard, none, or a list (see above).")
    var transforms = "auto"

    @Option(name: .long, help: "Total-variation weight.")
    var tv: Float = 0

    @Option(name: .long, help: "Total-variation exponent beta.")
    var tvBeta: Float = 2

    @Option(name: .long, help: "L2 weight on (pixel - 0.5).")
    var l2: Float = 0

    @Option(name: .long, help: "Blur the image every K steps (pixel).")
    var blurEvery: Int?

    @Option(name: .long, help: "Sigma in pixels of --blur-every.")
    var blurSigma: Float = 0.5

    @Option(name: .long, help: "Blur the gradient with this sigma in pixels (pixel).")
    var gradientBlur: Float?

    @Option(name: .long, help: "Bilateral-filter the image every K steps (pixel).")
    var bilateralEvery: Int?

    @Option(name: .long, help: "Decay the pixels towards grey by this fraction each step (pixel).")
    var decay: Float?

    @Option(name: .long, help: "Optimise at N sizes growing by 1.4, the steps split between them (pixel).")
    var octaves = 1

    @Option(name: .long, help: "Images optimised at once for one objective.")
    var batch = 1

    @Option(name: .long, help: "With --batch: weight of the diversity term at --layer.")
    var diversity: Float = 0

    @Flag(name: .long, help: "One labelled picture of the objective under each prior of the lecture's table; for a class, each caption gives p on the image and its mean over 16 random transforms (\"moved\"): priors make visualisations that survive being moved, plain ascent makes adversarial noise.")
    var priorsTable = false

    @Option(name: .long, help: ArgumentHelp("Also score the objective on these photos' crops (a folder or files, comma-separated) and report the largest: does the visualisation beat every photo?", valueName: "photos"))
    var compare: String?

    func validate() throws {
        if let steps = options.steps, steps <= 0 { throw FoveaError("--steps \(steps): must be at least 1") }
        if let lr = options.lr, !(lr.isFinite && lr > 0) { throw FoveaError("--lr \(lr): must be a positive number") }
        if let size, !(8...2048).contains(size) { throw FoveaError("--size \(size): must be between 8 and 2048") }
        if batch < 1 || batch > 64 { throw FoveaError("--batch \(batch): must be between 1 and 64") }
        if octaves < 1 || octaves > 8 { throw FoveaError("--octaves \(octaves): must be between 1 and 8") }
        for (flag, value) in [("--blur-every", blurEvery), ("--bilateral-every", bilateralEvery)] {
            if let value, value < 1 { throw FoveaError("\(flag) \(value): must be at least 1") }
        }
        for (flag, value) in [("--tv", tv), ("--tv-beta", tvBeta), ("--l2", l2), ("--diversity", diversity), ("--blur-sigma", blurSigma),
                              ("--fft-decay", fftDecay)] {
            guard value.isFinite, value >= 0 else { throw FoveaError("\(flag) \(value): must be a number >= 0") }
        }
        let objectives = [channel != nil || neuron, channels != nil, targetClass != nil, direction != nil].filter { $0 }.count
        if objectives == 0 && layer == nil { throw FoveaError("say what to visualise: --layer L --channel C, --layer L --channels A-B, --class C, --layer L --direction V, or --layer L (the whole layer)") }
        if objectives > 1 { throw FoveaError("--channel, --channels, --class and --direction are different objectives: give one") }
        if direction != nil && layer == nil { throw FoveaError("--direction needs --layer") }
        if !(cosinePower.isFinite && cosinePower >= 0) { throw FoveaError("--cosine-power \(cosinePower): must be a number >= 0") }
        if cosinePower != 0 && direction == nil { throw FoveaError("--cosine-power works with --direction") }
        if neuron && channel == nil { throw FoveaError("--neuron needs --channel") }
        if (channel != nil || channels != nil) && layer == nil { throw FoveaError("--channel and --channels need --layer") }
        if priorsTable && channels != nil { throw FoveaError("--priors-table takes one objective, not --channels") }
        if param != .pixel {
            for (flag, set) in [("--blur-every", blurEvery != nil), ("--gradient-blur", gradientBlur != nil),
                                ("--bilateral-every", bilateralEvery != nil), ("--decay", decay != nil), ("--octaves", octaves > 1)] where set {
                throw FoveaError("\(flag) works on pixels: use it with --param pixel")
            }
        }
        if diversity > 0 && (batch < 2 || layer == nil) { throw FoveaError("--diversity needs --batch 2 or more and a --layer") }
    }

    struct Report: Encodable {
        let objective: String
        let output: String
        let size: Int
        let steps: Int
        let stepsPerSecond: Double
        let seconds: Double
        let finalObjective: Float
        /// The objective on the result itself, without transforms.
        let objectiveOnImage: Float
        let skippedSteps: Int
        /// p(class) of each image, for --class.
        let classProbabilities: [Float]?
        /// Mean p(class) over 16 random standard transforms of each image.
        let classProbabilitiesUnderTransforms: [Float]?
        let images: Int
        let bestPhoto: PhotoScore?
    }

    struct PhotoScore: Encodable {
        let file: String
        let objective: Float
    }

    func run() throws {
        try options.checkOutput()
        let classifier = try model.load()
        let synthesizer = Synthesizer(classifier)
        let p = classifier.preprocessing
        let side = size ?? (param == .maco ? max(p.inputSize, 512) : p.inputSize)
        let channelList = try channels.map { try Self.parseChannels($0) }
        let classIndices = try targetClass.map { try Self.parseClasses($0, labels: classifier.labels) }
        let classIndex = classIndices?.count == 1 ? classIndices![0] : nil
        // The layer's shape at this image size: checks the layer, the channels and a neuron's extent.
        if let layer {
            let shape = try layerShape(layer, synthesizer: synthesizer, side: side)
            let count = shape[1]
            for c in (channel.map { [$0] } ?? []) + (channelList ?? []) where !(0..<count).contains(c) {
                throw FoveaError("--channel \(c): \(layer) has channels 0..<\(count)")
            }
            if neuron && shape.count < 4 { throw FoveaError("--neuron: \(layer) has no spatial extent (output \(shape)); use --channel without --neuron") }
        }
        let directionVector = try direction.map { try directionValues($0, layer: layer!, channels: try layerShape(layer!, synthesizer: synthesizer, side: side)[1], synthesizer: synthesizer) }
        if priorsTable && (classIndices?.count ?? 1) > 1 { throw FoveaError("--priors-table takes one class") }
        let images = channelList?.count ?? classIndices?.count ?? batch
        let objective = makeObjective(channelList: channelList, classIndices: classIndices, direction: directionVector)
        let transforms = transforms == "auto"
            ? (param == .maco ? ImageTransform.macoCrops(imageSize: side, inputSize: p.inputSize) : ImageTransform.standard)
            : try ImageTransform.parse(transforms)
        var settings = SynthesisSettings()
        settings.steps = options.steps ?? (priorsTable ? 256 : 512)
        settings.learningRate = options.lr ?? (options.optimizer == .lbfgs ? 1 : 0.05)
        settings.optimizer = options.optimizer
        settings.seed = options.seed
        settings.transforms = ImageTransform.scaled(transforms, toSize: side)
        settings.priors.blurEvery = blurEvery
        settings.priors.blurSigma = blurSigma
        settings.priors.gradientBlurSigma = gradientBlur
        settings.priors.bilateralEvery = bilateralEvery
        settings.priors.decay = decay

        if priorsTable {
            try drawPriorsTable(objective, synthesizer: synthesizer, settings: settings, side: side, classIndex: classIndex)
            return
        }
        let start = Date()
        let result = try Self.optimise(objective, synthesizer: synthesizer, settings: settings, param: param, shape: [images, p.channels, side, side],
                                       decorrelate: decorrelate, range: range, octaves: octaves, fftDecay: fftDecay, label: "visualize")
        let seconds = Date().timeIntervalSince(start)
        let probabilities = classIndices.map { indices in
            indices.enumerated().map { b, index in
                withNoGrad { classifier.module(synthesizer.modelInput(result.image.slice(axis: 0, b..<(b + 1)))).softmax(axis: 1).scalars[index] }
            }
        }
        let objectiveOnImage = try synthesizer.evaluate(objective, image: result.image)
        let robustness = classIndices.map { indices in
            indices.enumerated().map { b, index in
                synthesizer.meanProbability(of: index, image: result.image.slice(axis: 0, b..<(b + 1)),
                                            transforms: ImageTransform.scaled(ImageTransform.standard, toSize: side), seed: options.seed)
            }
        }
        let bestPhoto = try compare.map { try bestPhotoScore($0, objective: objective, synthesizer: synthesizer) }
        let tiles = (0..<images).map { synthesisImage(result.image.slice(axis: 0, $0..<($0 + 1)), minimum: images > 1 ? 96 : 224) }
        let picture = images == 1 ? tiles[0]
            : channelList.map { list in captionedGrid(tiles, captions: list.map { "channel \($0)" }, columns: min(8, images)) }
                ?? classIndices.map { list in
                    captionedGrid(tiles, captions: list.enumerated().map { b, c in
                        String(format: "%@\np = %.2f", classifier.labels.short(c), probabilities![b])
                    }, columns: min(8, images))
                }
                ?? Image.grid(tiles, columns: min(8, images), padding: 4)
        try picture.save(path: options.output)
        if result.skippedSteps > 0 { Notes.add("\(result.skippedSteps) steps had a non-finite gradient and were skipped") }
        let report = Report(objective: objective.name, output: options.output, size: side, steps: settings.steps,
                            stepsPerSecond: result.stepsPerSecond, seconds: seconds, finalObjective: result.history.last ?? .nan,
                            objectiveOnImage: objectiveOnImage, skippedSteps: result.skippedSteps, classProbabilities: probabilities,
                            classProbabilitiesUnderTransforms: robustness, images: images, bestPhoto: bestPhoto)
        if options.json { try printJSON(report); return }
        let classText = probabilities.map { p in
            "; p(class) = " + p.map { String(format: "%.3f", $0) }.joined(separator: ", ")
                + ", under 16 random transforms " + robustness!.map { String(format: "%.3f", $0) }.joined(separator: ", ")
        } ?? ""
        print(String(format: "%@: objective %.4g after %d steps (%.1f steps/s)%@ -> %@", objective.name, objectiveOnImage,
                     settings.steps, result.stepsPerSecond, classText, options.output))
        if let bestPhoto {
            print(String(format: "  best photo: %@, objective %.4g (the visualisation: %.4g)", bestPhoto.file, bestPhoto.objective, objectiveOnImage))
        }
    }

    func makeObjective(channelList: [Int]?, classIndices: [Int]?, direction: [Float]? = nil) -> Objective {
        var objective: Objective
        if let direction, let layer {
            objective = .direction(layer, direction, cosinePower: cosinePower)
        } else if let classIndices, classIndices.count == 1 {
            objective = logProb ? .classLogProbability(classIndices[0]) : .classLogit(classIndices[0])
        } else if let classIndices {
            objective = Objective.sum(classIndices.enumerated().map { b, c in
                logProb ? Objective.classLogProbability(c, batch: b) : Objective.classLogit(c, batch: b)
            }).named("\(logProb ? "log p" : "logit") of classes \(classIndices.map(String.init).joined(separator: ","))")
        } else if let channelList, let layer {
            objective = Objective.sum(channelList.enumerated().map { b, c in Objective.channel(layer, c, batch: b) })
                .named("channels \(channels!) of \(layer), one per image")
        } else if let channel, let layer {
            objective = neuron ? .neuron(layer, channel) : .channel(layer, channel)
        } else {
            objective = .layer(layer!)
        }
        if diversity > 0, let layer { objective = objective + diversity * .diversity(layer) }
        if tv > 0 { objective = objective - tv * .totalVariation(beta: tvBeta) }
        if l2 > 0 { objective = objective - l2 * .l2() }
        return objective
    }

    /// Runs one parameterisation (octaves: pixel images at growing sizes, steps split evenly).
    static func optimise(_ objective: Objective, synthesizer: Synthesizer, settings: SynthesisSettings, param: ParamKind, shape: [Int],
                         decorrelate: Bool, range: ValueRange, octaves: Int, fftDecay: Float = 1, label: String) throws -> SynthesisResult {
        var generator = SeededGenerator(seed: settings.seed)
        let progress = synthesisProgress(label)
        switch param {
        case .fft:
            let image = FourierImage(shape: shape, decay: fftDecay, range: range, decorrelate: decorrelate, generator: &generator)
            return try synthesizer.run(objective, image, settings: settings, progress: progress)
        case .maco:
            let image = MACOImage(shape: shape, magnitude: try MagnitudeSpectrum.shipped(), range: range, generator: &generator)
            return try synthesizer.run(objective, image, settings: settings, progress: progress)
        case .pixel:
            let sizes = (0..<octaves).map { k in max(8, Int(Float(shape[2]) / Foundation.pow(1.4, Float(octaves - 1 - k)))) }
            var image = PixelImage(shape: [shape[0], shape[1], sizes[0], sizes[0]], range: range, decorrelate: decorrelate, generator: &generator)
            var result: SynthesisResult?
            var history: [Float] = []
            for (k, side) in sizes.enumerated() {
                if k > 0 { image = PixelImage(raw: withNoGrad { image.raw.resized(height: side, width: side) }, range: range, decorrelate: decorrelate) }
                var octave = settings
                octave.steps = max(1, settings.steps / octaves + (k == octaves - 1 ? settings.steps % octaves : 0))
                octave.seed = settings.seed &+ UInt64(k)
                octave.redirectedReLUSteps = k == 0 ? settings.redirectedReLUSteps : 0
                result = try synthesizer.run(objective, image, settings: octave, progress: progress)
                history += result!.history
            }
            return SynthesisResult(image: result!.image, history: history, skippedSteps: result!.skippedSteps, stepsPerSecond: result!.stepsPerSecond)
        }
    }

    /// The lecture's table: the same objective under each prior, side by side.
    func drawPriorsTable(_ objective: Objective, synthesizer: Synthesizer, settings: SynthesisSettings, side: Int, classIndex: Int?) throws {
        let channels = synthesizer.classifier.preprocessing.channels
        let standard = ImageTransform.scaled(ImageTransform.standard, toSize: side)
        var rows: [(String, Objective, ParamKind, SynthesisSettings, Int)] = []
        func pixels(_ change: (inout SynthesisSettings) -> Void) -> SynthesisSettings {
            var s = settings
            s.transforms = []
            s.priors = ImagePriors()
            change(&s)
            return s
        }
        // Pixel rows: clipped pixels, so a step of lr moves a pixel by about lr.
        rows.append(("none (pixels)", objective, .pixel, pixels { _ in }, 1))
        rows.append(("L2 decay", objective, .pixel, pixels { $0.priors.decay = 0.02 }, 1))
        rows.append(("total variation", objective - 20 * .totalVariation(beta: 2), .pixel, pixels { _ in }, 1))
        rows.append(("jitter", objective, .pixel, pixels { $0.transforms = [.roll(max(1, side / 28))] }, 1))
        rows.append(("blur every 4", objective, .pixel, pixels { $0.priors.blurEvery = 4; $0.priors.blurSigma = 1 }, 1))
        rows.append(("gradient blur", objective, .pixel, pixels { $0.priors.gradientBlurSigma = 2 }, 1))
        rows.append(("bilateral", objective, .pixel, pixels { $0.priors.bilateralEvery = 4 }, 1))
        rows.append(("octaves + jitter", objective, .pixel, pixels { $0.transforms = [.roll(max(1, side / 28))] }, 4))
        rows.append(("fft + decorrelation\n+ transforms", objective, .fft, pixels { $0.transforms = standard }, 1))
        var tiles: [Image] = [], captions: [String] = []
        for (name, goal, param, rowSettings, octaves) in rows {
            let result = try Self.optimise(goal, synthesizer: synthesizer, settings: rowSettings, param: param, shape: [1, channels, side, side],
                                           decorrelate: true, range: param == .pixel ? .clip : .sigmoid, octaves: octaves,
                                           label: name.replacingOccurrences(of: "\n", with: " "))
            tiles.append(synthesisImage(result.image, minimum: 160))
            // p on the image, and its mean over 16 random standard transforms (robust, or adversarial?).
            let p = classIndex.map { index -> String in
                let still = withNoGrad { synthesizer.classifier.module(synthesizer.modelInput(result.image)).softmax(axis: 1).scalars[index] }
                let moved = synthesizer.meanProbability(of: index, image: result.image, transforms: standard, seed: settings.seed)
                return String(format: "\np %.2f, moved %.2f", still, moved)
            }
            captions.append(name + (p ?? ""))
        }
        try captionedGrid(tiles, captions: captions, columns: 5).save(path: options.output)
        print("\(objective.name): \(rows.count) priors, \(settings.steps) steps each -> \(options.output)")
    }

    /// The photo whose crop scores highest on the objective (each photo's crop, as the model sees it).
    func bestPhotoScore(_ list: String, objective: Objective, synthesizer: Synthesizer) throws -> PhotoScore {
        var files: [String] = []
        for item in list.split(separator: ",").map(String.init) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory) else { throw FoveaError("--compare \(item): no such file or folder") }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: item).sorted()
                files += names.filter { ["png", "jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }.map { "\(item)/\($0)" }
            } else {
                files.append(item)
            }
        }
        guard !files.isEmpty else { throw FoveaError("--compare \(list): no PNG or JPEG photos there") }
        let c = synthesizer.classifier.preprocessing.channels
        var best = PhotoScore(file: "", objective: -.infinity)
        for file in files {
            let (crop, _) = try synthesizer.classifier.input(from: file)
            let score = try synthesizer.evaluate(objective, image: crop.toTensor(scale: 1 / 255, channels: c))
            if score > best.objective { best = PhotoScore(file: file, objective: score) }
        }
        return best
    }

    /// The --direction vector: a comma list, a .npy file, or a photo's mean activation at `layer`.
    func directionValues(_ text: String, layer: String, channels: Int, synthesizer: Synthesizer) throws -> [Float] {
        var values: [Float]
        let ext = (text as NSString).pathExtension.lowercased()
        if ext == "npy" {
            guard FileManager.default.fileExists(atPath: text) else { throw FoveaError("--direction \(text): no such file") }
            let t: Tensor
            do { t = try NPY.read(URL(fileURLWithPath: text)) } catch { throw FoveaError("--direction \(text): \(error)") }
            guard t.shape.filter({ $0 != 1 }).count <= 1 else { throw FoveaError("--direction \(text): an array of shape \(t.shape), not a vector") }
            values = t.scalars
        } else if ["png", "jpg", "jpeg"].contains(ext) {
            guard FileManager.default.fileExists(atPath: text) else { throw FoveaError("--direction \(text): no such file") }
            let (crop, _) = try synthesizer.classifier.input(from: text)
            let image = crop.toTensor(scale: 1 / 255, channels: synthesizer.classifier.preprocessing.channels)
            let a = try withNoGrad { try synthesizer.classifier.module.outputs(of: [layer], for: synthesizer.modelInput(image)) }[layer]!
            values = a.rank > 2 ? a.mean(axes: Array(2..<a.rank)).scalars : a.scalars
        } else {
            let parts = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
                throw FoveaError("--direction \(text): expected comma-separated numbers, a .npy file or a PNG/JPEG photo")
            }
            values = parts.map { $0! }
        }
        guard values.count == channels else { throw FoveaError("--direction: \(values.count) values for \(layer)'s \(channels) channels") }
        guard values.allSatisfy(\.isFinite), values.contains(where: { $0 != 0 }) else {
            throw FoveaError("--direction: the vector must be finite and not all zero")
        }
        return values
    }

    func layerShape(_ layer: String, synthesizer: Synthesizer, side: Int) throws -> [Int] {
        let c = synthesizer.classifier.preprocessing.channels
        let probe = Tensor(repeating: 0.5, shape: [1, c, side, side])
        let outputs = try withNoGrad { try synthesizer.classifier.module.outputs(of: [layer], for: synthesizer.modelInput(probe)) }
        guard let shape = outputs[layer]?.shape else { throw FoveaError("--layer \(layer): the layer does not run for this model's input") }
        return shape
    }

    /// One class (an index or a label, which may contain commas) or a comma-separated list.
    static func parseClasses(_ text: String, labels: Labels) throws -> [Int] {
        func resolve(_ name: String) throws -> Int { try labels.resolve(name, flag: "--class") }
        if let whole = try? resolve(text) { return [whole] }
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count <= 64 else { throw FoveaError("--class: at most 64 classes at once") }
        return try parts.map(resolve)
    }

    /// "0-15", "3,7,9" or "0-3,8".
    static func parseChannels(_ text: String) throws -> [Int] {
        var out: [Int] = []
        for part in text.split(separator: ",") {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...2).contains(ends.count), ends.allSatisfy({ $0 != nil && $0! >= 0 }), ends.last!! >= ends.first!! else {
                throw FoveaError("--channels \(text): expected A-B or a comma list of channel numbers")
            }
            out += Array(ends.first!!...ends.last!!)
        }
        guard !out.isEmpty, out.count <= 64 else { throw FoveaError("--channels \(text): between 1 and 64 channels") }
        return out
    }
}
