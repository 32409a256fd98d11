import Fovea
import FoveaAttribution
import Foundation

/// "Explain all photos": every chosen attribution method on every gallery photo, with each
/// method's mean deletion and insertion AUC (what `fovea explain FOLDER` reports), as a job
/// cached on disk.
extension ViewerState {
    func explainAllFile(model: String, methods: [AttributionMethod]) -> URL {
        // FNV-1a of the photo paths: another set of photos is another result.
        let photos = options.photos.joined(separator: "\n").utf8.reduce(UInt64(0xcbf29ce484222325)) { ($0 ^ UInt64($1)) &* 0x100000001b3 }
        let key = "explain-\(model)-\(methods.map(\.rawValue).joined(separator: "_"))-\(String(photos, radix: 16))"
        let safe = key.map { $0.isLetter || $0.isNumber || "-_".contains($0) ? $0 : "_" }
        return options.cache.appendingPathComponent("viewer", isDirectory: true).appendingPathComponent(String(safe) + ".json")
    }

    func startExplainAll(model name: String?, methods: [AttributionMethod]) throws -> Job {
        let entry = try model(named: name)
        guard !options.photos.isEmpty else { throw ViewerError(.badRequest, "no photos to explain: start the server with --photos DIR") }
        let file = explainAllFile(model: entry.name, methods: methods)
        let photos = options.photos
        return jobs.start(kind: "explain", key: file.lastPathComponent) { job in
            if FileManager.default.fileExists(atPath: file.path) { return }
            let classifier = try entry.load()
            guard classifier.spec.hasClassifier else { throw ViewerError(.badRequest, "model \(entry.name): a feature extractor without a classifier") }
            let usable = methods.filter { classifier.supports($0) }
            var explanations: [Explanation] = []
            for (n, path) in photos.enumerated() {
                try job.progress("explaining \(URL(fileURLWithPath: path).lastPathComponent)", n * usable.count, photos.count * usable.count)
                let (crop, x) = try classifier.input(from: path)
                explanations.append(try classifier.explain(file: path, crop: crop, input: x,
                                                           options: AttributionOptions(inputSize: classifier.preprocessing.inputSize),
                                                           methods: usable) { _, i, total in
                    try? job.progress("explaining \(URL(fileURLWithPath: path).lastPathComponent)", n * total + i, photos.count * total)
                })
            }
            let index = ExplanationIndex(explanations, names: photos.indices.map { "photo-\($0)" })
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try JSONEncoder().encode(index).write(to: file, options: .atomic)
        }
    }
}

extension ViewerRoutes {
    /// `methods=a,b` (absent or empty: all), checked by name.
    static func methods(_ q: Query) throws -> [AttributionMethod] {
        try AttributionMethod.list(q.get("methods").flatMap { $0.isEmpty ? nil : $0 }, option: "methods")
    }
}
