import Foundation
import Fovea
import FoveaAdversarial
import FoveaAttribution
import FoveaIO
import FoveaStyle
import FoveaTensor
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import _FoveaTestSupport
@testable import FoveaViewer

/// The viewer's HTTP API, through Hummingbird's router test client (and a live loopback server
/// for the load test), on the real efficientnet-lite0 and fashion-cnn.
@Suite(.serialized) struct ViewerTests {
    static let chelsea = Pretrained.workspace.photos.appendingPathComponent("chelsea.png")
    static let scream = Pretrained.workspace.cache.appendingPathComponent("styles/scream.jpg")

    static func state(points: Int = 300, cache: URL? = nil) -> ViewerState {
        let models = ["efficientnet-lite0", "fashion-cnn"].map { name in
            ViewerModel(name: name, source: "built-in") { try ImageClassifier.load(name) }
        }
        let folder = cache ?? Scratch.url("fovea-viewer")
        var options = ViewerOptions(models: models, photos: [chelsea.path], dataset: "fashion-mnist", cache: folder)
        options.projectorModel = "fashion-cnn"
        options.projectorPoints = points
        options.uploadLimit = 1 << 20
        options.styles = [scream.path]
        return ViewerState(options)
    }

    static func app(_ state: ViewerState) -> some ApplicationProtocol {
        Application(router: ViewerRoutes.router(state))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
    }

    struct JobSnapshot: Decodable { let id: String; let state: String; let error: String? }

    /// POSTs `uri` to start a job, then polls it every 50 ms until it is over.
    static func runJob(_ client: some TestClientProtocol, _ uri: String, cancel: Bool = false) async throws -> JobSnapshot {
        var job = try await client.execute(uri: uri, method: .post) { try decode(JobSnapshot.self, $0) }
        if cancel { _ = try await client.execute(uri: "/api/jobs/\(job.id)/cancel", method: .post) }
        while !["finished", "failed", "cancelled"].contains(job.state) {
            try await Task.sleep(nanoseconds: 50_000_000)
            job = try await client.execute(uri: "/api/jobs/\(job.id)", method: .get) { try decode(JobSnapshot.self, $0) }
        }
        return job
    }

    static func errorLine(_ response: TestResponse) -> String {
        (try? decode([String: String].self, response)["error"]) ?? String(buffer: response.body)
    }

    @Test func pageModelsAndLayers() async throws {
        try await Self.app(Self.state()).test(.router) { client in
            try await client.execute(uri: "/", method: .get) { r in
                #expect(r.status == .ok)
                let html = String(buffer: r.body)
                #expect(html.contains("id=\"projector-canvas\"") && html.contains("/api/attribution"))
                #expect(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from elsewhere")
                #expect(r.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
            }
            try await client.execute(uri: "/api/models", method: .get) { r in
                struct Answer: Decodable { struct Row: Decodable { let name: String }; let models: [Row]; let methods: [String] }
                let a = try Self.decode(Answer.self, r)
                #expect(a.models.map(\.name) == ["efficientnet-lite0", "fashion-cnn"])
                #expect(a.methods.contains("gradcam") && a.methods.contains("integrated-gradients"))
            }
            try await client.execute(uri: "/api/layers?model=efficientnet-lite0", method: .get) { r in
                struct Row: Decodable { let layer: String; let shape: [Int]; let isConvolution: Bool }
                struct Answer: Decodable { let layers: [Row]; let camLayer: String?; let firstConvolution: String? }
                let a = try Self.decode(Answer.self, r)
                #expect(a.firstConvolution == "_conv_stem")
                #expect(a.layers.first { $0.layer == "_conv_stem" }?.shape == [1, 32, 112, 112])
                #expect(a.layers.first { $0.layer == "_blocks.15" }?.shape == [1, 320, 7, 7])
                #expect(a.layers.first { $0.layer == "_conv_stem" }?.isConvolution == true)
            }
        }
    }

