import ArgumentParser
import Fovea
import FoveaEmbedding
import FoveaIO
import FoveaTensor
import Foundation

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed a dataset: one feature row per image.",
        discussion: """
        DATASET is a folder of images, or of class subfolders (their names become labels); \
        fashion-mnist[:test|:train|:all] (10k, 60k or 70k images with labels; use \
        --model fashion-cnn); an IDX images file (its labels file beside it); or \
        scikit-learn's digits CSV (raw 64-d pixels and their labels; no model is run). \
        --paths names IDX rows DATASET#INDEX, which every command that reads an image accepts. \
        The default layer is the input of the final linear classifier (the lecture's \
        last-layer features); a named conv layer is averaged over space.

          fovea embed ~/.cache/fovea/photos -o emb.npy --paths paths.txt
          fovea embed animals/ --layer _blocks.15 -o emb.npy --labels labels.npy --paths paths.txt
          fovea embed fashion-mnist --model fashion-cnn -o fm.npy --labels fm-labels.npy --paths fm.txt
          fovea embed ~/.cache/fovea/datasets/digits.csv -o digits.npy --labels digits-labels.npy
        """
    )

    @Argument(help: "Folder of images (optionally one subfolder per class), fashion-mnist[:split], an IDX images file, or digits.csv.")
    var dataset: String

    @Flag(name: .long, help: skipUnreadableHelp)
    var skipUnreadable = false

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Layer (PyTorch module path); default: the input of the final linear layer.")
    var layer: String?

    @Option(name: .long, help: "Images per forward pass.")
    var batch = 16

    @Option(name: [.customShort("o"), .long], help: "Embeddings, float32 .npy [N, D].")
    var output: String

    @Option(name: .long, help: "Class index per image, int64 .npy (needs a labelled dataset).")
    var labels: String?

    @Option(name: .long, help: "Image paths, one per line, in row order.")
    var paths: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: Shard.help)
    var shard: Shard?

    func run() throws {
        try checkWritable(output, flag: "-o", extensions: ["npy"])
        if let labels { try checkWritable(labels, flag: "--labels", extensions: ["npy"]) }
        if let paths { try checkWritable(paths, flag: "--paths", extensions: nil) }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if dataset.lowercased().hasSuffix(".csv") {
            if shard != nil { throw ValidationError("--shard: \(dataset) is read whole (no network runs on it); nothing to shard") }
            let (pixels, digitLabels) = try Digits.load(URL(fileURLWithPath: dataset))
            try NPY.write(pixels, to: URL(fileURLWithPath: output))
            if let labels { try NPY.write(digitLabels, to: URL(fileURLWithPath: labels)) }
            print("\(digitLabels.count) digits x 64 raw pixels -> \(output)")
            return
        }
        let classifier = try model.load()
        let whole = try openDatasetNoting(dataset, skipUnreadable: skipUnreadable)
        if labels != nil && whole.labels == nil {
            throw FoveaError("--labels: \(dataset) has no labels (give a folder with class subfolders, or an IDX file with its labels file)")
        }
        let rows = try shard?.rows(of: whole.count, batch: batch, dataset: dataset) ?? 0..<whole.count
        let data: any ImageDataset = shard == nil ? whole : DatasetSlice(whole, rows)
        let embedding = try classifier.embed(data, layer: layer, batch: batch, progress: ProgressBar(label: "embed").update)
        try NPY.write(embedding, to: URL(fileURLWithPath: output))
        if let labels, let l = data.labels { try NPY.write(l, to: URL(fileURLWithPath: labels)) }
        if let paths {
            let names = (0..<data.count).map { data.name(at: $0) }
            try (names.joined(separator: "\n") + "\n").write(toFile: paths, atomically: true, encoding: .utf8)
        }
        let layerText = layer ?? (classifier.spec.featuresLayer.map { "\($0), the input of \(classifier.spec.classifier)" } ?? "input of \(classifier.embeddingLayer)")
        if let shard {
            var files = ["output": output]
            files["labels"] = labels
            files["paths"] = paths
            let settings = ["dataset": dataset, "model": classifier.spec.name, "layer": layer ?? "", "batch": String(batch),
                            "skip-unreadable": String(skipUnreadable), "features": String(embedding.shape[1])]
            try ShardManifest(command: "embed", shard: shard.index, of: shard.count, rows: [rows.lowerBound, rows.upperBound],
                              total: whole.count, settings: settings, files: files).write(beside: output)
        }
        if json {
            struct Report: Encodable { let images: Int; let features: Int; let layer: String; let output: String; let labels: String?; let paths: String? }
            return try printJSON(Report(images: data.count, features: embedding.shape[1], layer: layerText, output: output, labels: labels, paths: paths))
        }
        let share = shard.map { " (shard \($0.index) of \($0.count): images \(rows.lowerBound)..<\(rows.upperBound) of \(whole.count))" } ?? ""
        print("\(data.count) images x \(embedding.shape[1]) features (\(layerText))\(share) -> \(output)")
    }
}

