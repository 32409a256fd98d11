import ArgumentParser
import Fovea
import FoveaIO
import FoveaModels
import FoveaNN
import FoveaOptim
import FoveaStyle
import FoveaSynthesis
import FoveaTensor
import Foundation

/// Options of the two training commands.
struct StyleTrainingOptions: ParsableArguments {
    @Option(name: .long, help: "Folder of content photographs (default: the set-up's content/ folder).")
    var content: String?

    @Option(name: .long, help: "Training steps (batches).")
    var steps = 2000

    @Option(name: .long, help: "Instead of --steps: passes over the training photos (one random crop of each photo per pass).")
    var epochs: Int?

    @Option(name: .long, help: "Batch size.")
    var batch = 4

    @Option(name: .long, help: "Square crop size of the training photos.")
    var crop = 256

    @Option(name: .long, help: "Adam learning rate.")
    var lr: Float?

    @Option(name: .long, help: "Photos held out of training (the last N by name), for evaluation.")
    var holdout = 20

    @Option(name: .long, help: "Write a checkpoint (OUTPUT.checkpoint) every N steps.")
    var checkpointEvery = 100

    @Flag(name: .long, help: "Continue from OUTPUT.checkpoint.")
    var resume = false

    @Option(name: .long, help: "Start from this trained network's weights (or a checkpoint's) instead of random ones: fine-tuning with other weights, crops or steps. Not with --resume.")
    var from: String?

    @Option(name: .long, help: "Seed of the crops.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Save the network's weights in F16 (half the file; outputs change by about 1e-3).")
    var halfPrecision = false

    @Option(name: .long, help: "Save an exponential moving average of the weights, a = d a + (1 - d) w after each step, instead of the last step's weights (0.999 averages about the last 1,000 steps; kept in the checkpoint, which --net and --from then read averaged).")
    var averageDecay: Float?

    @Option(name: [.short, .customLong("output")], help: "The trained network (.safetensors).")
    var output: String

    func validate() throws {
        guard steps > 0 else { throw FoveaError("--steps \(steps): must be at least 1") }
        if let epochs, epochs <= 0 { throw FoveaError("--epochs \(epochs): must be at least 1") }
        guard (1...64).contains(batch) else { throw FoveaError("--batch \(batch): must be 1 to 64") }
        guard (32...1024).contains(crop), crop % 8 == 0 else { throw FoveaError("--crop \(crop): must be a multiple of 8 from 32 to 1024") }
        if let lr, !(lr.isFinite && lr > 0) { throw FoveaError("--lr \(lr): must be a positive number") }
        guard holdout >= 0 else { throw FoveaError("--holdout \(holdout): must be >= 0") }
        if let averageDecay, !(averageDecay >= 0 && averageDecay < 1) { throw FoveaError("--average-decay \(averageDecay): must be from 0 to below 1") }
        guard checkpointEvery > 0 else { throw FoveaError("--checkpoint-every \(checkpointEvery): must be >= 1") }
        guard from == nil || !resume else { throw FoveaError("--from and --resume: give one (--resume continues OUTPUT.checkpoint)") }
        guard output.lowercased().hasSuffix(".safetensors") else { throw FoveaError("-o \(output): use a .safetensors file name") }
        let folder = parentFolder(of: output)
        guard FileManager.default.isWritableFile(atPath: folder.isEmpty ? "." : folder) else { throw FoveaError("-o \(output): folder is not writable") }
    }

    var checkpoint: URL { URL(fileURLWithPath: output + ".checkpoint") }

    /// --steps, or --epochs passes over `photos` photos in batches.
    func totalSteps(photos: Int) -> Int { epochs.map { $0 * Swift.max(1, (photos + batch - 1) / batch) } ?? steps }

    /// The training photos (all but the held-out ones).
    func trainingPhotos() throws -> ContentCrops {
        let folder = content ?? Workspace().cache.appendingPathComponent("content").path
        let files = try ContentCrops.imageFiles(in: folder)
        guard files.count > holdout else { throw FoveaError("--content \(folder): \(files.count) images, not more than --holdout \(holdout)") }
        return try ContentCrops(files: Array(files.dropLast(holdout)), crop: crop, flag: "--content \(folder)")
    }

