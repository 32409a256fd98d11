import ArgumentParser
import Fovea
import FoveaModels
import FoveaNN

struct Layers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a model's layers (PyTorch module paths) with their output shapes.",
        discussion: """
        The names are what --layer accepts in every command, and what a PyTorch forward hook on
        that module would see. Shapes are for one image at the model's input size.

          fovea layers --model efficientnet-lite0
          fovea layers --model resnet18 --depth 1
        """
    )

    @Option(name: .long, help: "Model name (see `fovea models`).")
    var model = "efficientnet-lite0"

    @Option(name: .long, help: "Only show paths with at most this many dot-separated parts.")
    var depth: Int?

    @Option(name: .long, help: "Only show this layer and the layers inside it.")
    var layer: String?

    func run() throws {
        guard let spec = ModelSpec.named(model) else {
            throw FoveaError("--model \(model): unknown model; available: \(ModelSpec.all.map(\.name).joined(separator: ", "))")
        }
        let module = spec.build()
        module.eval()
        let size = spec.preprocessing.inputSize
        let shapes = module.layerShapes(input: [1, 3, size, size])
        if let layer, module.module(at: layer) == nil {
            throw UnknownLayerError(name: layer, in: module)
        }
        let rows = shapes.filter { row in
            (depth == nil || row.path.split(separator: ".").count <= depth!)
                && (layer == nil || row.path == layer! || row.path.hasPrefix(layer! + "."))
        }
        let width = max(rows.map(\.path.count).max() ?? 0, 5)
        print("\("layer".rightPad(width))  output shape")
        for (path, shape) in rows {
            let kind = String(describing: type(of: module.module(at: path)!))
            print("\(path.rightPad(width))  \(shape.map(String.init).joined(separator: "x").rightPad(16))  \(kind)")
        }
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the models Fovea can build.")

    func run() {
        for spec in ModelSpec.all {
            let weights = spec.defaultWeights.map { "weights: \($0)" } ?? "weights: --weights FILE (random init otherwise)"
            print("\(spec.name.rightPad(20))  \(spec.summary); \(weights)")
        }
    }
}