struct Neighbors: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Nearest neighbours of an image in an embedding index.",
        discussion: """
        Exact search: one matrix product against the index. The query is embedded with the \
        same model and layer as the index (--layer if the index used one).

          fovea neighbors chelsea.png --index emb.npy --paths paths.txt --k 5 -o nn.png
          fovea neighbors --evaluate --index emb.npy --labels labels.npy --k 10
        """
    )

    @Argument(help: "Query image (not needed with --evaluate).")
    var query: String?

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Embeddings .npy [N, D] (from `fovea embed`).")
    var index: String

    @Option(name: .long, help: "Image paths of the index rows (from `fovea embed --paths`).")
    var paths: String?

    @Option(name: .long, help: "Labels of the index rows (for --evaluate).")
    var labels: String?

    @Option(name: .long, help: "Layer the index was embedded at (default: the input of the final linear layer).")
    var layer: String?

    @Option(name: .long, help: "Neighbours per query.")
    var k = 10

    @Option(name: .long, help: "cosine or l2.")
    var metric: NearestNeighbors.Metric = .cosine

    @Flag(name: .long, help: "Report precision@k of every index row against the others (needs --labels).")
    var evaluate = false

    @Option(name: [.customShort("o"), .long], help: "Picture: the query on the left, neighbours with distances.")
    var output: String?

    @Option(name: .long, help: "Class names for --labels (comma-separated, a text file, or fashion-mnist): neighbours are shown with their class.")
    var classNames: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
        if let output { try checkWritable(output, flag: "-o") }
        let embeddings = try DataMatrix.read(index)
        let rows = embeddings.shape[0]
        if evaluate && k >= rows {
            throw FoveaError("--k \(k): the index has \(rows) rows, so leave-one-out has at most \(rows - 1) neighbours")
        }
        let k = min(self.k, rows)
        if k < self.k { Notes.add("--k \(self.k): the index has \(rows) rows; all of them are shown") }
        let search = NearestNeighbors(index: embeddings, metric: metric)
        if evaluate {
            guard let labels else { throw FoveaError("--evaluate needs --labels") }
            let l = try NPY.readIntegers(URL(fileURLWithPath: labels)).values
            guard l.count == embeddings.shape[0] else { throw FoveaError("\(labels): \(l.count) labels for \(embeddings.shape[0]) rows") }
            let precision = search.precisionAtK(labels: l, k: k)
            if json {
                struct Evaluation: Encodable { let k: Int; let metric: String; let rows: Int; let precision: Float }
                try printJSON(Evaluation(k: k, metric: metric.rawValue, rows: l.count, precision: precision))
            } else {
                print(String(format: "precision@%d (%@, leave-one-out over %d rows): %.4f", k, metric.rawValue, l.count, precision))
            }
            return
        }
        guard let query else { throw ValidationError("give a query image, or --evaluate") }
        let rowPaths = try paths.map { try CoordinateFile.paths($0, rows: embeddings.shape[0]) }
        let classifier = try model.load()
        let q = try classifier.embed([query], layer: layer)
        guard q.shape[1] == embeddings.shape[1] else {
            throw FoveaError("\(index): \(embeddings.shape[1])-d rows, but \(classifier.spec.name) gives \(q.shape[1])-d features here; use the model and --layer of the index")
        }
        let found = search.search(q, k: min(k, embeddings.shape[0]))[0]
        let rowLabels = try labels.map { try NPY.readIntegers(URL(fileURLWithPath: $0)).values }
        if let rowLabels, rowLabels.count != embeddings.shape[0] { throw FoveaError("\(labels!): \(rowLabels.count) labels for \(embeddings.shape[0]) rows") }
        let names = try classNames.map { try MapCommand.classNames($0) } ?? []
        func className(_ row: Int) -> String? {
            guard let l = rowLabels?[row] else { return nil }
            return names.indices.contains(l) ? names[l] : "class \(l)"
        }
        if json {
            struct Row: Encodable { let rank: Int; let row: Int; let distance: Float; let path: String?; let label: String? }
            try printJSON(found.enumerated().map { Row(rank: $0 + 1, row: $1.row, distance: $1.distance, path: rowPaths?[$1.row], label: className($1.row)) })
        } else {
            for (rank, hit) in found.enumerated() {
                let label = className(hit.row).map { "  [\($0)]" } ?? ""
                print("\(rank + 1). row \(hit.row)  distance \(String(format: "%.4f", hit.distance))\(label)  \(rowPaths?[hit.row] ?? "")")
            }
        }
        if let output {
            guard let rowPaths else { throw FoveaError("-o needs --paths to draw the neighbours") }
            func thumb(_ path: String, _ caption: String) throws -> Image {
                let crop = classifier.preprocessing.crop(try loadImage(path), mode: .center)
                // Small inputs (28x28) are enlarged with nearest neighbour, so pixels stay sharp.
                let c = crop.resized(width: 128, height: 128, filter: crop.width < 64 ? .nearest : .bicubic)
                var tile = Image(width: 128, height: 146, channels: 3, color: [255, 255, 255])
                tile.paste(c, x: 0, y: 0)
                tile.drawText(caption, x: 2, y: 134, color: [0, 0, 0])
                return tile
            }
            let tiles = try [thumb(query, "query")] + found.map { hit in
                try thumb(rowPaths[hit.row], String(format: "%.3f", hit.distance) + (className(hit.row).map { " \($0)" } ?? ""))
            }
            try Image.grid(tiles, columns: tiles.count, padding: 4).save(path: output)
        }
    }
}