    /// A note on the images training left out because they could not be read.
    static func noteSkipped(_ crops: ContentCrops, _ what: String) {
        if let first = crops.skipped.first {
            Notes.add("skipped \(crops.skipped.count) unreadable \(what) (first: \(first.reason))")
        }
    }

    /// The command line, for the network file's metadata.
    static var commandLine: String { (["fovea"] + CommandLine.arguments.dropFirst()).joined(separator: " ") }
}

/// The training loop shared by train-style and train-adain: steps, progress, checkpoints, resume,
/// weight averaging. `announce` is printed once the starting weights are in place; `save` runs at
/// the end with the weights to keep in the network (the averaged ones with --average-decay).
func trainLoop(options: StyleTrainingOptions, steps: Int, network: Module, kind: String, optimizer: Adam, label: String,
               announce: String, step: (inout SeededGenerator) throws -> (content: Float, style: Float),
               save: () throws -> Void) throws {
    var first = 0
    if let from = options.from {
        _ = try NetworkFile.load(URL(fileURLWithPath: from), into: network, kind: kind, flag: "--from")
        Notes.add("started from \(from)")
    }
    let average = options.averageDecay.map { WeightAverage(optimizer.parameters, decay: $0) }
    if options.resume {
        guard FileManager.default.fileExists(atPath: options.checkpoint.path) else {
            throw FoveaError("--resume: no checkpoint at \(options.checkpoint.path)")
        }
        let meta = try NetworkFile.loadCheckpoint(options.checkpoint, into: network, optimizer: optimizer, average: average, flag: "--resume")
        first = Int(meta["step"] ?? "0") ?? 0
        Notes.add("resumed at step \(first)")
        if average != nil && meta["average_decay"] == nil {
            Notes.add("the checkpoint has no averaged weights: the average starts at step \(first)")
            average!.restart()
        }
    }
    print(announce)
    var generator = SeededGenerator(seed: options.seed &+ UInt64(first) &* 0x9E37)
    let bar = ProgressBar(label: label)
    var smoothed: (Float, Float)?
    let start = Date()
    // A checkpoint already at --steps only writes the network (a run stopped early, finished there).
    guard first <= steps else { throw FoveaError("--resume: the checkpoint is at step \(first), past the \(steps) steps asked for") }
    for i in first..<steps {
        let (c, s) = try step(&generator)
        guard c.isFinite && s.isFinite else { throw FoveaError("training diverged at step \(i + 1) (loss \(c) + \(s)); lower --lr") }
        average?.update()
        smoothed = smoothed.map { (0.95 * $0.0 + 0.05 * c, 0.95 * $0.1 + 0.05 * s) } ?? (c, s)
        bar.update(i + 1, steps, status: String(format: "content %.4g  style %.4g  %.2f s/step", smoothed!.0, smoothed!.1,
                                                        Date().timeIntervalSince(start) / Double(i + 1 - first)))
        if (i + 1) % options.checkpointEvery == 0 || i + 1 == steps {
            try NetworkFile.saveCheckpoint(network, optimizer: optimizer, average: average,
                                           metadata: ["step": String(i + 1), "command": StyleTrainingOptions.commandLine], to: options.checkpoint)
            if ProcessInfo.processInfo.environment["FOVEA_LOG_TRAINING"] != nil {
                writeStandardError(String(format: "step %d content %.5g style %.5g\n", i + 1, smoothed!.0, smoothed!.1))
            }
        }
    }
    try average.map { try $0.withAveragedWeights(save) } ?? save()
}

