import Foundation

// Compositing (grid, paste, rectangles, text). Each operation also appends itself to the
// canvas's `drawing`, so a figure can be written as SVG or PDF with vector text.

/// One drawing operation, in the canvas's pixel coordinates (origin top-left, y down).
public enum DrawOp: Sendable, Equatable {
    /// The whole canvas in one colour (a blank canvas starts with this).
    case fill(color: [UInt8])
    case rect(x: Int, y: Int, width: Int, height: Int, color: [UInt8])
    /// ``Image/drawText(_:x:y:color:scale:)``: the layout's top-left corner at (x, y).
    case text(String, x: Int, y: Int, color: [UInt8], scale: Int)
    /// ``Image/paste(_:x:y:)``: the image's own drawing when it has one, else its pixels.
    case image(Image, x: Int, y: Int)
    /// ``Image/drawLine(from:to:width:color:)``: a segment `width` px thick between pixel centres.
    case line(x0: Int, y0: Int, x1: Int, y1: Int, width: Int, color: [UInt8])
}

extension Image {
    /// Tiles images row by row into one RGB image. Every cell is as large as the largest
    /// image; each image is centred in its cell; `padding` pixels of `background` separate cells
    /// and frame the grid. Size: columns * cellW + (columns + 1) * padding wide, likewise tall.
    public static func grid(_ images: [Image], columns: Int, padding: Int = 2,
                            background: [UInt8] = [255, 255, 255]) -> Image {
        precondition(columns > 0 && padding >= 0, "grid needs columns > 0 and padding >= 0")
        let cellW = images.map(\.width).max() ?? 0
        let cellH = images.map(\.height).max() ?? 0
        let cols = max(min(columns, images.count), 1)
        let rows = (images.count + cols - 1) / cols
        var out = Image(width: cols * cellW + (cols + 1) * padding,
                        height: rows * cellH + (rows + 1) * padding, channels: 3, color: background)
        for (n, image) in images.enumerated() {
            let (row, col) = (n / cols, n % cols)
            let x = padding + col * (cellW + padding) + (cellW - image.width) / 2
            let y = padding + row * (cellH + padding) + (cellH - image.height) / 2
            out.paste(image, x: x, y: y)
        }
        return out
    }

    /// Copies `image` with its top-left corner at (x, y), clipped to this image. Channels are
    /// converted to this image's layout (gray replicated or converted to luma; RGBA sources are
    /// alpha-blended onto this image: out = (src a + dst (255 - a) + 127) / 255).
    public mutating func paste(_ image: Image, x: Int, y: Int) {
        let x0 = max(x, 0), x1 = min(x + image.width, width)
        let y0 = max(y, 0), y1 = min(y + image.height, height)
        guard x1 > x0, y1 > y0 else { return }
        record(.image(image, x: x, y: y))
        let source = image.channels == 4 || image.channels == channels ? image
            : (channels == 1 ? image.grayscale() : image.rgb())
        for row in y0..<y1 {
            for col in x0..<x1 {
                let s = ((row - y) * source.width + (col - x)) * source.channels
                let d = (row * width + col) * channels
                if source.channels == 4 {
                    let rgba = Array(source.pixels[s..<(s + 4)])
                    let color = Image.adapt(Array(rgba[0..<3]), to: channels)
                    let a = Int(rgba[3])
                    for c in 0..<min(channels, 3) {
                        storage[d + c] = UInt8((Int(color[c]) * a + Int(storage[d + c]) * (255 - a) + 127) / 255)
                    }
                    if channels == 4 { storage[d + 3] = UInt8(max(Int(storage[d + 3]), a)) }
                } else {
                    for c in 0..<channels { storage[d + c] = source.storage[s + c] }
                }
            }
        }
    }

    /// Appends `op` to ``drawing``; an image without one (decoded or computed pixels) first
    /// becomes a canvas whose bottom layer is its current pixels.
    private mutating func record(_ op: DrawOp) {
        if drawing == nil { drawing = [.image(Image(width: width, height: height, channels: channels, pixels: storage), x: 0, y: 0)] }
        drawing!.append(op)
    }

