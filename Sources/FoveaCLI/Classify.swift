import ArgumentParser
import Fovea
import FoveaIO
import Foundation

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the top classes of one or more images.",
        discussion: """
        Each image is cropped and normalised as the model expects (EfficientNet-Lite0: centre \
        87.5% of the short side, bicubic resize to 224x224, (x - 127) / 128).

          fovea classify chelsea.png coffee.png --top 5
          fovea classify chelsea.png --json
          fovea classify chelsea.png coffee.png -o result.png
        """
    )

    @Argument(help: "Image files (PNG or JPEG).")
    var images: [String]

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "How many classes to show per image.")
    var top = 5

    @Option(name: .long, help: "center: the model's own crop; none: resize the whole image (an image already at the input size is used as is).")
    var crop: CropMode = .center

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    @Option(name: [.customShort("o"), .customLong("output"), .customLong("figure")], help: "Write a picture of the result (the crop the network saw and the top classes as bars) to this file (.png, or .svg / .pdf for vector text); with several images, one figure per image stacked vertically.")
    var figure: String?

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    struct Result: Codable {
        let file: String
        let top: [Prediction.Entry]
    }

    func run() throws {
        if let figure { try checkWritable(figure, flag: "-o") }
        let classifier = try model.load(needsClassifier: true)
        // Read every image before printing anything: a bad file fails the whole command.
        let inputs = try images.map { try classifier.input(from: $0, crop: crop) }
        let results = try zip(images, inputs).map { file, input in
            let prediction = classifier.predict(input.tensor)
            guard prediction.probabilities.allSatisfy(\.isFinite) else {
                throw FoveaError("\(file): the model's output is not finite (NaN or infinity) for this image; nothing written")
            }
            return Result(file: file, top: prediction.top(top))
        }
        if let figure {
            let panels = zip(results, inputs).map { r, input in
                PredictionFigure.render(crop: input.crop, top: r.top,
                                        title: URL(fileURLWithPath: r.file).lastPathComponent)
            }
            try Image.grid(panels, columns: 1, padding: 0).save(path: figure)
        }
        if json {
            try printJSON(results)
            return
        }
        for r in results {
            print(r.file)
            for e in r.top {
                let label = e.label.count > 40 ? String(e.label.prefix(39)) + "…" : e.label
                print("  \(String(e.index).leftPad(4))  \(label.rightPad(40))  \(String(format: "%.3f", e.probability))")
            }
        }
    }
}

extension CropMode: ExpressibleByArgument {}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