struct PCACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pca",
        abstract: "Project embeddings onto their principal components.",
        discussion: """
          fovea pca emb.npy -o coords.npy             (N x 2, same row order) \
          fovea pca emb.npy --components 3 -o coords.csv
        """
    )

    @Argument(help: "Embeddings .npy [N, D].")
    var embeddings: String

    @Option(name: .long, help: "Number of components.")
    var components = 2

    @Option(name: [.customShort("o"), .long], help: "Coordinates: .npy or .csv.")
    var output: String

    func run() throws {
        try checkWritable(output, flag: "-o", extensions: ["npy", "csv"])
        let x = try DataMatrix.read(embeddings)
        guard components >= 1, components <= x.shape[1] else {
            throw FoveaError("--components \(components): \(embeddings) has \(x.shape[1]) columns, so 1...\(x.shape[1]) components")
        }
        let pca = try PCA(x, components: components)
        let coords = pca.transform(x)
        try CoordinateFile.write(coords, to: output)
        let total = pca.variances.reduce(0, +)
        print("\(x.shape[0]) rows x \(x.shape[1]) -> \(components) components, variances \(pca.variances.map { String(format: "%.4g", $0) }.joined(separator: ", ")) (sum \(String(format: "%.4g", total))) -> \(output)")
    }
}

