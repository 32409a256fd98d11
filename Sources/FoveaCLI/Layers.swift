import Foundation
import ArgumentParser
import Fovea
import FoveaModels
import FoveaNN
import FoveaONNX

struct Layers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a model's layers (PyTorch module paths) with their output shapes.",
        discussion: """
        The names are what --layer accepts in every command, and what a PyTorch forward hook on \
        that module would see. Shapes are for one image at the model's input size.

          fovea layers --model efficientnet-lite0
          fovea layers --model resnet18 --depth 1
          fovea layers --model-file resnet18.onnx      (ONNX: node output names, with the operator)
        """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Only show paths with at most this many dot-separated parts.")
    var depth: Int?

    @Option(name: .long, help: "Only show this layer and the layers inside it.")
    var layer: String?

    func run() throws {
        let classifier = try model.load()
        let module = classifier.module
        let p = classifier.preprocessing
        let shapes = module.layerShapes(input: [1, p.channels, p.inputSize, p.inputSize])
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
            let kind = module.module(at: path)!.kindDescription
            print("\(path.rightPad(width))  \(shape.map(String.init).joined(separator: "x").rightPad(16))  \(kind)")
        }
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the models Fovea can build: input, preprocessing, layers, parameters, weights.",
        discussion: """
        Names are torchvision's constructor names. Models without shipped or fetched weights \
        take --weights FILE: the official torchvision checkpoint (e.g. vgg16-397923af.pth from \
        ~/.cache/torch/hub/checkpoints), loaded with strict key and shape checks. \
        "layers" counts the convolution and linear layers; "modules" every named module.
        """
    )

    func run() {
        print("model".rightPad(20) + "input".rightPad(12) + "preprocessing".rightPad(45) + "layers  modules  params    weights")
        for spec in ModelSpec.all {
            let module = spec.build()
            let modules = module.namedModules().dropFirst()
            let layers = modules.filter { $0.module is Conv2d || $0.module is Linear }.count
            let params = module.namedParameters().reduce(0) { $0 + $1.tensor.count }
            let p = spec.preprocessing
            let input = "\(p.channels)x\(p.inputSize)x\(p.inputSize)"
            let crop: String
            switch p.crop {
            case .centerFraction(let f): crop = String(format: "centre %g%% crop, bicubic", f * 100)
            case .resizeThenCenter(let r): crop = "resize \(r), centre \(p.inputSize)"
            case .resize: crop = "resize to \(p.inputSize)"
            }
            let norm = p.mean == Preprocessing.torchvision.mean ? "ImageNet mean/std" : (p.channels == 1 ? "mean \(fmt(p.mean[0] / 255)) std \(fmt(p.std[0] / 255))" : "(x-127)/128")
            let weights = spec.defaultWeights.map { $0 == "fashion-cnn.safetensors" ? "shipped" : "fetched" } ?? "--weights FILE"
            print(spec.name.rightPad(20) + input.rightPad(12) + "\(crop), \(norm)".rightPad(45)
                  + String(layers).rightPad(8) + String(modules.count).rightPad(9) + String(format: "%-9@", millions(params) as NSString) + " " + weights)
        }
        print("""

        Your own models load with --model-file FILE (see `fovea layers --model-file FILE`):
          ONNX (.onnx)        graphs of the \(ONNXOperators.count) supported operators, opsets \(ONNXGraph.supportedOpsets.lowerBound)-\(ONNXGraph.supportedOpsets.upperBound); layers are node outputs; preprocessing from --input-size, --mean, --std
          Keras (.h5)         Sequential CNNs saved by model.save; layers are Keras layer names; raw 0..255 pixels unless --mean/--std
        """)
    }

    func millions(_ n: Int) -> String { n >= 1_000_000 ? String(format: "%.1fM", Double(n) / 1e6) : String(format: "%.0fk", Double(n) / 1e3) }
    func fmt(_ v: Float) -> String { String(format: "%.4g", v) }
}
