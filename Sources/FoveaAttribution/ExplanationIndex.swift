import Foundation

/// What `explain` found over a folder: each method's mean deletion and insertion AUC and mean
/// curves, and each image's scores. `page` draws it as one HTML page (sortable tables, the
/// curves as inline SVG); the struct itself is the `--json` output.
public struct ExplanationIndex: Codable, Sendable {
    public struct MethodSummary: Codable, Sendable {
        public let method: String
        public let images: Int
        public let meanDeletionAUC: Float
        public let meanInsertionAUC: Float
        /// Mean target probability after each step, f = 0, 1/n, ..., 1 (``Faithfulness``).
        public let meanDeletionCurve: [Float]
        public let meanInsertionCurve: [Float]
    }

    public struct ImageScores: Codable, Sendable {
        public struct Score: Codable, Sendable {
            public let method: String
            public let deletionAUC: Float
            public let insertionAUC: Float
            public let seconds: Double
        }
        public let file: String
        /// The name of its NAME.png and NAME.html.
        public let name: String
        public let target: Int
        public let label: String
        public let probability: Float
        public let scores: [Score]
    }

    public let model: String
    public let baseline: String
    public let methods: [MethodSummary]
    public let images: [ImageScores]

    /// `names[i]`: the file name (without extension) explanation i was written under.
    public init(_ explanations: [Explanation], names: [String]) {
        precondition(explanations.count == names.count, "one name per explanation")
        model = explanations.first?.model ?? ""
        baseline = explanations.first?.entries.first?.faithfulness.baseline.rawValue ?? Faithfulness.Baseline.blur.rawValue
        var order: [AttributionMethod] = []
        var byMethod: [AttributionMethod: [Faithfulness]] = [:]
        for e in explanations.flatMap(\.entries) {
            if byMethod[e.attribution.method] == nil { order.append(e.attribution.method) }
            byMethod[e.attribution.method, default: []].append(e.faithfulness)
        }
        methods = order.map { m in
            let f = byMethod[m]!
            return MethodSummary(method: m.rawValue, images: f.count,
                                 meanDeletionAUC: Self.mean(f.map(\.deletionAUC)), meanInsertionAUC: Self.mean(f.map(\.insertionAUC)),
                                 meanDeletionCurve: Self.meanCurve(f.map(\.deletionCurve)),
                                 meanInsertionCurve: Self.meanCurve(f.map(\.insertionCurve)))
        }
        images = zip(explanations, names).map { e, name in
            ImageScores(file: e.file, name: name, target: e.target, label: e.label, probability: e.probability,
                        scores: e.entries.map {
                            .init(method: $0.attribution.method.rawValue, deletionAUC: $0.faithfulness.deletionAUC,
                                  insertionAUC: $0.faithfulness.insertionAUC, seconds: $0.seconds)
                        })
        }
    }

    static func mean(_ v: [Float]) -> Float { v.isEmpty ? 0 : v.reduce(0, +) / Float(v.count) }

    /// Pointwise mean of curves of one length (the steps of one run); the shortest length wins.
    static func meanCurve(_ curves: [[Float]]) -> [Float] {
        guard let n = curves.map(\.count).min(), n > 0 else { return [] }
        return (0..<n).map { i in mean(curves.map { $0[i] }) }
    }

    // MARK: the page

