import Foundation
@testable import FoveaIO
import Testing

/// SVG and PDF output: the drawing an image records, its replay, and the files.
@Suite struct VectorFigureTests {
    /// A figure with every kind of operation: fills, text at two sizes, RGB, gray and RGBA
    /// pastes, a pasted sub-figure with its own text, and a paste hanging off the edge.
    static func figure() -> Image {
        var canvas = Image(width: 240, height: 150, channels: 3, color: [250, 250, 250])
        canvas.fillRect(x: 10, y: 10, width: 100, height: 4, color: [200, 30, 40])
        canvas.drawText("Tiger cat: 0.62 (gjpqy)", x: 12, y: 20, color: [0, 0, 0])
        canvas.drawText("Grad-CAM", x: 120, y: 8, color: [20, 60, 200], scale: 2)
        var gradient = Image(width: 32, height: 24, channels: 3)
        for y in 0..<24 { for x in 0..<32 { gradient[x: x, y: y, c: 0] = UInt8(x * 8); gradient[x: x, y: y, c: 2] = UInt8(y * 10) } }
        canvas.paste(gradient, x: 12, y: 40)
        canvas.paste(Image(width: 16, height: 16, channels: 1, pixels: (0..<256).map { UInt8($0) }), x: 50, y: 40)
        var spot = Image(width: 20, height: 20, channels: 4, color: [255, 0, 0, 0])
        for y in 5..<15 { for x in 5..<15 { spot[x: x, y: y, c: 3] = 128 } }
        canvas.paste(spot, x: 70, y: 40)
        var panel = Image(width: 90, height: 60, channels: 3, color: [230, 240, 255])
        panel.drawText("inner panel, cut at its edge: WWWWWWWW", x: 4, y: 4)
        panel.fillRect(x: 4, y: 30, width: 40, height: 20, color: [0, 128, 0])
        canvas.paste(panel, x: 120, y: 50)
        canvas.paste(gradient, x: 225, y: 140)
        return canvas
    }

    @Test func canvasesRecordTheirDrawingAndDirectWritesDropIt() {
        var canvas = Image(width: 8, height: 8, channels: 3, color: [1, 2, 3])
        #expect(canvas.drawing == [.fill(color: [1, 2, 3])])
        canvas.fillRect(x: 1, y: 1, width: 2, height: 2, color: [9, 9, 9])
        canvas.drawText("a", x: 0, y: 0)
        canvas.paste(Image(width: 2, height: 2, channels: 1, pixels: [0, 1, 2, 3]), x: 6, y: 6)
        canvas.paste(Image(width: 2, height: 2, channels: 1, pixels: [0, 1, 2, 3]), x: 20, y: 20)   // off the canvas: nothing
        #expect(canvas.drawing?.count == 4)
        let copy = canvas
        canvas[x: 0, y: 0, c: 0] = 7
        #expect(canvas.drawing == nil && copy.drawing?.count == 4)
        #expect(Image(width: 2, height: 1, channels: 1, pixels: [1, 2]).drawing == nil)
        var raw = Image(width: 2, height: 1, channels: 1, pixels: [1, 2])
        raw.fillRect(x: 0, y: 0, width: 1, height: 1, color: [0])
        #expect(raw.drawing == [.image(Image(width: 2, height: 1, channels: 1, pixels: [1, 2]), x: 0, y: 0),
                                .rect(x: 0, y: 0, width: 1, height: 1, color: [0])], "drawing on pixels starts with them")
        #expect(Image(width: 2, height: 1, channels: 1, color: [1]) == Image(width: 2, height: 1, channels: 1, pixels: [1, 1]),
                "equality compares pixels, not how they were drawn")
    }

    /// The replayed drawing is the figure: rectangles and pastes exactly, antialiased text
    /// within a few levels (Cairo composites the glyphs itself instead of through a mask).
    @Test func replayRasterisesToTheSamePixels() {
        let figure = Self.figure()
        let replayed = VectorFigure.rasterize(figure)
        #expect(replayed.width == figure.width && replayed.height == figure.height && replayed.channels == 3)
        let differences = zip(replayed.pixels, figure.pixels).map { abs(Int($0) - Int($1)) }
        let mean = Double(differences.reduce(0, +)) / Double(differences.count)
        let large = differences.filter { $0 > 8 }.count
        #expect(mean < 0.2 && large < differences.count / 1000, "mean \(mean), \(large) values off by more than 8")
        // Away from text every value is equal: the gradient paste, the gray ramp, the bar.
        for (x, y) in [(12, 40), (43, 63), (50, 40), (65, 55), (60, 11), (124, 80), (239, 149), (75, 45), (79, 49)] {
            for c in 0..<3 { #expect(replayed[x: x, y: y, c: c] == figure[x: x, y: y, c: c], "(\(x), \(y)) channel \(c)") }
        }
    }

    @Test func svgAndPdfKeepTextAsVectorsAndPixelsAsImages() throws {
        let figure = Self.figure()
        let svg = String(decoding: try VectorFigure.encode(figure, as: .svg, name: "f.svg"), as: UTF8.self)
        #expect(svg.contains("<svg") && svg.contains("width=\"240px\"") && svg.contains("height=\"150px\""))
        #expect(svg.contains("<path"), "text and rectangles are paths")
        let images = svg.components(separatedBy: "<image").count - 1
        #expect(images >= 3 && images <= 5, "one embedded image per pasted raster (the gradient twice), found \(images)")
        let pdf = try VectorFigure.encode(figure, as: .pdf, name: "f.pdf")
        let text = String(decoding: pdf, as: UTF8.self)
        #expect(text.hasPrefix("%PDF-1.") && text.contains("%%EOF"))
        #expect(text.contains("DejaVuSans") && text.contains("/FontFile"), "the font is embedded, so the text is text")

        let photo = Image(width: 3, height: 2, channels: 3, pixels: (0..<18).map { UInt8($0 * 10) })
        let raster = String(decoding: try VectorFigure.encode(photo, as: .svg, name: "p.svg"), as: UTF8.self)
        #expect(raster.components(separatedBy: "<image").count - 1 == 1 && !raster.contains("glyph"))
    }

    @Test func saveWritesByExtensionAndNamesTheFileInErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-vector-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for ext in ["svg", "pdf", "png"] {
            let path = folder.appendingPathComponent("figure.\(ext)").path
            try Self.figure().save(path: path)
            let head = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(5)
            #expect(head.count == 5, "\(ext) written")
        }
        #expect(throws: ImageError.unsupported(path: "figure.eps", reason: "cannot tell the format from the extension (use .png, .jpg, .jpeg, .svg or .pdf)")) {
            try Self.figure().save(path: "figure.eps")
        }
        #expect(throws: ImageError.unsupported(path: "e.svg", reason: "cannot write an empty 0x5 image")) {
            try Image(width: 0, height: 5, channels: 3, color: [0]).save(path: "e.svg")
        }
    }
}
