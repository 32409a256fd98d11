import Fovea
import FoveaIO
import FoveaModels
import FoveaStyle
import FoveaSynthesis
import FoveaTensor
import Foundation
import Hummingbird

/// The style panel: AdaIN with the shipped decoder (any style image, alpha) and the shipped
/// feed-forward network (The Scream), on the current image.
final class StyleNetworks: @unchecked Sendable {
    private var adain: (decoder: AdaINDecoder, backbone: Synthesizer)?
    private var johnson: TransformerNet?

    /// The AdaIN decoder and its vgg16-features encoder, loaded once (call on the compute queue).
    func adaIN() throws -> (decoder: AdaINDecoder, backbone: Synthesizer) {
        if let adain { return adain }
        guard let file = StyleResources.url("adain-decoder.safetensors") else { throw ViewerError(.notFound, "the shipped AdaIN decoder is missing") }
        let decoder = AdaINDecoder()
        _ = try NetworkFile.load(file, into: decoder, kind: "an AdaIN decoder", flag: "decoder")
        decoder.setRequiresGrad(false)
        adain = (decoder, Synthesizer(try ImageClassifier.load("vgg16-features")))
        return adain!
    }

    func scream() throws -> TransformerNet {
        if let johnson { return johnson }
        guard let file = StyleResources.url("scream.safetensors") else { throw ViewerError(.notFound, "the shipped Scream network is missing") }
        let net = TransformerNet()
        _ = try NetworkFile.load(file, into: net, kind: "a feed-forward style network", flag: "net")
        net.setRequiresGrad(false)
        johnson = net
        return net
    }
}

extension ViewerRoutes {
    static func addStyleRoutes(_ router: Router<BasicRequestContext>, _ state: ViewerState) {
        router.get("/api/style/styles") { _, _ in
            struct Row: Encodable { let id: String; let name: String }
            return try await answer {
                try json(state.options.styles.enumerated().map { Row(id: "style-\($0.offset)", name: URL(fileURLWithPath: $0.element).lastPathComponent) })
            }
        }
        router.get("/api/style") { request, _ in try await answer { try await stylize(state, Query(request)) } }
    }

    enum StyleMethod: String, CaseIterable { case adain, johnson }

    static func stylize(_ state: ViewerState, _ q: Query) async throws -> Response {
        struct Answer: Encodable { let method: String; let style: String?; let alpha: Float; let width: Int; let height: Int; let image: String; let seconds: Double }
        let id = try q.require("image")
        let method = try q.method(StyleMethod.self, "method", default: .adain)
        let size = try q.integer("size", in: 64 ... 1024, default: 384)
        let alphaText = q.get("alpha") ?? "1"
        guard let alpha = Float(alphaText), (0...1).contains(alpha) else { throw ViewerError(.badRequest, "alpha \(alphaText): must be between 0 and 1") }
        let styleID = method == .adain ? try q.require("style") : nil
        return try json(await state.compute {
            let start = Date()
            let content = StyleImages.tensor(of: try state.image(id).rgb(), longSide: size)
            let y: Tensor
            switch method {
            case .adain:
                let style = StyleImages.tensor(of: try state.image(styleID!).rgb(), longSide: size)
                let (decoder, backbone) = try state.styleNetworks.adaIN()
                y = try AdaINStyle.stylize(content: content, styles: [(style, 1)], alpha: alpha, decoder: decoder, backbone: backbone)
            case .johnson:
                y = FeedForwardStyle.stylize(content, with: try state.styleNetworks.scream())
            }
            return Answer(method: method.rawValue, style: styleID, alpha: alpha, width: y.shape[3], height: y.shape[2],
                          image: try dataURL(StyleImages.image(y)), seconds: Date().timeIntervalSince(start))
        })
    }
}