struct TrainStyle: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-style",
        abstract: "Train a feed-forward style network (Johnson et al. 2016) for one style image.",
        discussion: """
        The transformation network (9x9 conv, two stride-2 convs, 5 residual blocks, two \
        upsampling convs, 9x9 conv; instance norm, reflection padding) learns to minimise the \
        perceptual loss on random crops of the content photos: contentWeight mean((F(y) - \
        F(x))^2) at relu2_2 of vgg16-features (--content-layer) + styleWeight sum_l L w_l \
        mean((G(y) - G(s))^2) over relu1_2, relu2_2, relu3_3, relu4_3 (--style-layers), G = F \
        F^T / (C H W), w_l = 1/L unless --layer-weights says otherwise (weights proportional to \
        C^2 weigh the layers as Gatys' objective does, whose E_l is C^2/4 times this layer's \
        mean: --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 --layer-weights \
        1,4,16,64,64 --content-layer relu4_2 --style-weight 23.3 is Gatys' objective at alpha \
        1000, per image and up to a constant factor). Adam. A checkpoint \
        (OUTPUT.checkpoint) is written every --checkpoint-every steps; --resume continues from it \
        (and with --steps equal to the checkpoint's step, only writes the network). With \
        FOVEA_LOG_TRAINING=1 the smoothed losses are printed at each checkpoint (for runs \
        without a terminal, where the progress bar is not drawn).

          fovea train-style scream.jpg -o scream.safetensors
          fovea stylize photo.jpg --net scream.safetensors -o styled.png
        """
    )

    @Argument(help: "The style image.")
    var style: String

    @OptionGroup var options: StyleTrainingOptions

    @Option(name: .long, help: "Content weight.")
    var contentWeight: Float = 1

    @Option(name: .long, help: "Style weight.")
    var styleWeight: Float = 5

    @Option(name: .long, help: "The style image's longer side when its Gram matrices are taken.")
    var styleSize = 256

    @Option(name: .long, help: "Style layers of vgg16-features, comma-separated (default relu1_2,relu2_2,relu3_3,relu4_3: Johnson et al.'s).")
    var styleLayers: String?

    @Option(name: .long, help: "Weights of the style layers, comma-separated (default 1/L each; normalised to sum 1).")
    var layerWeights: String?

    @Option(name: .long, help: "Content layer of vgg16-features (default relu2_2: Johnson et al.'s).")
    var contentLayer = "relu2_2"

    func run() throws {
        guard contentWeight.isFinite, contentWeight >= 0, styleWeight.isFinite, styleWeight >= 0 else {
            throw FoveaError("--content-weight and --style-weight must be non-negative numbers")
        }
        let backbone = Synthesizer(try ImageClassifier.load("vgg16-features"))
        let names = styleLayers.map(parseNames) ?? StyleLayers.johnson.names
        guard !names.isEmpty else { throw FoveaError("--style-layers: give at least one layer") }
        for (flag, name) in names.map({ ("--style-layers", $0) }) + [("--content-layer", contentLayer)]
        where backbone.module.module(at: name) == nil {
            throw FoveaError("\(flag): vgg16-features has no layer \(name) (its layers: conv1_1, relu1_1, ..., relu5_3, pool5)")
        }
        let layers = try layerWeights.map { text in
            let weights = try ModelOptions.parseList(text, "--layer-weights"), total = weights.reduce(0, +)
            guard total > 0 else { throw FoveaError("--layer-weights \(text): at least one weight must be positive") }
            return try StyleLayers(names, weights: weights.map { $0 / total })
        } ?? StyleLayers(names)
        let styleImage = try readImage(style, argument: "style")
        let photos = try options.trainingPhotos()
        let loss = try PerceptualLoss(style: StyleImages.tensor(of: styleImage, longSide: styleSize), backbone: backbone,
                                      contentWeight: contentWeight, styleWeight: styleWeight, styleLayers: layers,
                                      contentLayer: contentLayer)
        let net = TransformerNet()
        net.train()
        let optimizer = Adam(net.namedParameters().map(\.tensor), learningRate: options.lr ?? 1e-3)
        try trainLoop(options: options, steps: options.totalSteps(photos: photos.count), network: net, kind: "a feed-forward style network (TransformerNet)", optimizer: optimizer,
                      label: "train-style",
                      announce: "training on \(photos.count) photos, \(options.crop)px crops, batch \(options.batch)") { generator in
            try FeedForwardStyle.trainingStep(net, batch: photos.batch(options.batch, using: &generator), loss: loss, optimizer: optimizer)
        } save: {
            try NetworkFile.save(net, metadata: ["network": "TransformerNet", "style": (style as NSString).lastPathComponent,
                                                 "command": StyleTrainingOptions.commandLine],
                                 halfPrecision: options.halfPrecision, to: URL(fileURLWithPath: options.output))
        }
        StyleTrainingOptions.noteSkipped(photos, "photos")
        print("-> \(options.output)")
    }
}

