import Fovea
import FoveaAttribution
import FoveaFeatures
import FoveaIO
import FoveaNN
import FoveaTensor
import Foundation
import HTTPTypes
import Hummingbird

/// The viewer's HTTP API. Every answer is JSON, a PNG or the page; every failure is a status
/// with `{"error": "one line"}`. Clients name models, images and layers, never files.
public enum ViewerRoutes {
    public static func router(_ state: ViewerState) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: SameOriginWrites())
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: ViewerPage.policy],
                     body: .init(byteBuffer: ByteBuffer(string: ViewerPage.html)))
        }
        router.get("/api/models") { _, _ in try models(state) }
        router.get("/api/layers") { request, _ in try await answer { try await layers(state, request) } }
        router.get("/api/images") { _, _ in try await answer { try json(state.gallery()) } }
        router.get("/api/images/:id") { _, context in
            try await answer {
                let id = try context.parameters.require("id")
                return try await png(state.compute { try state.image(id).rgb().fitted(maximum: 640) })
            }
        }
        router.post("/api/images") { request, _ in
            try await answer {
                let name = request.uri.queryParameters.get("name").map { String($0.prefix(120)) } ?? "upload"
                let limit = state.options.uploadLimit
                let tooLarge = ViewerError(.contentTooLarge, "upload \(name): over the \(limit >> 20) MB limit")
                if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
                let body: ByteBuffer
                do { body = try await request.body.collect(upTo: limit) } catch { throw tooLarge }
                return try json(state.addUpload(Data(body.readableBytesView), name: name))
            }
        }
        router.get("/api/crop") { request, _ in
            try await answer {
                let q = Query(request)
                return try await png(state.compute { try state.classifier(q.model).crop(of: state.image(q.require("image"))).rgb().enlargedForDisplay() })
            }
        }
        router.get("/api/predict") { request, _ in try await answer { try await predict(state, Query(request)) } }
        router.get("/api/attribution") { request, _ in try await answer { try await attribution(state, Query(request)) } }
        router.get("/api/activations") { request, _ in try await answer { try await activations(state, Query(request)) } }
        router.get("/api/filters") { request, _ in try await answer { try await filters(state, Query(request)) } }
        router.post("/api/projection") { request, _ in
            try await answer {
                let q = Query(request)
                let method = try q.method(Projection.Method.self, "method", default: .tsne)
                return try json(state.startProjection(model: q.model, method: method).snapshot)
            }
        }
        router.get("/api/projection") { request, _ in try await answer { try projection(state, Query(request)) } }
        router.get("/api/neighbours") { request, _ in try await answer { try neighbours(state, Query(request)) } }
        router.get("/api/thumbnail") { request, _ in
            try await answer {
                let index = try Query(request).integer("index", in: 0 ... Int.max)
                return try await png(state.compute {
                    let d = try state.dataset()
                    guard index < d.count else { throw ViewerError(.notFound, "index \(index): the dataset has \(d.count) images") }
                    return try d.image(at: index).rgb().enlargedForDisplay(minimum: 84)
                })
            }
        }
        router.get("/api/jobs/:id") { _, context in
            try await answer { try json(try job(state, context).snapshot) }
        }
        router.get("/api/jobs/:id/events") { _, context in try await answer { try events(try job(state, context)) } }
        addChannelRoutes(router, state)
        addStyleRoutes(router, state)
        router.post("/api/explain-all") { request, _ in
            try await answer {
                let q = Query(request)
                return try json(state.startExplainAll(model: q.model, methods: try methods(q)).snapshot)
            }
        }
        router.get("/api/explain-all") { request, _ in
            try await answer {
                let q = Query(request)
                let file = state.explainAllFile(model: try state.model(named: q.model).name, methods: try methods(q))
                guard let data = FileManager.default.contents(atPath: file.path) else {
                    throw ViewerError(.conflict, "explain-all: not computed yet; POST to the same address starts it")
                }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
        router.post("/api/jobs/:id/cancel") { _, context in
            try await answer {
                let job = try job(state, context)
                job.cancel()
                return try json(job.snapshot)
            }
        }
        return router
    }

    // MARK: Handlers

    struct ModelRow: Encodable { let name: String, source: String }

    static func models(_ state: ViewerState) throws -> Response {
        struct Answer: Encodable { let models: [ModelRow]; let dataset: String?; let methods: [String]; let colormaps: [String] }
        return try json(Answer(models: state.options.models.map { ModelRow(name: $0.name, source: $0.source) },
                               dataset: state.options.dataset, methods: AttributionMethod.allCases.map(\.rawValue),
                               colormaps: Colormap.allCases.map(\.rawValue)))
    }

    static func layers(_ state: ViewerState, _ request: Request) async throws -> Response {
        struct Row: Encodable { let layer: String; let shape: [Int]; let kind: String; let isConvolution: Bool }
        struct Answer: Encodable {
            let model: String, input: [Int], hasClassifier: Bool, camLayer: String?, firstConvolution: String?
            let notes: [String], layers: [Row]
        }
        let name = Query(request).model
        return try json(await state.compute {
            let classifier = try state.classifier(name)
            let p = classifier.preprocessing
            let input = [1, p.channels, p.inputSize, p.inputSize]
            let module = classifier.module
            let rows = module.layerShapes(input: input).map { row in
                let m = module.module(at: row.path)!
                return Row(layer: row.path, shape: row.shape, kind: m.kindDescription,
                           isConvolution: (m as? ConvolutionWeighted)?.convolutionWeight?.rank == 4)
            }
            return Answer(model: classifier.spec.name, input: input, hasClassifier: classifier.spec.hasClassifier,
                          camLayer: classifier.spec.camLayer, firstConvolution: FilterGrid.firstConvolution(of: module, input: input),
                          notes: classifier.spec.importNotes, layers: rows)
        })
    }

    static func predict(_ state: ViewerState, _ q: Query) async throws -> Response {
        struct Answer: Encodable { let model: String; let image: String; let top: [Prediction.Entry]; let seconds: Double }
        let id = try q.require("image")
        return try json(await state.compute {
            let start = Date()
            let classifier = try state.classifier(q.model)
            guard classifier.spec.hasClassifier else { throw ViewerError(.badRequest, "model \(classifier.spec.name): a feature extractor without a classifier") }
            let x = classifier.preprocessing.normalize(classifier.crop(of: try state.image(id)))
            return Answer(model: classifier.spec.name, image: id, top: classifier.predict(x).top(5), seconds: Date().timeIntervalSince(start))
        })
    }

    static func attribution(_ state: ViewerState, _ q: Query) async throws -> Response {
        struct Answer: Encodable {
            let method: String, layer: String?, target: Int, label: String, probability: Float
            let deletionAUC: Float?, insertionAUC: Float?, baseline: String?
            let deletionCurve: [Float]?, insertionCurve: [Float]?
            let mapWidth: Int, mapHeight: Int, range: [Float], colormap: String, reversed: Bool
            let heat: String, bar: String, seconds: Double
        }
        let id = try q.require("image")
        let method = try q.method(AttributionMethod.self, "method", default: .gradcam)
        let colormap = try q.optionalMethod(Colormap.self, "cmap")
        let faithful = q.get("faithfulness") != "0"
        return try json(await state.compute {
            let start = Date()
            let classifier = try state.classifier(q.model)
            guard classifier.spec.hasClassifier else { throw ViewerError(.badRequest, "model \(classifier.spec.name): a feature extractor without a classifier") }
            guard classifier.supports(method) else {
                throw ViewerError(.badRequest, "method \(method.rawValue): \(classifier.spec.name) does not end in global average pooling + one linear layer")
            }
            let crop = classifier.crop(of: try state.image(id))
            let x = classifier.preprocessing.normalize(crop)
            let prediction = classifier.predict(x)
            let target = try q.get("target").map { try classifier.labels.resolve($0) } ?? prediction.top(1)[0].index
            var options = AttributionOptions(inputSize: classifier.preprocessing.inputSize)
            if let layer = q.get("layer"), !layer.isEmpty {
                guard method.isLayerMethod else { throw ViewerError(.badRequest, "layer applies to gradcam, gradcam++, scorecam and guided-gradcam only") }
                options.layer = layer
            }
            let attribution = try classifier.attribute(method, input: x, target: target, options: options)
            let scores = faithful ? classifier.faithfulness(of: attribution.map, input: x) : nil
            let shown = crop.rgb().enlargedForDisplay()
            let heat = SaliencyFigure.heatLayer(attribution.map, width: shown.width, height: shown.height, colormap: colormap)
            let bar = heat.colormap.bar(width: 256, height: 12, reversed: heat.reversed)
            return Answer(method: method.rawValue, layer: attribution.map.layer, target: target, label: classifier.labels.short(target),
                          probability: prediction.probabilities[target],
                          deletionAUC: scores?.deletionAUC, insertionAUC: scores?.insertionAUC, baseline: scores?.baseline.rawValue,
                          deletionCurve: scores?.deletionCurve, insertionCurve: scores?.insertionCurve,
                          mapWidth: attribution.map.width, mapHeight: attribution.map.height,
                          range: [heat.range.lowerBound, heat.range.upperBound], colormap: heat.colormap.rawValue, reversed: heat.reversed,
                          heat: try dataURL(heat.image), bar: try dataURL(bar), seconds: Date().timeIntervalSince(start))
        })
    }

    static func activations(_ state: ViewerState, _ q: Query) async throws -> Response {
        let id = try q.require("image"), layer = try q.require("layer")
        let top = try q.integer("top", in: 1 ... 256, default: 16)
        return try await png(state.compute {
            let classifier = try state.classifier(q.model)
            let x = classifier.preprocessing.normalize(classifier.crop(of: try state.image(id)))
            return try classifier.activations(x, layer: layer).grid(top: top, tile: 64)
        })
    }

    static func filters(_ state: ViewerState, _ q: Query) async throws -> Response {
        let layer = q.get("layer")
        return try await png(state.compute {
            let classifier = try state.classifier(q.model)
            let p = classifier.preprocessing
            guard let name = layer ?? FilterGrid.firstConvolution(of: classifier.module, input: [1, p.channels, p.inputSize, p.inputSize]) else {
                throw ViewerError(.badRequest, "model \(classifier.spec.name): no convolution")
            }
            guard let module = classifier.module.module(at: name) else { throw UnknownLayerError(name: name, in: classifier.module) }
            guard let weight = (module as? ConvolutionWeighted)?.convolutionWeight, weight.rank == 4 else {
                throw ViewerError(.badRequest, "layer \(name): not a convolution (its filters are what this draws)")
            }
            return FilterGrid.render(weight, maxFilters: 64, maxInputs: 8, tile: 24)
        })
    }

    static func projection(_ state: ViewerState, _ q: Query) throws -> Response {
        struct Answer: Encodable {
            let model: String, method: String, count: Int, classNames: [String]
            /// Base64 of little-endian float32 x, y pairs, and of one byte (uint8) label per point.
            let coordinates: String, labels: String
        }
        let (key, _) = try projectionKey(state, q)
        guard let p = state.projection(key) else { throw ViewerError(.conflict, "projection \(key): not computed yet; POST /api/projection starts it") }
        let coordinates = p.coordinates.withUnsafeBufferPointer { Data(buffer: $0) }.base64EncodedString()
        let labels = Data(p.labels.map { UInt8(clamping: $0) }).base64EncodedString()
        return try json(Answer(model: p.model, method: p.method.rawValue, count: p.count, classNames: p.classNames,
                               coordinates: coordinates, labels: labels))
    }

    static func neighbours(_ state: ViewerState, _ q: Query) throws -> Response {
        struct Row: Encodable { let index: Int; let label: String; let distance: Float }
        let (key, _) = try projectionKey(state, q)
        guard let p = state.projection(key) else { throw ViewerError(.conflict, "projection \(key): not computed yet") }
        let index = try q.integer("index", in: 0 ... (p.count - 1))
        let k = try q.integer("k", in: 1 ... 100, default: 8)
        let name = { (i: Int) in p.classNames.indices.contains(p.labels[i]) ? p.classNames[p.labels[i]] : "\(p.labels[i])" }
        return try json(p.neighbours(of: index, k: k).map { Row(index: $0.row, label: name($0.row), distance: $0.distance) })
    }

    static func projectionKey(_ state: ViewerState, _ q: Query) throws -> (String, Projection.Method) {
        let method = try q.method(Projection.Method.self, "method", default: .tsne)
        let entry = try state.model(named: q.model ?? state.options.projectorModel)
        let n = min(try state.dataset().count, state.options.projectorPoints ?? Int.max)
        return (state.projectionKey(model: entry.name, method: method, count: n), method)
    }

    static func job(_ state: ViewerState, _ context: BasicRequestContext) throws -> Job {
        let id = try context.parameters.require("id")
        guard let job = state.jobs.job(id) else { throw ViewerError(.notFound, "job \(id): no such job") }
        return job
    }

    /// Server-sent events: the job's snapshot every 250 ms until it is over.
    static func events(_ job: Job) throws -> Response {
        let encoder = JSONEncoder()
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: ResponseBody { writer in
            while true {
                let snapshot = job.snapshot
                let line = "data: " + String(decoding: try encoder.encode(snapshot), as: UTF8.self) + "\n\n"
                try await writer.write(ByteBuffer(string: line))
                if job.isOver { break }
                try await Task.sleep(nanoseconds: 250_000_000)
            }
            try await writer.finish(nil)
        })
    }

    // MARK: Encoding

    static func json<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func png(_ image: Image) throws -> Response {
        Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try PNG.encode(image))))
    }

    static func dataURL(_ image: Image) throws -> String {
        "data:image/png;base64," + (try PNG.encode(image)).base64EncodedString()
    }

    /// Runs a handler; its failure becomes a JSON error answer with the right status, so one
    /// request's failure is that request's only.
    static func answer(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as ViewerError {
            return failure(error.status.rawValue, error.message)
        } catch is CancellationError {
            return failure(409, "cancelled")
        } catch let error as HTTPError {
            return failure(Int(error.status.code), error.body ?? "\(error.status)")
        } catch {
            return failure(400, "\(error)")
        }
    }

    static func failure(_ status: Int, _ message: String) -> Response {
        struct Body: Encodable { let error: String }
        let data = (try? JSONEncoder().encode(Body(error: message))) ?? Data("{}".utf8)
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A request's query, read with one-line errors naming the parameter.
struct Query: Sendable {
    let values: [String: String]

    init(_ request: Request) {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { values[String(key)] = String(value) }
        self.values = values
    }

    var model: String? { values["model"].flatMap { $0.isEmpty ? nil : $0 } }

    func get(_ name: String) -> String? { values[name] }

    func require(_ name: String) throws -> String {
        guard let v = values[name], !v.isEmpty else { throw ViewerError(.badRequest, "\(name): missing") }
        return v
    }

    func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int {
        guard let text = values[name] else {
            if let fallback { return fallback }
            throw ViewerError(.badRequest, "\(name): missing")
        }
        guard let v = Int(text), range.contains(v) else {
            throw ViewerError(.badRequest, "\(name) \(text): must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    func method<T: RawRepresentable & CaseIterable>(_ type: T.Type, _ name: String, default fallback: T) throws -> T where T.RawValue == String {
        try optionalMethod(type, name) ?? fallback
    }

    func optionalMethod<T: RawRepresentable & CaseIterable>(_ type: T.Type, _ name: String) throws -> T? where T.RawValue == String {
        guard let text = values[name], !text.isEmpty else { return nil }
        guard let v = T(rawValue: text) else {
            throw ViewerError(.badRequest, "\(name) \(text): choose from \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }
}

/// Refuses writes (POST) from other origins: a page elsewhere must not upload to, or start
/// jobs on, the user's server. Clients without an Origin header (curl, scripts) are let through.
struct SameOriginWrites<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method != .get && request.method != .head {
            if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site == "cross-site" {
                return ViewerRoutes.failure(403, "cross-origin request refused")
            }
            if let origin = request.headers[.origin], origin != "http://\(request.head.authority ?? "")" {
                return ViewerRoutes.failure(403, "cross-origin request refused (Origin \(origin))")
            }
        }
        return try await next(request, context)
    }
}

extension ImageClassifier {
    /// The crop this model sees of `image`.
    func crop(of image: Image) -> Image { preprocessing.crop(image, mode: .center) }
}

extension Image {
    /// Downscaled (bilinear) so neither side exceeds `maximum`; as it is when it fits.
    func fitted(maximum: Int) -> Image {
        let side = Swift.max(width, height)
        guard side > maximum else { return self }
        let scale = Double(maximum) / Double(side)
        return resized(width: Swift.max(1, Int(Double(width) * scale)), height: Swift.max(1, Int(Double(height) * scale)))
    }
}
