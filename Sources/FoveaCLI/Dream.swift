import ArgumentParser
import Fovea
import FoveaIO
import FoveaSynthesis
import FoveaTensor
import Foundation

struct Dream: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "DeepDream: amplify what a layer sees in a photo, octave by octave.",
        discussion: """
        Gradient ascent on the photo itself for the mean squared activation of --layer \
        (Mordvintsev et al. 2015), or of one --channel. The photo is processed at --octaves \
        sizes, each --octave-scale times the last, coarse to fine; each step rolls the image \
        by a random jitter and moves it by --lr times the gradient over its mean magnitude.

          fovea dream photo.jpg --layer _blocks.6 -o dream.png
          fovea dream photo.jpg --model resnet50 --weights r50.pth --layer layer3 -o dream.png
        """
    )

    @Argument(help: "Photo (PNG or JPEG).")
    var image: String

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Layer whose activations are amplified (default: the model's middle block).")
    var layer: String?

    @Option(name: .long, help: "Only this channel of --layer (its mean) instead of the whole layer.")
    var channel: Int?

    @Option(name: .long, help: "Number of octaves.")
    var octaves = 4

    @Option(name: .long, help: "Size ratio between octaves.")
    var octaveScale: Float = 1.4

    @Option(name: .long, help: "Steps per octave.")
    var steps = 20

    @Option(name: .long, help: "Step size (relative to the mean gradient magnitude).")
    var lr: Float = 0.01

    @Option(name: .long, help: "Random roll in pixels each step.")
    var jitter = 16

    @Option(name: .long, help: "Longest side of the dreamed image (default: the photo's, at most 512).")
    var size: Int?

    @Option(name: .long, help: "Seed of the jitter.")
    var seed: UInt64 = 0

    @Option(name: [.short, .customLong("output")], help: "Output image (.png or .jpg).")
    var output: String

    func validate() throws {
        if steps <= 0 { throw FoveaError("--steps \(steps): must be at least 1") }
        if !(lr.isFinite && lr > 0) { throw FoveaError("--lr \(lr): must be a positive number") }
        if octaves < 1 || octaves > 10 { throw FoveaError("--octaves \(octaves): must be between 1 and 10") }
        if !(octaveScale.isFinite && octaveScale >= 1) { throw FoveaError("--octave-scale \(octaveScale): must be at least 1") }
        if jitter < 0 { throw FoveaError("--jitter \(jitter): must be >= 0") }
        if let size, !(16...2048).contains(size) { throw FoveaError("--size \(size): must be between 16 and 2048") }
    }

    func run() throws {
        try checkWritable(output, flag: "-o")
        let classifier = try model.load()
        let synthesizer = Synthesizer(classifier)
        let layer = self.layer ?? Self.defaultLayer(classifier)
        var photo = try Fovea.loadImage(image)
        photo = classifier.preprocessing.channels == 1 ? photo.grayscale() : photo.rgb()
        let longest = max(photo.width, photo.height)
        // A photo smaller than the model's input is dreamed at the input size (upscaled), as the
        // network cannot see much in fewer pixels than it was trained on.
        let input = classifier.preprocessing.inputSize
        let target = size ?? min(max(longest, input), 512)
        if size == nil && longest < input {
            Notes.add("\(image) is \(photo.width)x\(photo.height), smaller than \(classifier.spec.name)'s \(input)x\(input) input: upscaled to \(input) on its longest side")
        }
        if synthesizer.needsFixedInputSize {
            Notes.add("\(classifier.spec.name) takes \(classifier.preprocessing.inputSize)x\(classifier.preprocessing.inputSize) inputs: each octave is resized to that for the model")
        }
        if target != longest {
            let f = Double(target) / Double(longest)
            photo = photo.resized(width: max(1, Int(Double(photo.width) * f)), height: max(1, Int(Double(photo.height) * f)))
        }
        let x = photo.toTensor(scale: 1 / 255, channels: classifier.preprocessing.channels)
        if let channel {
            let shape = try withNoGrad { try classifier.module.outputs(of: [layer], for: synthesizer.modelInput(x))[layer]!.shape }
            guard (0..<shape[1]).contains(channel) else { throw FoveaError("--channel \(channel): \(layer) has channels 0..<\(shape[1])") }
        }
        let objective: Objective = channel.map { .channel(layer, $0) } ?? .layer(layer)
        var dream = DeepDream()
        (dream.octaves, dream.octaveScale, dream.stepsPerOctave, dream.learningRate, dream.jitter, dream.seed) =
            (octaves, octaveScale, steps, lr, jitter, seed)
        let start = Date()
        let result = try dream.run(objective, on: x, with: synthesizer, progress: synthesisProgress("dream"))
        try synthesisImage(result).save(path: output)
        print(String(format: "%@ on %@ (%dx%d, %d octaves x %d steps, %.1f s) -> %@", objective.name, image, photo.width, photo.height,
                     octaves, steps, Date().timeIntervalSince(start), output))
    }

    /// The middle of the model's blocks (EfficientNet-Lite0: _blocks.8), else its CAM layer.
    static func defaultLayer(_ classifier: ImageClassifier) -> String {
        let blocks = classifier.module.namedModules().map(\.path).filter { $0.hasPrefix("_blocks.") && $0.split(separator: ".").count == 2 }
        return blocks.isEmpty ? classifier.spec.camLayer : blocks[blocks.count / 2]
    }
}