struct TSNECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsne",
        abstract: "Map embeddings to 2-D with t-SNE (exact, Barnes-Hut or FFT-interpolated).",
        discussion: """
        Perplexity-calibrated Gaussian affinities, Student-t map, PCA initialisation, early \
        exaggeration 12 for 250 iterations, learning rate N/12, momentum and gains; prints the \
        KL divergence of the result. Up to 2500 points the gradients are exact (O(N^2) per \
        iteration); above, P is kept on each point's 3 x perplexity nearest neighbours and the \
        repulsion is approximated: up to 20000 points by Barnes-Hut over a quadtree (O(N log N)), \
        above by FFT-accelerated interpolation on a grid (FIt-SNE, O(N)): all 70k Fashion-MNIST \
        points take under a minute on two cores.

        --transform places new points into an existing map without moving the old ones: each \
        new point starts at the affinity-weighted mean of its nearest reference points and is \
        optimised against the fixed map.

          fovea tsne digits.npy --perplexity 30 -o coords.csv
          fovea tsne fm.npy -o fm-coords.npy                            (10k points: Barnes-Hut)
          fovea tsne fm-all.npy -o fm-all-coords.npy                    (70k points: FFT)
          fovea tsne new.npy --transform --reference fm.npy --reference-coords fm-coords.npy -o new-coords.npy
        """
    )

    @Argument(help: "Embeddings .npy [N, D].")
    var embeddings: String

    @Option(name: .long, help: "Perplexity (effective number of neighbours).")
    var perplexity: Float?

    @Option(name: .long, help: "Gradient-descent iterations.")
    var iterations: Int?

    @Option(name: .long, help: "Learning rate (default N / 12, at least 50).")
    var learningRate: Float?

    @Option(name: .long, help: "exact, barnes-hut or fft (default: exact up to 2500 points, Barnes-Hut up to 20000, FFT above).")
    var method: TSNE.Method?

    @Option(name: .long, help: "Initial map: pca (deterministic) or random (Gaussian, from --seed).")
    var initialization: TSNE.Initialization = .pca

    @Option(name: .long, help: "Seed of the random initial map (with --initialization random).")
    var seed: UInt64?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "Barnes-Hut accuracy: cells with side / distance below theta are summarised.")
    var theta: Float = 0.5

    @Flag(name: .long, help: "Place the rows of EMBEDDINGS into an existing map (--reference, --reference-coords).")
    var transform = false

    @Option(name: .long, help: "--transform: the embeddings the map was made from, .npy [M, D].")
    var reference: String?

    @Option(name: .long, help: "--transform: the map's coordinates [M, 2], .npy or .csv.")
    var referenceCoords: String?

    @Option(name: [.customShort("o"), .long], help: "Coordinates [N, 2]: .npy or .csv (same row order).")
    var output: String

    func run() throws {
        if let perplexity { guard perplexity.isFinite, perplexity >= 1 else { throw FoveaError("--perplexity \(perplexity): must be a number >= 1 (the effective number of neighbours)") } }
        if let learningRate { guard learningRate.isFinite, learningRate > 0 else { throw FoveaError("--learning-rate \(learningRate): must be a positive number") } }
        try checkWritable(output, flag: "-o", extensions: ["npy", "csv"])
        if let iterations { guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") } }
        guard theta >= 0, theta < 2 else { throw ValidationError("--theta must be in 0..<2") }
        let x = try DataMatrix.read(embeddings)
        if transform {
            guard let reference, let referenceCoords else { throw ValidationError("--transform needs --reference and --reference-coords") }
            let r = try DataMatrix.read(reference)
            let map = try CoordinateFile.read(referenceCoords)
            guard r.rank == 2, r.shape[1] == x.shape[1] else {
                throw FoveaError("\(reference): \(r.shape) does not match \(embeddings)'s \(x.shape[1])-d rows")
            }
            guard map.shape == [r.shape[0], 2] else {
                throw FoveaError("\(referenceCoords): \(map.shape) coordinates for \(r.shape[0]) reference rows")
            }
            var placement = TSNE.Placement()
            if let perplexity { placement.perplexity = perplexity }
            if let iterations { placement.iterations = iterations }
            let coords = try placement.place(x, reference: r, map: map, progress: ProgressBar(label: "t-SNE transform").update)
            try CoordinateFile.write(coords, to: output)
            print("\(x.shape[0]) new points placed into a \(r.shape[0])-point map -> \(output)")
            return
        }
        var tsne = TSNE()
        if let perplexity { tsne.perplexity = perplexity }
        if let iterations { tsne.iterations = iterations }
        (tsne.learningRate, tsne.method, tsne.theta) = (learningRate, method, theta)
        (tsne.initialization, tsne.seed) = (initialization, seed ?? 0)
        if seed != nil && initialization != .random {
            Notes.add("--seed seeds only --initialization random; the PCA start (the default) is deterministic")
        }
        let result = try tsne.fit(x, progress: ProgressBar(label: "t-SNE").update)
        try CoordinateFile.write(result.coordinates, to: output)
        if json {
            struct Report: Encodable { let points: Int; let method: String; let perplexity: Float; let kl: Float; let output: String }
            return try printJSON(Report(points: x.shape[0], method: result.method.rawValue, perplexity: tsne.perplexity, kl: result.kl, output: output))
        }
        print("\(x.shape[0]) points -> 2-D (\(result.method.rawValue)), perplexity \(tsne.perplexity), KL divergence \(String(format: "%.4f", result.kl)) -> \(output)")
    }
}