struct Stylize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a trained feed-forward style network (train-style) on images of any size.",
        discussion: """
        One pass of the network per image. With several images, -o names a folder or a file \
        pattern: the outputs are OUTPUT with the input's name appended.

          fovea stylize photo.jpg --net Resources/scream.safetensors -o styled.png
          fovea stylize a.jpg b.jpg --net scream.safetensors --size 512 -o out/
        """
    )

    @Argument(help: "Images to stylise.")
    var images: [String]

    @Option(name: .long, help: "A network trained by train-style (or a PyTorch examples fast_neural_style checkpoint). Default: the shipped Scream network.")
    var net: String?

    @Option(name: .long, help: "Resize each image so its longer side is this many pixels (default: as it is).")
    var size: Int?

    @Option(name: [.short, .customLong("output")], help: "Output image, or a folder for several images.")
    var output: String

    func run() throws {
        guard !images.isEmpty else { throw FoveaError("give at least one image") }
        if let size, !(16...8192).contains(size) { throw FoveaError("--size \(size): must be 16 to 8192 pixels") }
        let outputs = try outputPaths(images, output)
        let inputs = try images.map { try readImage($0, argument: "image") }
        let network = TransformerNet()
        let file = try net.map { URL(fileURLWithPath: $0) } ?? shippedNetwork("scream.safetensors")
        try NetworkFile.load(file, into: network, kind: "a feed-forward style network (TransformerNet)", flag: "--net")
        network.setRequiresGrad(false)
        for (image, path) in zip(inputs, outputs) {
            let start = Date()
            let y = FeedForwardStyle.stylize(StyleImages.tensor(of: image, longSide: size), with: network)
            try StyleImages.image(y).save(path: path)
            print(String(format: "%@ (%dx%d, %.2f s)", path, y.shape[3], y.shape[2], Date().timeIntervalSince(start)))
        }
    }
}

/// The output file of each input: `output` itself for one input, else `output`/name.png.
func outputPaths(_ inputs: [String], _ output: String) throws -> [String] {
    if inputs.count == 1 && !output.hasSuffix("/") {
        try checkWritable(output, flag: "-o")
        return [output]
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw FoveaError("-o \(output): with several images, give an existing folder")
    }
    return inputs.map { (output as NSString).appendingPathComponent(((($0 as NSString).lastPathComponent) as NSString).deletingPathExtension + ".png") }
}

/// A network shipped in Sources/FoveaStyle/Resources.
func shippedNetwork(_ name: String) throws -> URL {
    guard let url = StyleResources.url(name) else { throw FoveaError("the shipped network \(name) is missing; pass --net FILE") }
    return url
}

struct TrainAdaIN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-adain",
        abstract: "Train the AdaIN decoder (Huang & Belongie 2017) for arbitrary style transfer.",
        discussion: """
        Encoder: vgg16-features up to relu4_1 (frozen). t = AdaIN(f(c), f(s)); the decoder g \
        learns mean((f(g(t)) - t)^2) + styleWeight sum_l mean((mu(phi_l(g(t))) - mu(phi_l(s)))^2) \
        + mean((sigma(..) - sigma(..))^2) over relu1_1 ... relu4_1, on random crops of content \
        photos and style images. Adam, lr 1e-4.

          fovea train-adain --styles styles/ -o decoder.safetensors
          fovea adain photo.jpg painting.jpg --decoder decoder.safetensors -o out.png
        """
    )

    @OptionGroup var options: StyleTrainingOptions

    @Option(name: .long, help: "Folder of style images (default: the set-up's styles/ folder).")
    var styles: String?

    @Option(name: .long, help: "Style weight lambda.")
    var styleWeight: Float = 10

    func run() throws {
        let photos = try options.trainingPhotos()
        let folder = styles ?? Workspace().cache.appendingPathComponent("styles").path
        let paintings = try ContentCrops(files: try ContentCrops.imageFiles(in: folder), crop: options.crop, flag: "--styles \(folder)")
        let backbone = Synthesizer(try ImageClassifier.load("vgg16-features"))
        let decoder = AdaINDecoder()
        // The output layer starts at ImageNet's mean colour, not at 0: Adam moves a bias by about
        // lr per step, so a zero start spends the first thousand steps only reaching mid-gray.
        decoder.outputLayer.bias!.storage.pointer.update(from: [0.485, 0.456, 0.406], count: 3)
        decoder.train()
        let optimizer = Adam(decoder.namedParameters().map(\.tensor), learningRate: options.lr ?? 1e-4)
        try trainLoop(options: options, steps: options.totalSteps(photos: photos.count), network: decoder, kind: "an AdaIN decoder", optimizer: optimizer,
                      label: "train-adain",
                      announce: "training on \(photos.count) photos and \(paintings.count) styles, \(options.crop)px crops, batch \(options.batch)") { generator in
            try AdaINStyle.trainingStep(decoder, content: photos.batch(options.batch, using: &generator),
                                        style: paintings.batch(options.batch, using: &generator), backbone: backbone,
                                        styleWeight: styleWeight, optimizer: optimizer)
        } save: {
            try NetworkFile.save(decoder, metadata: ["network": "AdaINDecoder", "command": StyleTrainingOptions.commandLine],
                                 halfPrecision: options.halfPrecision, to: URL(fileURLWithPath: options.output))
        }
        StyleTrainingOptions.noteSkipped(photos, "photos")
        StyleTrainingOptions.noteSkipped(paintings, "style images")
        print("-> \(options.output)")
    }
}

