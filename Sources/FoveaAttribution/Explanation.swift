import Foundation
import Fovea
import FoveaIO
import FoveaTensor

/// Every applicable attribution method on one image, with faithfulness scores, rendered as a
/// comparison grid and a self-contained HTML page.
public struct Explanation: Sendable {
    public struct Entry: Sendable {
        public let attribution: Attribution
        public let faithfulness: Faithfulness
        public let seconds: Double
    }

    public let file: String
    public let model: String
    public let crop: Image
    public let target: Int
    public let label: String
    public let probability: Float
    public let top: [Prediction.Entry]
    public let entries: [Entry]
    /// Methods that do not apply to this model, with the reason.
    public let skipped: [(method: AttributionMethod, reason: String)]

    /// The comparison grid under a header (file, model, class and probability): one overlay
    /// per method, deletion and insertion AUC under each. `sharedRanges`: colour ranges by
    /// method shared with other images' grids (``SaliencyFigure/range(of:)``); else each map's own.
    public func grid(columns: Int = 5, colormap: Colormap? = nil, sharedRanges: [AttributionMethod: ClosedRange<Float>] = [:]) -> Image {
        let body = panelGrid(columns: columns, colormap: colormap, sharedRanges: sharedRanges)
        let name = URL(fileURLWithPath: file).lastPathComponent
        let header = String(format: "%@ (%@): %@, p = %.3f", name, model, label, probability)
        let headerHeight = Image.textSize(header, scale: 2).height + 16
        var figure = Image(width: max(body.width, Image.textSize(header, scale: 2).width + 16), height: body.height + headerHeight,
                           channels: 3, color: [255, 255, 255])
        figure.drawText(header, x: 8, y: 8, color: [0, 0, 0], scale: 2)
        figure.paste(body.rgb(), x: 0, y: headerHeight)
        return figure
    }

    private func panelGrid(columns: Int, colormap: Colormap?, sharedRanges: [AttributionMethod: ClosedRange<Float>]) -> Image {
        let panels = entries.map { e in
            SaliencyFigure.render(
                crop: crop, map: e.attribution.map, caption: e.attribution.method.rawValue,
                footnote: String(format: "deletion %.3f  insertion %.3f", e.faithfulness.deletionAUC, e.faithfulness.insertionAUC),
                colormap: colormap, sharedRange: sharedRanges[e.attribution.method])
        }
        return Image.grid(panels, columns: min(columns, max(panels.count, 1)), padding: 6)
    }

    /// Each method's colour range over the maps of all these explanations (`--scale shared`).
    public static func sharedRanges(_ explanations: [Explanation]) -> [AttributionMethod: ClosedRange<Float>] {
        let maps = Dictionary(grouping: explanations.flatMap(\.entries), by: \.attribution.method)
        return maps.mapValues { SaliencyFigure.range(of: $0.map(\.attribution.map)) }
    }

    /// A self-contained HTML page (images inline as base64 PNG).
    public func html(colormap: Colormap? = nil) throws -> String {
        func png(_ image: Image) throws -> String { "data:image/png;base64," + (try PNG.encode(image)).base64EncodedString() }
        var rows = ""
        for e in entries {
            let f = e.faithfulness
            let extra = e.attribution.integrated.map { String(format: "completeness error %.3g of %.3g", $0.completenessError, $0.scoreDifference) } ?? ""
            let figure = SaliencyFigure.render(crop: crop, map: e.attribution.map, caption: e.attribution.method.rawValue, colormap: colormap)
            rows += """
            <tr><td><img src="\(try png(figure))" alt="\(e.attribution.method.rawValue)"></td>
            <td>\(e.attribution.method.rawValue)\(e.attribution.map.layer.map { " at <code>\(htmlEscaped($0))</code>" } ?? "")</td>
            <td>\(e.attribution.map.height)&times;\(e.attribution.map.width)</td>
            <td>\(String(format: "%.3f", f.deletionAUC))</td><td>\(String(format: "%.3f", f.insertionAUC))</td>
            <td>\(String(format: "%.2f s", e.seconds))</td><td>\(htmlEscaped(extra))</td></tr>

            """
        }
        let predictions = top.map { "\($0.index) \(htmlEscaped($0.label)) \(String(format: "%.3f", $0.probability))" }.joined(separator: "<br>")
        let skippedText = skipped.map { "<li>\($0.method.rawValue): \(htmlEscaped($0.reason))</li>" }.joined()
        return """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Fovea: \(htmlEscaped(file))</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}img{display:block}</style>
        </head><body>
        <h1>\(htmlEscaped(URL(fileURLWithPath: file).lastPathComponent))</h1>
        <p>Model <code>\(htmlEscaped(model))</code>. Maps explain class <b>\(target) \(htmlEscaped(label))</b> (p = \(String(format: "%.3f", probability))).</p>
        <table><tr><td><img src="\(try png(crop))" alt="input crop"></td><td>\(predictions)</td></tr></table>
        <h2>Methods</h2>
        <p>Faithfulness (Petsiuk et al. 2018), baseline \(entries.first?.faithfulness.baseline.rawValue ?? "blur"): deletion AUC
        (probability as the most salient pixels are removed; lower is better) and insertion AUC (higher is better).</p>
        <table><tr><th>map</th><th>method</th><th>size</th><th>deletion AUC</th><th>insertion AUC</th><th>time</th><th></th></tr>
        \(rows)</table>
        \(skippedText.isEmpty ? "" : "<p>Not applicable:</p><ul>\(skippedText)</ul>")
        </body></html>

        """
    }
}

extension ImageClassifier {
    /// Runs every method that applies to this model on `input` for `target` (top-1 by default).
    public func explain(file: String, crop: Image, input: Tensor, target: Int? = nil,
                        options: AttributionOptions = AttributionOptions(), baseline: Faithfulness.Baseline = .blur,
                        methods: [AttributionMethod] = AttributionMethod.allCases,
                        progress: ((AttributionMethod, Int, Int) -> Void)? = nil) throws -> Explanation {
        try FrozenWeights.run {
            let prediction = predict(input)
            let target = target ?? prediction.top(1)[0].index
            var entries: [Explanation.Entry] = []
            var skipped: [(AttributionMethod, String)] = []
            for (i, method) in methods.enumerated() {
                progress?(method, i, methods.count)
                guard supports(method) else {
                    skipped.append((method, "\(spec.name) does not end in global average pooling + one linear layer"))
                    continue
                }
                let start = DispatchTime.now().uptimeNanoseconds
                let attribution = try attribute(method, input: input, target: target, options: options)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                entries.append(.init(attribution: attribution,
                                     faithfulness: faithfulness(of: attribution.map, input: input, baseline: baseline),
                                     seconds: seconds))
            }
            progress?(methods.last ?? .gradient, methods.count, methods.count)
            return Explanation(file: file, model: spec.name, crop: crop, target: target, label: labels.short(target),
                               probability: prediction.probabilities[target], top: prediction.top(5),
                               entries: entries, skipped: skipped)
        }
    }
}

/// Text made safe inside HTML and SVG elements and quoted attributes.
func htmlEscaped(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