    /// Fills the rectangle (clipped to the image) with `color` (1, 3 or 4 values, adapted).
    public mutating func fillRect(x: Int, y: Int, width: Int, height: Int, color: [UInt8]) {
        record(.rect(x: x, y: y, width: width, height: height, color: color))
        fillPixels(x: x, y: y, width: width, height: height, color: Image.adapt(color, to: channels))
    }

    /// A straight segment from (x0, y0) to (x1, y1), `width` px thick: a `width`-sided square
    /// centred on every pixel of the path (one step per pixel along its longer axis).
    public mutating func drawLine(from a: (x: Int, y: Int), to b: (x: Int, y: Int), width: Int = 2, color: [UInt8]) {
        record(.line(x0: a.x, y0: a.y, x1: b.x, y1: b.y, width: width, color: color))
        let pixel = Image.adapt(color, to: channels)
        let steps = max(abs(b.x - a.x), abs(b.y - a.y), 1)
        for s in 0...steps {
            let x = a.x + (b.x - a.x) * s / steps, y = a.y + (b.y - a.y) * s / steps
            fillPixels(x: x - width / 2, y: y - width / 2, width: width, height: width, color: pixel)
        }
    }

    /// Sets the rectangle's pixels (clipped) to `pixel`, already in this image's layout.
    private mutating func fillPixels(x: Int, y: Int, width: Int, height: Int, color pixel: [UInt8]) {
        for row in max(y, 0)..<max(min(y + height, self.height), max(y, 0)) {
            for col in max(x, 0)..<max(min(x + width, self.width), max(x, 0)) {
                let d = (row * self.width + col) * channels
                for c in 0..<channels { storage[d + c] = pixel[c] }
            }
        }
    }

    /// Draws `text` (lines separated by "\n") in DejaVu Sans through Pango and Cairo,
    /// antialiased, top-left corner at (x, y); `scale` multiplies the font's 7.5 px size (lines
    /// about 9 * scale px apart). Drawing is clipped to the image.
    public mutating func drawText(_ text: String, x: Int, y: Int, color: [UInt8] = [0, 0, 0], scale: Int = 1) {
        guard !text.isEmpty else { return }
        let pixel = Image.adapt(color, to: channels)
        record(.text(text, x: x, y: y, color: color, scale: scale))
        let mask = TextRenderer.render(text, scale: scale)
        for my in 0..<mask.height {
            let py = y + my
            guard py >= 0 && py < height else { continue }
            for mx in 0..<mask.width {
                let px = x + mx
                let a = Int(mask.alpha[my * mask.width + mx])
                guard a > 0, px >= 0, px < width else { continue }
                let d = (py * width + px) * channels
                for c in 0..<channels {
                    // out = a * text + (1 - a) * background, in 8 bits with rounding.
                    storage[d + c] = UInt8((a * Int(pixel[c]) + (255 - a) * Int(storage[d + c]) + 127) / 255)
                }
            }
        }
    }

    /// Size in pixels that ``drawText(_:x:y:color:scale:)`` covers for `text` (zero for "").
    public static func textSize(_ text: String, scale: Int = 1) -> (width: Int, height: Int) {
        TextRenderer.size(text, scale: scale)
    }

    /// `text` as it fits in `width` pixels at `scale`: whole, or cut with an ellipsis.
    public static func fitting(_ text: String, width: Int, scale: Int = 1) -> String {
        guard textSize(text, scale: scale).width > width else { return text }
        var (lo, hi) = (0, text.count)                    // the longest prefix that fits with "…"
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if textSize(String(text.prefix(mid)) + "…", scale: scale).width <= width { lo = mid } else { hi = mid - 1 }
        }
        return lo == 0 ? "" : String(text.prefix(lo)) + "…"
    }
}