struct AdaIN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adain",
        abstract: "Arbitrary style transfer in one pass (AdaIN, Huang & Belongie 2017).",
        discussion: """
        The content's relu4_1 features take each channel's mean and standard deviation from the \
        style's, and the trained decoder draws the result. --alpha trades style for content; \
        several --styles with --style-weights interpolate between styles.

          fovea adain photo.jpg scream.jpg -o out.png
          fovea adain photo.jpg scream.jpg --alpha 0.5 -o half.png
          fovea adain photo.jpg --styles a.jpg,b.jpg --style-weights 0.5,0.5 -o mix.png
        """
    )

    @Argument(help: "Content photo.")
    var content: String

    @Argument(help: "Style image (or use --styles).")
    var style: String?

    @Option(name: .long, help: "Several style images, comma-separated.")
    var styles: String?

    @Option(name: .long, help: "Their weights, comma-separated (default equal).")
    var styleWeights: String?

    @Option(name: .long, help: "Style strength, 0 (content) to 1 (full style).")
    var alpha: Float = 1

    @Flag(name: .long, help: "Keep the content photo's colours (luminance-only transfer).")
    var preserveColor = false

    @Option(name: .long, help: "A decoder trained by train-adain (default: the shipped one).")
    var decoder: String?

    @Option(name: .long, help: "The content's longer side in pixels (default 512; the style is resized to the same).")
    var size = 512

    @Option(name: [.short, .customLong("output")], help: "Output image (.png or .jpg).")
    var output: String

    func run() throws {
        try checkWritable(output, flag: "-o")
        guard alpha.isFinite, (0...1).contains(alpha) else { throw FoveaError("--alpha \(alpha): must be between 0 and 1") }
        guard (16...8192).contains(size) else { throw FoveaError("--size \(size): must be 16 to 8192 pixels") }
        let paths = (style.map { [$0] } ?? []) + (styles.map(parseNames) ?? [])
        guard !paths.isEmpty else { throw FoveaError("give a style image or --styles a.jpg,b.jpg") }
        let weights = try parseStyleWeights(styleWeights, count: paths.count)
        var contentTensor = StyleImages.tensor(of: try readImage(content, argument: "content"), longSide: size)
        var styleTensors = try paths.map { StyleImages.tensor(of: try readImage($0, argument: "style"), longSide: size) }
        let net = AdaINDecoder()
        let file = try decoder.map { URL(fileURLWithPath: $0) } ?? shippedNetwork("adain-decoder.safetensors")
        try NetworkFile.load(file, into: net, kind: "an AdaIN decoder", flag: "--decoder")
        net.setRequiresGrad(false)
        let backbone = Synthesizer(try ImageClassifier.load("vgg16-features"))
        let original = contentTensor
        if preserveColor {
            contentTensor = StyleImages.luminance(original)
            styleTensors = styleTensors.map { StyleImages.luminance($0, matching: original) }
        }
        let start = Date()
        var y = try AdaINStyle.stylize(content: contentTensor, styles: Array(zip(styleTensors, weights)).map { ($0.0, $0.1) },
                                       alpha: alpha, decoder: net, backbone: backbone)
        if preserveColor { y = clampedToUnit(StyleImages.recolored(y, colorOf: original)) }
        try StyleImages.image(y).save(path: output)
        print(String(format: "-> %@ (%dx%d, %.2f s)", output, y.shape[3], y.shape[2], Date().timeIntervalSince(start)))
    }
}