    /// An upload is classified and explained with the numbers the library gives for the same image.
    @Test func uploadPredictAndExplain() async throws {
        let bytes = try Data(contentsOf: Self.chelsea)
        let classifier = try ImageClassifier.load("efficientnet-lite0")
        let (_, x) = try classifier.input(from: Self.chelsea.path)
        let top = classifier.predict(x).top(5)
        let direct = try classifier.attribute(.gradcam, input: x, target: top[0].index)
        let scores = classifier.faithfulness(of: direct.map, input: x)

        try await Self.app(Self.state()).test(.router) { client in
            let id = try await client.execute(uri: "/api/images?name=cat.png", method: .post, body: ByteBuffer(bytes: bytes)) { r in
                #expect(r.status == .ok)
                return try Self.decode([String: String?].self, r)["id"]!!
            }
            #expect(id == "upload-1")
            try await client.execute(uri: "/api/images", method: .get) { r in
                struct Item: Decodable { let id: String; let source: String }
                let items = try Self.decode([Item].self, r)
                #expect(items.first?.id == "photo-0")
                #expect(items.filter { $0.source == "dataset" }.count == 20)
                #expect(items.last?.id == "upload-1")
            }
            try await client.execute(uri: "/api/predict?image=\(id)", method: .get) { r in
                struct Answer: Decodable { let top: [Prediction.Entry] }
                let a = try Self.decode(Answer.self, r)
                #expect(a.top.map(\.index) == top.map(\.index))
                #expect(abs(a.top[0].probability - top[0].probability) < 1e-5)
            }
            try await client.execute(uri: "/api/attribution?image=\(id)&method=gradcam&cmap=viridis", method: .get) { r in
                struct Answer: Decodable {
                    let target: Int; let layer: String?; let deletionAUC: Float; let insertionAUC: Float
                    let heat: String; let colormap: String; let range: [Float]
                }
                #expect(r.status == .ok, "\(Self.errorLine(r))")
                let a = try Self.decode(Answer.self, r)
                #expect(a.target == top[0].index && a.layer == "_blocks.15" && a.colormap == "viridis")
                #expect(abs(a.deletionAUC - scores.deletionAUC) < 1e-4 && abs(a.insertionAUC - scores.insertionAUC) < 1e-4)
                #expect(a.deletionAUC < a.insertionAUC)
                let png = Data(base64Encoded: String(a.heat.dropFirst("data:image/png;base64,".count)))!
                let heat = try PNG.decode(png)
                #expect(heat.width == 224 && heat.height == 224)
                #expect(a.range[0] < a.range[1])
            }
            try await client.execute(uri: "/api/activations?image=photo-0&layer=_blocks.15&top=4", method: .get) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "image/png")
                let grid = try PNG.decode(Data(r.body.readableBytesView))
                #expect(grid.width > 64)
            }
            try await client.execute(uri: "/api/filters", method: .get) { r in
                let grid = try PNG.decode(Data(r.body.readableBytesView))
                #expect(grid.width > 100 && grid.height > 100)          // 32 RGB 3x3 filters of _conv_stem
            }
        }
    }

    /// Every bad request is answered with its status and one line naming what was wrong; the
    /// server goes on answering after each.
    @Test func badRequestsAreAnsweredWithTheirReason() async throws {
        try await Self.app(Self.state()).test(.router) { client in
            let cases: [(String, HTTPRequest.Method, ByteBuffer?, Int, String)] = [
                ("/api/images?name=notes.txt", .post, ByteBuffer(string: "hello, not an image"), 400, "not a PNG or JPEG"),
                ("/api/images?name=broken.png", .post, ByteBuffer(bytes: [0x89, 0x50, 0x4E, 0x47, 0, 1, 2, 3]), 400, "broken.png"),
                ("/api/images?name=big.png", .post, ByteBuffer(bytes: [UInt8](repeating: 0x89, count: (1 << 20) + 10)), 413, ""),
                ("/api/predict?image=photo-0&model=resnet9000", .get, nil, 404, "model resnet9000"),
                ("/api/predict?image=../../etc/passwd", .get, nil, 404, "no such image"),
                ("/api/predict?image=photo-7", .get, nil, 404, "no such image"),
                ("/api/images/..%2F..%2Fetc%2Fpasswd", .get, nil, 404, "no such image"),
                ("/api/attribution?image=photo-0&method=magic", .get, nil, 400, "method magic"),
                ("/api/attribution?image=photo-0&method=gradcam&layer=_blocks.99", .get, nil, 400, "_blocks.99"),
                ("/api/attribution?image=photo-0&method=gradient&layer=_blocks.3", .get, nil, 400, "layer applies to"),
                ("/api/activations?image=photo-0&layer=_fc", .get, nil, 400, "[1, C, H, W]"),
                ("/api/filters?layer=_bn0", .get, nil, 400, "not a convolution"),
                ("/api/neighbours?index=3", .get, nil, 409, "not computed yet"),
                ("/api/jobs/job-77", .get, nil, 404, "no such job"),
                ("/api/thumbnail?index=-1", .get, nil, 400, "index -1"),
            ]
            for (uri, method, body, status, text) in cases {
                try await client.execute(uri: uri, method: method, body: body) { r in
                    #expect(r.status.code == status, "\(uri): \(Self.errorLine(r))")
                    if !text.isEmpty { #expect(Self.errorLine(r).contains(text), "\(uri): \(Self.errorLine(r))") }
                }
            }
            try await client.execute(uri: "/api/predict?image=photo-0", method: .get) { r in #expect(r.status == .ok) }
        }
    }

    /// Writes from another origin (a page elsewhere posting to the user's server) are refused.
    @Test func crossOriginWritesAreRefused() async throws {
        let png = try PNG.encode(Image(width: 16, height: 16, channels: 3, color: [200, 30, 30]))
        try await Self.app(Self.state()).test(.router) { client in
            try await client.execute(uri: "/api/images", method: .post, headers: [.origin: "http://evil.example"], body: ByteBuffer(bytes: png)) { r in
                #expect(r.status == .forbidden)
            }
            try await client.execute(uri: "/api/images", method: .post, headers: [HTTPField.Name("Sec-Fetch-Site")!: "cross-site"], body: ByteBuffer(bytes: png)) { r in
                #expect(r.status == .forbidden)
            }
            try await client.execute(uri: "/api/images", method: .post, body: ByteBuffer(bytes: png)) { r in
                #expect(r.status == .ok)
            }
        }
    }

    /// The projector job: progress, then a map and labels for every point; neighbours in
    /// feature space; a cancelled job ends as cancelled; a second server run reads the cache.
    @Test func projectorJobMapsTheDataset() async throws {
        let cache = Scratch.url("fovea-viewer")
        defer { try? FileManager.default.removeItem(at: cache) }
        struct Answer: Decodable { let count: Int; let coordinates: String; let labels: String; let classNames: [String] }
        struct Row: Decodable { let index: Int; let label: String; let distance: Float }
        let dataset = try FashionMNIST.load(.test)
        let firstMap = try await Self.app(Self.state(points: 400, cache: cache)).test(.router) { client in
            let job = try await Self.runJob(client, "/api/projection?method=tsne")
            #expect(job.state == "finished")
            try await client.execute(uri: "/api/jobs/\(job.id)/events", method: .get) { r in
                #expect(r.headers[.contentType] == "text/event-stream")
                #expect(String(buffer: r.body).hasPrefix("data: {") && String(buffer: r.body).contains("\"finished\""))
            }
            let a = try await client.execute(uri: "/api/projection?method=tsne", method: .get) { try Self.decode(Answer.self, $0) }
            #expect(a.count == 400 && a.classNames.count == 10)
            let xy = Data(base64Encoded: a.coordinates)!.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(xy.count == 800 && xy.allSatisfy(\.isFinite))
            #expect(Array(Data(base64Encoded: a.labels)!) == dataset.labels!.prefix(400).map { UInt8($0) })
            // Nearest neighbours in fashion-cnn's features mostly share the query's class.
            var agreeing = 0
            for query in 0..<20 {
                let rows = try await client.execute(uri: "/api/neighbours?method=tsne&index=\(query)&k=5", method: .get) { try Self.decode([Row].self, $0) }
                #expect(rows.count == 5 && !rows.contains { $0.index == query })
                agreeing += rows.filter { $0.label == FashionMNIST.classNames[dataset.labels![query]] }.count
            }
            #expect(agreeing >= 70, "\(agreeing) of 100 neighbours share their query's class")
            return a.coordinates
        }
        #expect(FileManager.default.fileExists(atPath: cache.appendingPathComponent("viewer").path))
        // A new server over the same cache reads the map from it (here replaced by a marker map);
        // a cancelled job ends cancelled.
        let viewerCache = cache.appendingPathComponent("viewer")
        let mapFile = try #require(try FileManager.default.contentsOfDirectory(atPath: viewerCache.path).first { $0.hasSuffix(".map.npy") })
        let marker = Tensor(shape: [400, 2], values: (0..<800).map { Float($0) })
        try NPY.write(marker, to: viewerCache.appendingPathComponent(mapFile))
        try await Self.app(Self.state(points: 400, cache: cache)).test(.router) { client in
            let job = try await Self.runJob(client, "/api/projection?method=tsne")
            #expect(job.state == "finished")
            let map = try await client.execute(uri: "/api/projection?method=tsne", method: .get) { try Self.decode(Answer.self, $0) }
            #expect(map.coordinates != firstMap)
            let xy = Data(base64Encoded: map.coordinates)!.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(xy == marker.scalars, "the second server reads the map the first one cached")
        }
        try await Self.app(Self.state(points: 3000)).test(.router) { client in
            let job = try await Self.runJob(client, "/api/projection?method=tsne", cancel: true)
            #expect(job.state == "cancelled")
        }
    }

    /// A channel's feature visualisation and top patches are jobs whose pictures land in the
    /// cache; its filter is drawn at once; bad channels and layers get their one line.
    @Test func channelViews() async throws {
        let cache = Scratch.url("fovea-viewer")
        defer { try? FileManager.default.removeItem(at: cache) }
        try await Self.app(Self.state(cache: cache)).test(.router) { client in
            let base = "model=fashion-cnn&layer=features.4&channel=5"
            for (path, steps) in [("/api/channel/visualization", "&steps=16"), ("/api/channel/patches", "")] {
                try await client.execute(uri: "\(path)?\(base)\(steps)", method: .get) { r in
                    #expect(r.status.code == 409, "\(path) is not computed before it is asked for")
                }
                let job = try await Self.runJob(client, "\(path)?\(base)\(steps)")
                #expect(job.state == "finished", "\(path): \(job.error ?? "")")
                try await client.execute(uri: "\(path)?\(base)\(steps)", method: .get) { r in
                    #expect(r.status == .ok)
                    let picture = try PNG.decode(Data(r.body.readableBytesView))
                    #expect(picture.width >= 224, "\(path): \(picture.width) px wide")
                    let values = Set(picture.pixels)
                    #expect(values.count > 20, "\(path): a picture, not a flat fill (\(values.count) levels)")
                }
            }
            // The top patches of channel 5 are the receptive fields of its 8 strongest images: a
            // row of a label cell and 8 tiles of 72 px.
            try await client.execute(uri: "/api/channel/patches?\(base)", method: .get) { r in
                let grid = try PNG.decode(Data(r.body.readableBytesView))
                #expect(grid.width == 9 * 72 + 10 * 2)
            }
            try await client.execute(uri: "/api/channel/filter?\(base)", method: .get) { r in
                let filter = try PNG.decode(Data(r.body.readableBytesView))
                #expect(filter.width > 32 && filter.height >= 30)       // 32 input channels of a 3x3 kernel
            }
            for (uri, text) in [("/api/channel/filter?model=fashion-cnn&layer=features.4&channel=64", "channels 0..<64"),
                                ("/api/channel/visualization?model=fashion-cnn&layer=classifier.1&channel=0", "no channels"),
                                ("/api/channel/patches?model=fashion-cnn&layer=features.9&channel=0", "features.9"),
                                ("/api/channel/filter?model=fashion-cnn&layer=features.2&channel=0", "not a convolution")] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == .badRequest && Self.errorLine(r).contains(text), "\(uri): \(Self.errorLine(r))")
                }
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("viewer").path)
        #expect(files.count == 2 && files.allSatisfy { $0.hasSuffix(".png") })
    }

    /// PGD through the page's API flips the prediction within epsilon, as the library's attack does.
    @Test func attackPanel() async throws {
        let classifier = try ImageClassifier.load("efficientnet-lite0")
        let crop = classifier.preprocessing.crop(try Image.load(path: Self.chelsea.path), mode: .center)
        let direct = try classifier.attack(classifier.pixels(crop), AttackSettings(method: .pgd, epsilon: 2 / 255))
        try await Self.app(Self.state()).test(.router) { client in
            try await client.execute(uri: "/api/attack?image=photo-0&method=pgd&epsilon=2/255", method: .get) { r in
                struct Answer: Decodable { let succeeded: Bool; let linf: Float; let before: [Prediction.Entry]; let after: [Prediction.Entry]; let adversarial: String }
                #expect(r.status == .ok, "\(Self.errorLine(r))")
                let a = try Self.decode(Answer.self, r)
                #expect(a.succeeded && a.before[0].index != a.after[0].index)
                #expect(a.after[0].index == direct.after.top(1)[0].index)
                #expect(a.linf <= 2 / 255 + 1e-6 && a.linf > 1 / 255)
            }
            try await client.execute(uri: "/api/attack?image=photo-0&epsilon=300", method: .get) { r in
                #expect(r.status == .badRequest && Self.errorLine(r).contains("epsilon"))
            }
        }
    }

    /// "Explain all photos" reports each method's mean scores, equal to the library's on the same photo.
    @Test func explainAllPhotos() async throws {
        let cache = Scratch.url("fovea-viewer")
        defer { try? FileManager.default.removeItem(at: cache) }
        let classifier = try ImageClassifier.load("efficientnet-lite0")
        let (crop, x) = try classifier.input(from: Self.chelsea.path)
        let direct = try classifier.explain(file: Self.chelsea.path, crop: crop, input: x, methods: [.gradcam, .gradient])
        try await Self.app(Self.state(cache: cache)).test(.router) { client in
            let uri = "/api/explain-all?methods=gradcam,gradient"
            try await client.execute(uri: uri, method: .get) { r in #expect(r.status.code == 409) }
            let job = try await Self.runJob(client, uri)
            #expect(job.state == "finished", "\(job.error ?? "")")
            let index = try await client.execute(uri: uri, method: .get) { try Self.decode(ExplanationIndex.self, $0) }
            #expect(index.methods.map(\.method) == ["gradcam", "gradient"] && index.methods.allSatisfy { $0.images == 1 })
            for (summary, entry) in zip(index.methods, direct.entries) {
                #expect(abs(summary.meanDeletionAUC - entry.faithfulness.deletionAUC) < 1e-4)
                #expect(abs(summary.meanInsertionAUC - entry.faithfulness.insertionAUC) < 1e-4)
            }
            #expect(index.images.map(\.name) == ["photo-0"] && index.images[0].target == direct.target)
            try await client.execute(uri: "/api/explain-all?methods=gradcam,magic", method: .post) { r in
                #expect(r.status == .badRequest && Self.errorLine(r).contains("methods magic"))
            }
        }
    }

    /// The style panel gives the pixels the library gives: AdaIN with the shipped decoder and
    /// the shipped Scream network.
    @Test func stylePanel() async throws {
        let content = StyleImages.tensor(of: try Image.load(path: Self.chelsea.path).rgb(), longSide: 128)
        let style = StyleImages.tensor(of: try Image.load(path: Self.scream.path).rgb(), longSide: 128)
        let networks = StyleNetworks()
        let (decoder, backbone) = try networks.adaIN()
        let adain = StyleImages.image(try AdaINStyle.stylize(content: content, styles: [(style, 1)], alpha: 0.5, decoder: decoder, backbone: backbone))
        let johnson = StyleImages.image(FeedForwardStyle.stylize(content, with: try networks.scream()))
        struct Answer: Decodable { let image: String; let width: Int; let height: Int }
        @Sendable func picture(_ r: TestResponse) throws -> Image {
            let a = try Self.decode(Answer.self, r)
            return try PNG.decode(Data(base64Encoded: String(a.image.dropFirst("data:image/png;base64,".count)))!)
        }
        try await Self.app(Self.state()).test(.router) { client in
            try await client.execute(uri: "/api/style/styles", method: .get) { r in
                let rows = try Self.decode([[String: String]].self, r)
                #expect(rows == [["id": "style-0", "name": "scream.jpg"]])
            }
            try await client.execute(uri: "/api/style?image=photo-0&style=style-0&alpha=0.5&size=128", method: .get) { r in
                #expect(r.status == .ok, "\(Self.errorLine(r))")
                let image = try picture(r)
                #expect(image.width == adain.width && image.height == adain.height && image.width == 128)
                #expect(image.pixels == adain.pixels)
            }
            try await client.execute(uri: "/api/style?image=photo-0&method=johnson&size=128", method: .get) { r in
                let image = try picture(r)
                #expect(image.pixels == johnson.pixels)
            }
            for (uri, text) in [("/api/style?image=photo-0&style=style-0&alpha=2", "alpha 2"),
                                ("/api/style?image=photo-0&style=style-9", "no such style image"),
                                ("/api/style?image=photo-0", "style: missing")] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status.code >= 400 && Self.errorLine(r).contains(text), "\(uri): \(Self.errorLine(r))")
                }
            }
        }
    }

    /// A bounded load test on loopback: 50 concurrent attribution requests (with faithfulness
    /// scores), all answered, with the same answer. (The server process's memory under the same
    /// load is measured by the browser test, where no other suite shares the process.)
    @Test func fiftyConcurrentAttributionRequests() async throws {
        let state = Self.state()
        try await Self.app(state).test(.live) { client in
            let uri = "/api/attribution?model=fashion-cnn&image=dataset-0&method=gradcam"
            let first = try await client.execute(uri: uri, method: .get) { String(buffer: $0.body) }
            let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for _ in 0..<50 {
                    group.addTask { try await client.execute(uri: uri, method: .get) { (Int($0.status.code), String(buffer: $0.body)) } }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 50)
            #expect(answers.allSatisfy { $0.0 == 200 })
            func withoutTime(_ s: String) -> String { s.replacingOccurrences(of: #""seconds":[0-9.e-]+"#, with: "", options: .regularExpression) }
            let differing = answers.filter { withoutTime($0.1) != withoutTime(first) }
            #expect(differing.isEmpty, "\(differing.count) answers differ from the first, e.g. \(differing.first.map { String($0.1.prefix(300)) } ?? "")")
        }
    }
}