    /// One self-contained page: the method summary, the mean curves, one row per image linking
    /// to its own page. Clicking a column header sorts by it.
    public var page: String {
        func number(_ v: Float) -> String { String(format: "%.3f", v) }
        let summaryRows = methods.map { m in
            "<tr><td>\(htmlEscaped(m.method))</td><td>\(m.images)</td><td>\(number(m.meanDeletionAUC))</td><td>\(number(m.meanInsertionAUC))</td></tr>"
        }.joined(separator: "\n")
        let methodNames = methods.map(\.method)
        let header = (["image", "class", "p"] + methodNames.flatMap { ["\($0) del.", "\($0) ins."] })
            .map { "<th>\(htmlEscaped($0))</th>" }.joined()
        let imageRows = images.map { image in
            let byMethod = Dictionary(image.scores.map { ($0.method, $0) }, uniquingKeysWith: { a, _ in a })
            let cells = methodNames.map { m in
                byMethod[m].map { "<td>\(number($0.deletionAUC))</td><td>\(number($0.insertionAUC))</td>" } ?? "<td></td><td></td>"
            }.joined()
            let link = URL(fileURLWithPath: image.name).lastPathComponent.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? image.name
            return "<tr><td><a href=\"\(link).html\">\(htmlEscaped(URL(fileURLWithPath: image.file).lastPathComponent))</a></td>"
                + "<td>\(image.target) \(htmlEscaped(image.label))</td><td>\(number(image.probability))</td>\(cells)</tr>"
        }.joined(separator: "\n")
        return """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Fovea explain: \(images.count) images</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}
        td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}th{cursor:pointer;background:#f4f4f4}
        th:hover{background:#e6e6e6}svg{margin-right:2em}.plots{display:flex;flex-wrap:wrap}</style>
        </head><body>
        <h1>\(images.count) images explained by <code>\(htmlEscaped(model))</code></h1>
        <p>Faithfulness (Petsiuk et al. 2018), baseline \(htmlEscaped(baseline)): deletion AUC, the target's
        probability as the most salient pixels are removed (lower is better), and insertion AUC, as they
        are put back into the baseline (higher is better). Click a column to sort.</p>
        <h2>Methods</h2>
        <table class="sortable"><tr><th>method</th><th>images</th><th>mean deletion AUC</th><th>mean insertion AUC</th></tr>
        \(summaryRows)
        </table>
        <div class="plots">
        \(curvePlot(title: "Deletion (mean over images)", curves: methods.map { ($0.method, $0.meanDeletionCurve) }))
        \(curvePlot(title: "Insertion (mean over images)", curves: methods.map { ($0.method, $0.meanInsertionCurve) }))
        </div>
        <h2>Images</h2>
        <table class="sortable"><tr>\(header)</tr>
        \(imageRows)
        </table>
        <script>
        // Sorts a table's rows by the clicked column: numbers numerically, text alphabetically;
        // a second click reverses.
        for (const table of document.querySelectorAll("table.sortable")) {
          const head = table.rows[0];
          Array.from(head.cells).forEach((cell, column) => cell.addEventListener("click", () => {
            const rows = Array.from(table.rows).slice(1);
            const key = r => { const t = r.cells[column].textContent.trim(); const v = parseFloat(t); return isNaN(v) ? t : v; };
            const ascending = table.dataset.column != column || table.dataset.order != "asc";
            rows.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1); });
            rows.forEach(r => table.tBodies[0].appendChild(r));
            table.dataset.column = column; table.dataset.order = ascending ? "asc" : "desc";
          }));
        }
        </script>
        </body></html>

        """
    }

    /// A line plot of curves over f = 0...1 (x) against probability 0...1 (y), as inline SVG.
    func curvePlot(title: String, curves: [(name: String, values: [Float])]) -> String {
        let (width, height, left, top, plotW, plotH) = (420.0, 300.0, 48.0, 28.0, 240.0, 220.0)
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
        func x(_ f: Double) -> Double { left + f * plotW }
        func y(_ p: Double) -> Double { top + (1 - min(max(p, 0), 1)) * plotH }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-size=\"11\" font-family=\"sans-serif\">"
        svg += "<text x=\"\(left)\" y=\"16\" font-size=\"13\">\(htmlEscaped(title))</text>"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#888\"/>"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            svg += "<text x=\"\(x(tick) - 8)\" y=\"\(top + plotH + 14)\">\(String(format: "%.2g", tick))</text>"
            svg += "<text x=\"\(left - 28)\" y=\"\(y(tick) + 4)\">\(String(format: "%.2g", tick))</text>"
        }
        svg += "<text x=\"\(left + plotW / 2 - 60)\" y=\"\(top + plotH + 30)\">fraction of pixels changed</text>"
        svg += "<text transform=\"translate(12 \(top + plotH / 2 + 40)) rotate(-90)\">p(target)</text>"
        for (i, curve) in curves.enumerated() where curve.values.count > 1 {
            let colour = palette[i % palette.count], n = Double(curve.values.count - 1)
            let points = curve.values.enumerated().map { String(format: "%.1f,%.1f", x(Double($0.offset) / n), y(Double($0.element))) }
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>"
            let ly = top + 12 + Double(i) * 14
            svg += "<line x1=\"\(left + plotW + 10)\" y1=\"\(ly - 4)\" x2=\"\(left + plotW + 28)\" y2=\"\(ly - 4)\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            svg += "<text x=\"\(left + plotW + 32)\" y=\"\(ly)\">\(htmlEscaped(curve.name))</text>"
        }
        return svg + "</svg>"
    }
}
