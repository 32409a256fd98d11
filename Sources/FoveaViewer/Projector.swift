import Fovea
import FoveaEmbedding
import FoveaIO
import FoveaTensor
import Foundation

/// The projector's data: every dataset image's last-layer features [N, D], their 2-D map
/// [N, 2] (t-SNE or PCA) and labels.
struct Projection: Sendable {
    enum Method: String, Sendable, CaseIterable { case tsne, pca }

    let model: String, method: Method
    let features: Tensor
    let coordinates: [Float]
    let labels: [Int]
    let classNames: [String]
    var count: Int { labels.count }

    /// `k` nearest neighbours of point `index` in feature space (cosine), itself excluded.
    func neighbours(of index: Int, k: Int) -> [(row: Int, distance: Float)] {
        let query = features.slice(axis: 0, index..<(index + 1))
        return NearestNeighbors(index: features, metric: .cosine).search(query, k: k, exclude: [index])[0]
    }
}

extension ViewerState {
    /// The key of a projection: model, method and number of points.
    func projectionKey(model: String, method: Projection.Method, count: Int) -> String {
        "\(model)-\(method.rawValue)-\(count)"
    }

    /// Starts (or finds) the job that embeds the dataset with `model` and maps it with `method`.
    /// Features and coordinates are cached on disk, so a second server run starts at once.
    func startProjection(model name: String?, method: Projection.Method) throws -> Job {
        let entry = try model(named: name ?? options.projectorModel)
        let dataset = try dataset()
        let n = min(dataset.count, options.projectorPoints ?? dataset.count)
        let key = projectionKey(model: entry.name, method: method, count: n)
        let cacheFolder = options.cache.appendingPathComponent("viewer", isDirectory: true)
        let datasetKey = (options.dataset ?? "").replacingOccurrences(of: "/", with: "_")
        let stem = cacheFolder.appendingPathComponent("\(key)-\(datasetKey)".replacingOccurrences(of: ":", with: "_"))
        return jobs.start(kind: "projection", key: key) { [self] job in
            if projection(key) != nil { return }
            let labels = dataset.labels.map { Array($0.prefix(n)) } ?? [Int](repeating: 0, count: n)
            let featureFile = stem.appendingPathExtension("features.npy"), mapFile = stem.appendingPathExtension("map.npy")
            var features = try? NPY.read(featureFile)
            if features?.shape.first != n { features = nil }
            if features == nil {
                // A model of its own: the compute queue's copy may be busy with a request.
                let classifier = try entry.load()
                let batch = 256
                var rows: [Float] = [], width = 0
                for start in stride(from: 0, to: n, by: batch) {
                    try job.progress("embedding with \(entry.name)", start, n)
                    let f = try classifier.features(try classifier.inputs(dataset, start..<min(start + batch, n)))
                    width = f.shape[1]
                    rows += f.scalars
                }
                features = Tensor(shape: [n, width], values: rows)
                try? FileManager.default.createDirectory(at: cacheFolder, withIntermediateDirectories: true)
                try? NPY.write(features!, to: featureFile)
            }
            var map = try? NPY.read(mapFile)
            if map?.shape != [n, 2] { map = nil }
            if map == nil {
                switch method {
                case .pca:
                    try job.progress("PCA", 0, 1)
                    map = try PCA(features!, components: 2).transform(features!)
                case .tsne:
                    // t-SNE of the first 50 principal components, as openTSNE and scikit-learn
                    // advise: the neighbour search costs O(N D), and 50 dimensions keep the structure.
                    var input = features!
                    if input.shape[1] > 50 {
                        try job.progress("PCA to 50 dimensions", 0, 1)
                        input = try PCA(input, components: 50).transform(input)
                    }
                    var tsne = TSNE()
                    tsne.shouldStop = { job.isCancelled }
                    try job.progress("t-SNE", 0, tsne.iterations)
                    map = try tsne.fit(input) { done, total in try? job.progress("t-SNE", done, total) }.coordinates
                }
                try? NPY.write(map!, to: mapFile)
            }
            store(Projection(model: entry.name, method: method, features: features!, coordinates: map!.scalars,
                             labels: labels, classNames: dataset.classNames), key: key)
        }
    }

    func projection(_ key: String) -> Projection? { lock.withLock { projections[key] } }

    func store(_ projection: Projection, key: String) { lock.withLock { projections[key] = projection } }
}
