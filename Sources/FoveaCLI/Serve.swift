import ArgumentParser
import Dispatch
import Fovea
import FoveaModels
import FoveaViewer
import Foundation

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The viewer: every technique on your own model and data, in a browser, on this machine.",
        discussion: """
        Opens a local web page (http://127.0.0.1:8080 by default) with a model picker and its \
        layer tree, an image gallery with upload and drag-and-drop, top-5, every attribution \
        method with its faithfulness scores, activation maps and filters per layer, and an \
        embedding projector over the dataset (t-SNE or PCA of the last-layer features, computed \
        once with progress, cancellable, and cached in the cache folder).

        Models: every built-in with weights, plus each --model-file. The server binds 127.0.0.1 \
        unless --host says otherwise; uploads are capped (--upload-limit) and read by content; \
        clients name images by id, never by path; writes from other origins are refused.

          fovea serve
          fovea serve --model-file my.onnx --class-names classes.txt --dataset photos/
          fovea serve --dataset fashion-mnist:all --projector-model fashion-cnn --port 9000
        """
    )

    @Option(name: [.customLong("model"), .customLong("models")], help: ArgumentHelp("Built-in models in the picker, comma-separated or repeated (default: every built-in whose weights are here).", valueName: "names"))
    var modelNames: [String] = []

    @Option(name: .long, help: ArgumentHelp("Your own model (ONNX or Keras); repeat for several. --class-names, --input-size, --mean, --std apply to each.", valueName: "file"))
    var modelFile: [String] = []

    @Option(name: .long, help: ArgumentHelp("Class names for --model-file, one per line.", valueName: "file"))
    var classNames: String?

    @Option(name: .long, help: ArgumentHelp("Input size for --model-file (N or NxN).", valueName: "size"))
    var inputSize: String?

    @Option(name: .long, help: ArgumentHelp("Per-channel mean for --model-file (0..1 pixel scale).", valueName: "m"))
    var mean: String?

    @Option(name: .long, help: ArgumentHelp("Per-channel std for --model-file (0..1 pixel scale).", valueName: "s"))
    var std: String?

    @Option(name: .long, help: ArgumentHelp("Gallery photos: a folder of PNG/JPEG files (default: the set-up's photos).", valueName: "dir"))
    var photos: String?

    @Option(name: .long, help: ArgumentHelp("Style images for the style panel: a folder (default: the set-up's styles).", valueName: "dir"))
    var styles: String?

    @Option(name: .long, help: ArgumentHelp("Dataset for the gallery and the projector: fashion-mnist[:train|:test|:all], a folder, an IDX file, or none (default: fashion-mnist:all when installed).", valueName: "dataset"))
    var dataset: String?

    @Option(name: .long, help: ArgumentHelp("Model that embeds the dataset for the projector (default: fashion-cnn for Fashion-MNIST, else the first model).", valueName: "name"))
    var projectorModel: String?

    @Option(name: .long, help: "At most this many dataset images in the projector (default: all).")
    var projectorPoints: Int?

    @Option(name: .long, help: "Address to bind: 127.0.0.1 (this machine only) unless you mean to share it.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port (0: any free port).")
    var port = 8080

    @Option(name: .long, help: "Largest upload, in MB.")
    var uploadLimit = 10

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port): must be 0...65535") }
        guard (1...100).contains(uploadLimit) else { throw ValidationError("--upload-limit \(uploadLimit): must be 1...100 MB") }
        if let projectorPoints, projectorPoints < 10 { throw ValidationError("--projector-points \(projectorPoints): must be at least 10") }
    }

    func run() throws {
        let workspace = Workspace()
        var entries: [ViewerModel] = []
        let builtIns = try (modelNames.isEmpty ? nil : modelNames.joined(separator: ",")).map { list in
            try list.split(separator: ",").map { name -> ModelSpec in
                let name = name.trimmingCharacters(in: .whitespaces)
                guard let spec = ModelSpec.all.first(where: { $0.name == name }) else {
                    throw FoveaError("--model \(name): unknown model; see `fovea models`")
                }
                return spec
            }
        } ?? ModelSpec.all.filter { spec in spec.defaultWeights.map { (try? workspace.defaultWeights(for: $0)) != nil } ?? false }
        for spec in builtIns {
            entries.append(ViewerModel(name: spec.name, source: "built-in") { try ImageClassifier.load(spec.name) })
        }
        for file in modelFile {
            var flags = ["--model-file", file]
            for (flag, value) in [("--class-names", classNames), ("--input-size", inputSize), ("--mean", mean), ("--std", std)] {
                if let value { flags += [flag, value] }
            }
            let options = try ModelOptions.parse(flags)
            let classifier = try options.load()          // fail now, with its one line, not in the page
            let name = URL(fileURLWithPath: file).lastPathComponent
            nonisolated(unsafe) var first: ImageClassifier? = classifier
            entries.append(ViewerModel(name: name, source: file) {
                if let c = first { first = nil; return c }
                return try options.load()
            })
        }
        // Files first: a user who names a model wants to see it.
        entries = entries.filter { $0.source != "built-in" } + entries.filter { $0.source == "built-in" }
        guard !entries.isEmpty else { throw FoveaError("no models: none of the built-ins' weights are here (run `make demo`) and no --model-file was given") }

        let photoFolder = photos ?? workspace.photos.path
        let photoFiles: [String]
        if photos != nil || FileManager.default.fileExists(atPath: photoFolder) {
            photoFiles = try ImageFolder(photoFolder).paths
        } else {
            photoFiles = []
        }
        var datasetSpec: String? = dataset
        if dataset == nil, FileManager.default.fileExists(atPath: FashionMNIST.root.appendingPathComponent("t10k-images-idx3-ubyte.gz").path) {
            datasetSpec = "fashion-mnist:all"
        }
        if datasetSpec == "none" { datasetSpec = nil }
        if let datasetSpec { _ = try openDataset(datasetSpec) }
        var options = ViewerOptions(models: entries, photos: photoFiles, dataset: datasetSpec, cache: workspace.cache)
        options.uploadLimit = uploadLimit << 20
        options.projectorPoints = projectorPoints
        let styleFolder = styles ?? workspace.cache.appendingPathComponent("styles").path
        if styles != nil || FileManager.default.fileExists(atPath: styleFolder) { options.styles = try ImageFolder(styleFolder).paths }
        if let projectorModel {
            guard entries.contains(where: { $0.name == projectorModel }) else {
                throw FoveaError("--projector-model \(projectorModel): not among the served models (\(entries.map(\.name).joined(separator: ", ")))")
            }
            options.projectorModel = projectorModel
        } else if datasetSpec?.hasPrefix("fashion-mnist") == true, entries.contains(where: { $0.name == "fashion-cnn" }) {
            options.projectorModel = "fashion-cnn"
        }
        let state = ViewerState(options)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        let (host, modelCount) = (host, entries.count)
        Task {
            do {
                try await Viewer.serve(state, host: host, port: port) { bound in
                    print("fovea: serving \(modelCount) models on http://\(host):\(bound)  (Ctrl-C stops)")
                    fflush(stdout)
                }
            } catch {
                failure = error
            }
            done.signal()
        }
        done.wait()
        if let failure { throw FoveaError("--host \(host) --port \(port): \(failure)") }
    }
}