extension TSNE.Method: ExpressibleByArgument {}
extension TSNE.Initialization: ExpressibleByArgument {}

struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Draw 2-D coordinates: a scatter coloured by class, or an image map of thumbnails.",
        discussion: """
        Every point is drawn in the scatter; the image map snaps points to a grid and shows the \
        one nearest each cell's centre, so it stays readable for any N.

          fovea map coords.npy --labels labels.npy -o scatter.png
          fovea map fm-coords.npy --labels fm-labels.npy --classes fashion-mnist -o fm-scatter.png
          fovea map coords.npy --images paths.txt -o images.png --grid 40
          fovea map coords.npy --digits digits.csv -o digits-map.png
        """
    )

    @Argument(help: "Coordinates [N, 2]: .npy or .csv.")
    var coords: String

    @Option(name: .long, help: "Class per row (int .npy) for the scatter colours.")
    var labels: String?

    @Option(name: .long, help: "Class names for the legend: comma-separated, a text file with one per line, or fashion-mnist.")
    var classes: String?

    @Option(name: .long, help: "Image paths, one per row (from `fovea embed --paths`): draw an image map.")
    var images: String?

    @Option(name: .long, help: "scikit-learn's digits CSV: draw an image map of the digits.")
    var digits: String?

    @Option(name: .long, help: "Image map: cells per side.")
    var grid = 30

    @Option(name: .long, help: ArgumentHelp("Scatter: a frame with ticks in the coordinates' units and these axis titles, e.g. 't-SNE 1,t-SNE 2'.", valueName: "x,y"))
    var axes: String?

    @Option(name: .long, help: "Scatter: a title above the plot.")
    var title: String?

    @Option(name: [.customShort("o"), .long], help: "Output figure (.png, or .svg / .pdf for vector text).")
    var output: String

    func run() throws {
        try checkWritable(output, flag: "-o")
        guard (2...400).contains(grid) else { throw FoveaError("--grid \(grid): must be between 2 and 400 cells per side") }
        let c = try CoordinateFile.read(coords)
        guard c.shape[1] == 2 else { throw FoveaError("\(coords): coordinates must be [N, 2], got \(c.shape)") }
        let n = c.shape[0]
        if let images {
            let paths = try CoordinateFile.paths(images, rows: n)
            try MapFigure.imageMap(c, thumbnail: { try loadImage(paths[$0]) }, grid: grid).save(path: output)
        } else if let digits {
            let (pixels, _) = try Digits.load(URL(fileURLWithPath: digits))
            guard pixels.shape[0] == n else { throw FoveaError("\(digits): \(pixels.shape[0]) digits for \(n) points") }
            let v = pixels.scalars
            try MapFigure.imageMap(c, thumbnail: { i in
                Image(width: 8, height: 8, channels: 1, pixels: (0..<64).map { UInt8(255 - min(v[i * 64 + $0], 16) * 255 / 16) })
            }, grid: grid).save(path: output)
        } else {
            let l = try labels.map { try NPY.readIntegers(URL(fileURLWithPath: $0)).values }
            if let l, l.count != n { throw FoveaError("\(labels!): \(l.count) labels for \(n) points") }
            let names = try classNames()
            let classCount = names.isEmpty ? 1000 : names.count
            if let l, let bad = l.first(where: { $0 < 0 || $0 >= classCount }) {
                throw FoveaError("\(labels!): label \(bad) is out of range 0..<\(classCount)\(names.isEmpty ? "" : " (the classes given)")")
            }
            try MapFigure.scatter(c, labels: l, classNames: names, axes: try axisTitles(), title: title).save(path: output)
        }
        print("\(n) points -> \(output)")
    }

    /// "t-SNE 1,t-SNE 2" -> the two axis titles.
    func axisTitles() throws -> (x: String, y: String)? {
        guard let axes else { return nil }
        let parts = axes.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { throw FoveaError("--axes \(axes): give two titles, x and y, separated by a comma") }
        return (parts[0], parts[1])
    }

    func classNames() throws -> [String] {
        guard let classes else { return [] }
        return try Self.classNames(classes)
    }

    /// Class names from "fashion-mnist", a text file (one per line) or a comma-separated list.
    static func classNames(_ classes: String) throws -> [String] {
        if classes.lowercased() == "fashion-mnist" { return FashionMNIST.classNames }
        if FileManager.default.fileExists(atPath: classes) {
            guard let text = try? String(contentsOfFile: classes, encoding: .utf8) else { throw FoveaError("\(classes): cannot read") }
            return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return classes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

}

/// An [N, D] float matrix from a .npy file, checked: two axes, at least one row and one column,
/// every value finite.
enum DataMatrix {
    static func read(_ path: String) throws -> Tensor {
        do { try InputFile.check(path, role: ".npy file", limit: 16 << 30) } catch { throw FoveaError("\(error)") }
        let t: Tensor
        do { t = try NPY.read(URL(fileURLWithPath: path)) } catch { throw FoveaError("\(path): \(error)") }
        guard t.rank == 2, t.shape[0] >= 1, t.shape[1] >= 1 else { throw FoveaError("\(path): not an [N, D] matrix with rows and columns (shape \(t.shape))") }
        if let bad = t.scalars.firstIndex(where: { !$0.isFinite }) {
            throw FoveaError("\(path): row \(bad / t.shape[1]) holds \(t.scalars[bad]); every value must be finite")
        }
        return t
    }
}

/// Row-aligned files next to an embedding: coordinates (.npy or .csv) and image paths.
enum CoordinateFile {

    /// Writes [N, k] as .csv (one row per line) or .npy, by the extension.
    static func write(_ t: Tensor, to path: String) throws {
        guard path.lowercased().hasSuffix(".csv") else { return try NPY.write(t, to: URL(fileURLWithPath: path)) }
        let k = t.shape[1], v = t.scalars
        let lines = (0..<t.shape[0]).map { i in (0..<k).map { String(v[i * k + $0]) }.joined(separator: ",") }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Reads [N, k] from .csv or .npy; every value must be finite.
    static func read(_ path: String) throws -> Tensor {
        guard path.lowercased().hasSuffix(".csv") else { return try DataMatrix.read(path) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw FoveaError("\(path): cannot read") }
        let rows = text.split(separator: "\n").map { $0.split(separator: ",").compactMap { Float($0) } }
        guard let k = rows.first?.count, k > 0, rows.allSatisfy({ $0.count == k }) else {
            throw FoveaError("\(path): expected rows with the same number of comma-separated numbers")
        }
        let values = rows.flatMap { $0 }
        guard values.allSatisfy(\.isFinite) else { throw FoveaError("\(path): every value must be finite") }
        return Tensor(shape: [rows.count, k], values: values)
    }

    /// The lines of a paths file, which must match `rows`.
    static func paths(_ path: String, rows: Int) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw FoveaError("\(path): cannot read as a text file of image paths (one per line)")
        }
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count == rows else { throw FoveaError("\(path): \(lines.count) paths for \(rows) rows") }
        return lines
    }
}

extension NearestNeighbors.Metric: ExpressibleByArgument {}
