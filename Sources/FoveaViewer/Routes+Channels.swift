import Fovea
import FoveaAdversarial
import FoveaIO
import FoveaTensor
import Foundation
import Hummingbird

/// Per-channel views (feature visualisation, top patches, filter) and the attack panel.
extension ViewerRoutes {
    static func addChannelRoutes(_ router: Router<BasicRequestContext>, _ state: ViewerState) {
        @Sendable func ref(_ q: Query) async throws -> ViewerState.ChannelRef {
            let layer = try q.require("layer"), channel = try q.integer("channel", in: 0 ... 1 << 20)
            return try await state.compute { try state.channelRef(model: q.model, layer: layer, channel: channel) }
        }
        @Sendable func steps(_ q: Query) throws -> Int { try q.integer("steps", in: 8 ... 2048, default: 256) }
        @Sendable func cached(_ file: URL, _ what: String) throws -> Response {
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw ViewerError(.conflict, "\(what): not computed yet; POST to the same address starts it")
            }
            return Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.post("/api/channel/visualization") { request, _ in
            try await answer {
                let q = Query(request)
                return try json(state.startVisualization(try await ref(q), steps: try steps(q)).snapshot)
            }
        }
        router.get("/api/channel/visualization") { request, _ in
            try await answer {
                let q = Query(request)
                return try cached(state.visualizationFile(try await ref(q), steps: try steps(q)), "visualization")
            }
        }
        router.post("/api/channel/patches") { request, _ in
            try await answer { try json(try state.startTopPatches(try await ref(Query(request))).snapshot) }
        }
        router.get("/api/channel/patches") { request, _ in
            try await answer { try cached(try state.patchesFile(try await ref(Query(request))), "top patches") }
        }
        router.get("/api/channel/filter") { request, _ in
            try await answer {
                let r = try await ref(Query(request))
                return try await png(state.compute { try state.channelFilter(r) })
            }
        }
        router.get("/api/attack") { request, _ in try await answer { try await attack(state, Query(request)) } }
    }

    /// FGSM or PGD on the current crop: both predictions, the adversarial image and the
    /// perturbation (amplified so that +-epsilon spans black...white).
    static func attack(_ state: ViewerState, _ q: Query) async throws -> Response {
        struct Answer: Encodable {
            let method: String, epsilon: Float, steps: Int, succeeded: Bool, linf: Float
            let before: [Prediction.Entry], after: [Prediction.Entry]
            let adversarial: String, perturbation: String, seconds: Double
        }
        let id = try q.require("image")
        let method = try q.method(AttackSettings.Method.self, "method", default: .pgd)
        let epsilon = try AttackSettings.parseEpsilon(q.get("epsilon") ?? "2/255", option: "epsilon")
        guard epsilon > 0, epsilon <= 1 else { throw ViewerError(.badRequest, "epsilon \(epsilon): must be in (0, 1] (pixels on the 0..1 scale)") }
        let steps = try q.integer("steps", in: 1 ... 200, default: 10)
        return try json(await state.compute {
            let start = Date()
            let classifier = try state.classifier(q.model)
            guard classifier.spec.hasClassifier else { throw ViewerError(.badRequest, "model \(classifier.spec.name): a feature extractor without a classifier") }
            let crop = classifier.crop(of: try state.image(id))
            var settings = AttackSettings(method: method, epsilon: epsilon)
            settings.steps = steps
            settings.target = try q.get("target").flatMap { $0.isEmpty ? nil : try classifier.labels.resolve($0) }
            let result = try classifier.attack(classifier.pixels(crop), settings)
            let delta = (result.adversarial - result.clean).scalars.map { 0.5 + 0.5 * $0 / epsilon }
            let perturbation = Image(tensor: Tensor(shape: result.clean.shape, values: delta), scale: 1 / 255)
            return Answer(method: method.rawValue, epsilon: epsilon, steps: method == .fgsm ? 1 : steps, succeeded: result.succeeded,
                          linf: result.linf, before: result.before.top(5), after: result.after.top(5),
                          adversarial: try dataURL(classifier.image(ofPixels: result.adversarial).rgb().enlargedForDisplay()),
                          perturbation: try dataURL(perturbation.rgb().enlargedForDisplay()), seconds: Date().timeIntervalSince(start))
        })
    }
}
