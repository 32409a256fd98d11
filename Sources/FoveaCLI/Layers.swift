import Foundation
import ArgumentParser
import Fovea
import FoveaModels
import FoveaNN
import FoveaONNX
import FoveaTensor

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

    @Flag(name: .long, help: "Print JSON: the layers with their shapes and kinds, and the import notes.")
    var json = false

    func run() throws {
        let classifier: ImageClassifier
        do {
            classifier = try model.load()
        } catch {
            // A graph that is not a single-input classifier (a style network): list its node outputs.
            guard let file = model.modelFile, let graph = try? ImageClassifier.onnxGraph(URL(fileURLWithPath: file)) else { throw error }
            try listGraph(graph, reason: "\(error)")
            return
        }
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
        if json {
            struct Row: Encodable { let layer: String; let shape: [Int]; let kind: String }
            struct Report: Encodable { let model: String; let notes: [String]; let layers: [Row] }
            return try printJSON(Report(model: classifier.spec.name, notes: classifier.spec.importNotes,
                                        layers: rows.map { Row(layer: $0.path, shape: $0.shape, kind: module.module(at: $0.path)!.kindDescription) }))
        }
        for note in classifier.spec.importNotes { print("note: \(note)") }
        let width = max(rows.map(\.path.count).max() ?? 0, 5)
        print("\("layer".rightPad(width))  output shape")
        for (path, shape) in rows {
            let kind = module.module(at: path)!.kindDescription
            print("\(path.rightPad(width))  \(shape.map(String.init).joined(separator: "x").rightPad(16))  \(kind)")
        }
    }
}

extension Layers {
    /// Every node output of an ONNX graph, with shapes when its inputs' shapes are all fixed.
    func listGraph(_ graph: ONNXGraph, reason: String) throws {
        let why = reason.hasPrefix(graph.source + ": ") ? String(reason.dropFirst(graph.source.count + 2)) : reason
        print("note: not used as an image classifier (\(why)); the graph's node outputs follow")
        for input in graph.inputs {
            print("input \(input.name): \(input.shape.map { $0.map(String.init) ?? "?" }.joined(separator: "x"))")
        }
        var shapes: [String: [Int]] = [:]
        if graph.inputs.allSatisfy({ $0.shape.allSatisfy { $0 != nil } }) {
            let feeds = Dictionary(uniqueKeysWithValues: graph.inputs.map { ($0.name, Tensor(zeros: $0.shape.map { $0! })) })
            if let values = try? withNoGrad({ try graph.run(feeds, outputs: graph.layerNames) }) { shapes = values.mapValues(\.shape) }
        }
        let names = graph.layerNames.filter { layer == nil || $0 == layer! }
        let width = max(names.map(\.count).max() ?? 0, 5)
        print("\("layer".rightPad(width))  output shape")
        for name in names {
            let shape = shapes[name].map { $0.map(String.init).joined(separator: "x") } ?? "?"
            print("\(name.rightPad(width))  \(shape.rightPad(16))  \(graph.module(at: name)!.kindDescription)")
        }
        print("outputs: \(graph.outputNames.joined(separator: ", "))")
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


    @Flag(name: .long, help: "Print JSON.")
    var json = false

    struct Row: Encodable {
        let name: String, input: String, preprocessing: String, layers: Int, modules: Int, parameters: Int, weights: String
    }

    func run() throws {
        var table: [Row] = []
        if !json { print("model".rightPad(20) + "input".rightPad(12) + "preprocessing".rightPad(50) + "layers  modules  params    weights") }
        for spec in ModelSpec.all {
            let module = Init.shapesOnly { spec.build() }          // shapes and counts only: no random weights
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
            let norm: String
            if p.mean == Preprocessing.torchvision.mean && p.std == Preprocessing.torchvision.std { norm = "ImageNet mean/std" }
            else if p.mean.allSatisfy({ $0 == 127 }) && p.std.allSatisfy({ $0 == 128 }) { norm = "(x-127)/128" }
            else if p.std.allSatisfy({ $0 == 1 }) { norm = "x - (\(p.mean.map { String(format: "%.1f", $0) }.joined(separator: ",")))" }
            else { norm = "mean \(p.mean.map { fmt($0 / 255) }.joined(separator: ",")) std \(p.std.map { fmt($0 / 255) }.joined(separator: ","))" }
            let weights = spec.defaultWeights.map { $0 == "fashion-cnn.safetensors" ? "shipped" : "fetched" } ?? "--weights FILE"
            table.append(Row(name: spec.name, input: input, preprocessing: "\(crop), \(norm)", layers: layers, modules: modules.count,
                             parameters: params, weights: weights))
            if json { continue }
            print(spec.name.rightPad(20) + input.rightPad(12) + "\(crop), \(norm)".rightPad(50)
                  + String(layers).rightPad(8) + String(modules.count).rightPad(9) + String(format: "%-9@", millions(params) as NSString) + " " + weights)
        }
        if json { return try printJSON(table) }
        print("""

        Your own models load with --model-file FILE (see `fovea layers --model-file FILE`):
          ONNX (.onnx)        graphs of the \(ONNXOperators.count) supported operators, opsets \(ONNXGraph.supportedOpsets.lowerBound)-\(ONNXGraph.supportedOpsets.upperBound); layers are node outputs; preprocessing from --input-size, --mean, --std
          Keras (.h5, .keras) Sequential and Functional CNNs (Keras 2 model.save, Keras 3); layers are Keras layer names; raw 0..255 pixels unless --mean/--std
        """)
    }

    func millions(_ n: Int) -> String { n >= 1_000_000 ? String(format: "%.1fM", Double(n) / 1e6) : String(format: "%.0fk", Double(n) / 1e3) }
    func fmt(_ v: Float) -> String { String(format: "%.4g", v) }
}
