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

    /// Positions of the rows of coords [N, 2] in a size x size square (with a margin), one
    /// scale for both axes, so a map is not stretched.
    static func place(_ coords: Tensor, size: Int, margin: Int) -> [(x: Int, y: Int)] {
        let v = coords.scalars, n = coords.shape[0]
        let xs = (0..<n).map { v[2 * $0] }, ys = (0..<n).map { v[2 * $0 + 1] }
        let (x0, x1, y0, y1) = (xs.min() ?? 0, xs.max() ?? 1, ys.min() ?? 0, ys.max() ?? 1)
        // One scale for both axes (distances in the map are isotropic); the shorter extent is centred.
        let span = Float(size - 2 * margin - 1)
        let scale = span / max(x1 - x0, y1 - y0, 1e-12)
        let (padX, padY) = ((span - (x1 - x0) * scale) / 2, (span - (y1 - y0) * scale) / 2)
        return (0..<n).map { i in
            (margin + Int((padX + (xs[i] - x0) * scale).rounded()).clamped(0, Int(span)),
             margin + Int((padY + (y1 - ys[i]) * scale).rounded()).clamped(0, Int(span)))
        }
    }

    /// A scatter plot of every point (3 px dots), coloured by label, with a legend.
    public static func scatter(_ coords: Tensor, labels: [Int]?, classNames: [String] = [], size: Int = 900) -> Image {
        let legendWidth = labels == nil ? 0 : 160
        var image = Image(width: size + legendWidth, height: size, channels: 3, color: [255, 255, 255])
        for (i, p) in place(coords, size: size, margin: 12).enumerated() {
            let color = labels.map { palette[$0[i] % palette.count] } ?? [40, 40, 40]
            image.fillRect(x: p.x - 1, y: p.y - 1, width: 3, height: 3, color: color)
        }
        if let labels {
            for (row, c) in Set(labels).sorted().enumerated() {
                let y = 14 + row * 16
                image.fillRect(x: size + 8, y: y, width: 10, height: 10, color: palette[c % palette.count])
                let name = c < classNames.count ? classNames[c] : "class \(c)"
                image.drawText(String(name.prefix(20)), x: size + 24, y: y + 1, color: [0, 0, 0])
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
