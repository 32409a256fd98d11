import Foundation
import FoveaIO
import FoveaTensor

/// Pictures of 2-D embeddings: a scatter coloured by class, and an image map of thumbnails
/// snapped to a grid (as in Karpathy's t-SNE pictures of CNN codes).
public enum MapFigure {
    /// Ten distinguishable colours (matplotlib's tab10), cycled for more classes.
    static let palette: [[UInt8]] = [
        [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
        [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
    ]

    /// How coordinates map to pixels: x_px = margin + padX + (x - x0) * scale, y_px = margin +
    /// padY + (y1 - y) * scale; one scale for both axes, so a map is not stretched, and the
    /// shorter extent centred.
    struct Placement {
        let x0, y1, scale, padX, padY: Float
        let margin, span: Int

        init(_ coords: Tensor, size: Int, margin: Int) {
            let v = coords.scalars, n = coords.shape[0]
            let xs = (0..<n).map { v[2 * $0] }, ys = (0..<n).map { v[2 * $0 + 1] }
            let (x0, x1, y0, y1) = (xs.min() ?? 0, xs.max() ?? 1, ys.min() ?? 0, ys.max() ?? 1)
            let span = Float(size - 2 * margin - 1)
            scale = span / max(x1 - x0, y1 - y0, 1e-12)
            (self.x0, self.y1, self.margin, self.span) = (x0, y1, margin, Int(span))
            (padX, padY) = ((span - (x1 - x0) * scale) / 2, (span - (y1 - y0) * scale) / 2)
        }

        func x(_ value: Float) -> Int { margin + Int((padX + (value - x0) * scale).rounded()).clamped(0, span) }
        func y(_ value: Float) -> Int { margin + Int((padY + (y1 - value) * scale).rounded()).clamped(0, span) }
        /// The coordinate values at the plot's left/right (x) and bottom/top (y) edges.
        var xRange: (Float, Float) { (x0 - padX / scale, x0 + (Float(span) - padX) / scale) }
        var yRange: (Float, Float) { (y1 - (Float(span) - padY) / scale, y1 + padY / scale) }
    }

    /// Positions of the rows of coords [N, 2] in a size x size square (with a margin).
    static func place(_ coords: Tensor, size: Int, margin: Int) -> [(x: Int, y: Int)] {
        let placement = Placement(coords, size: size, margin: margin), v = coords.scalars
        return (0..<coords.shape[0]).map { (placement.x(v[2 * $0]), placement.y(v[2 * $0 + 1])) }
    }

    /// Round tick values (1, 2 or 5 times a power of ten apart, about `count` of them) inside lo...hi.
    static func niceTicks(_ lo: Float, _ hi: Float, count: Int = 6) -> [Float] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Float(count), power = pow(10, (log10(raw)).rounded(.down))
        let step = [1, 2, 5, 10].map { Float($0) * power }.first { $0 >= raw } ?? 10 * power
        let first = (lo / step).rounded(.up)
        return stride(from: first * step, through: hi + step * 1e-4, by: step).map { abs($0) < step * 1e-6 ? 0 : $0 }
    }

    /// A scatter plot of every point (3 px dots), coloured by label, with a legend. `axes`:
    /// a frame with round ticks in the coordinates' own units (one scale for both axes) and the
    /// axis titles; `title` above the plot.
    public static func scatter(_ coords: Tensor, labels: [Int]?, classNames: [String] = [], size: Int = 900,
                               axes: (x: String, y: String)? = nil, title: String? = nil) -> Image {
        let legendWidth = labels == nil ? 0 : 160
        let (left, bottom) = axes == nil ? (0, 0) : (64, 44)
        let top = title.map { Image.textSize($0, scale: 2).height + 12 } ?? 0
        var image = Image(width: left + size + legendWidth, height: top + size + bottom, channels: 3, color: [255, 255, 255])
        var plot = Image(width: size, height: size, channels: 3, color: [255, 255, 255])
        let placement = Placement(coords, size: size, margin: 12), v = coords.scalars
        for i in 0..<coords.shape[0] {
            let color = labels.map { palette[$0[i] % palette.count] } ?? [40, 40, 40]
            plot.fillRect(x: placement.x(v[2 * i]) - 1, y: placement.y(v[2 * i + 1]) - 1, width: 3, height: 3, color: color)
        }
        if let axes {
            let ink: [UInt8] = [60, 60, 60]
            for (x, y, w, h) in [(0, 0, size, 1), (0, size - 1, size, 1), (0, 0, 1, size), (size - 1, 0, 1, size)] {
                plot.fillRect(x: x, y: y, width: w, height: h, color: ink)
            }
            func label(_ t: Float) -> String { String(format: "%g", t) }
            for t in niceTicks(placement.xRange.0, placement.xRange.1) {
                let x = placement.x(t)
                plot.fillRect(x: x, y: size - 6, width: 1, height: 6, color: ink)
                let w = Image.textSize(label(t)).width
                image.drawText(label(t), x: left + x - w / 2, y: top + size + 4, color: [0, 0, 0])
            }
            for t in niceTicks(placement.yRange.0, placement.yRange.1) {
                let y = placement.y(t)
                plot.fillRect(x: 0, y: y, width: 6, height: 1, color: ink)
                let (w, h) = Image.textSize(label(t))
                image.drawText(label(t), x: left - w - 6, y: top + y - h / 2, color: [0, 0, 0])
            }
            let xTitleWidth = Image.textSize(axes.x).width
            image.drawText(axes.x, x: left + (size - xTitleWidth) / 2, y: top + size + 24, color: [0, 0, 0])
            image.drawText(axes.y, x: 4, y: top + 2, color: [0, 0, 0])
        }
        image.paste(plot, x: left, y: top)
        if let title { image.drawText(title, x: left + 4, y: 6, color: [0, 0, 0], scale: 2) }
        if let labels {
            for (row, c) in Set(labels).sorted().enumerated() {
                let y = top + 14 + row * 16
                image.fillRect(x: left + size + 8, y: y, width: 10, height: 10, color: palette[c % palette.count])
                let name = c < classNames.count ? classNames[c] : "class \(c)"
                image.drawText(Image.fitting(name, width: legendWidth - 24 - 4), x: left + size + 24, y: y + 1, color: [0, 0, 0])
            }
        }
        return image
    }

    /// Thumbnails on a grid x grid lattice over the map: each cell shows the point nearest its
    /// centre (cells without points stay empty), so any N stays readable.
    public static func imageMap(_ coords: Tensor, thumbnail: (Int) throws -> Image, grid: Int = 30, cell: Int = 32) rethrows -> Image {
        let size = grid * cell
        let positions = place(coords, size: size, margin: 0)
        var best = [Int: (index: Int, distance: Int)]()
        for (i, p) in positions.enumerated() {
            let (cx, cy) = (min(p.x / cell, grid - 1), min(p.y / cell, grid - 1))
            let (dx, dy) = (p.x - (cx * cell + cell / 2), p.y - (cy * cell + cell / 2))
            let d = dx * dx + dy * dy
            if best[cy * grid + cx].map({ d < $0.distance }) ?? true { best[cy * grid + cx] = (i, d) }
        }
        var image = Image(width: size, height: size, channels: 3, color: [255, 255, 255])
        for (key, entry) in best.sorted(by: { $0.key < $1.key }) {
            let thumb = try thumbnail(entry.index).rgb().resized(width: cell - 2, height: cell - 2, filter: .bilinear)
            image.paste(thumb, x: (key % grid) * cell + 1, y: (key / grid) * cell + 1)
        }
        return image
    }
}

private extension Int {
    func clamped(_ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(self, lo), hi) }
}
