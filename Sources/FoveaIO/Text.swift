import CPangoCairo
import Foundation

/// Figure text through Pango and Cairo: DejaVu Sans, antialiased, with descenders and any
/// Unicode. A string is laid out by Pango, rendered by Cairo into an 8-bit coverage mask, and
/// blended into the image in the text colour.
enum TextRenderer {
    /// Pixel size of the font at `scale` 1: lines are about 9 px apart, as labels were laid out for.
    static let pixelSize = 7.5
    /// Pango and fontconfig are not thread-safe: one string at a time.
    private static let lock = NSLock()

    /// The coverage mask of `text` (one byte per pixel, row-major) and its size; lines are
    /// separated by "\n".
    static func render(_ text: String, scale: Int, bold: Bool = false) -> (width: Int, height: Int, alpha: [UInt8]) {
        lock.withLock {
            let (width, height) = measure(text, scale: scale, bold: bold)
            guard width > 0, height > 0 else { return (0, 0, []) }
            let surface = cairo_image_surface_create(CAIRO_FORMAT_A8, Int32(width), Int32(height))
            defer { cairo_surface_destroy(surface) }
            withLayout(text, scale: scale, bold: bold, surface: surface!) { layout, cr in
                cairo_set_source_rgba(cr, 0, 0, 0, 1)
                pango_cairo_show_layout(cr, layout)
            }
            cairo_surface_flush(surface)
            let stride = Int(cairo_image_surface_get_stride(surface))
            let data = cairo_image_surface_get_data(surface)!
            var alpha = [UInt8](repeating: 0, count: width * height)
            for y in 0..<height {
                for x in 0..<width { alpha[y * width + x] = data[y * stride + x] }
            }
            return (width, height, alpha)
        }
    }

    /// Draws `text` on `cr` (any Cairo surface: image, SVG, PDF) in the current source colour,
    /// the layout's top-left corner at the current point: the same font, size and layout
    /// as ``render(_:scale:bold:)``, as glyph outlines on vector surfaces.
    static func show(_ text: String, scale: Int, on cr: OpaquePointer) {
        lock.withLock {
            let layout = makeLayout(text, scale: scale, bold: false, cr: cr)
            defer { g_object_unref(UnsafeMutableRawPointer(layout)) }
            pango_cairo_show_layout(cr, layout)
        }
    }

    /// Width and height in pixels of `text` as ``render(_:scale:bold:)`` draws it (laid out,
    /// not rasterised).
    static func size(_ text: String, scale: Int) -> (width: Int, height: Int) {
        guard !text.isEmpty else { return (0, 0) }
        return lock.withLock { measure(text, scale: scale, bold: false) }
    }

    /// The layout's pixel size; the caller holds `lock`.
    private static func measure(_ text: String, scale: Int, bold: Bool) -> (width: Int, height: Int) {
        let surface = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1)
        defer { cairo_surface_destroy(surface) }
        return withLayout(text, scale: scale, bold: bold, surface: surface!) { layout, _ in
            var w: Int32 = 0, h: Int32 = 0
            pango_layout_get_pixel_size(layout, &w, &h)
            return (Int(w), Int(h))
        }
    }

    private static func withLayout<T>(_ text: String, scale: Int, bold: Bool, surface: OpaquePointer,
                                      _ body: (OpaquePointer, OpaquePointer) -> T) -> T {
        let cr = cairo_create(surface)!
        defer { cairo_destroy(cr) }
        let layout = makeLayout(text, scale: scale, bold: bold, cr: cr)
        defer { g_object_unref(UnsafeMutableRawPointer(layout)) }
        return body(layout, cr)
    }

    /// A Pango layout of `text` for `cr` (the caller unrefs it): DejaVu Sans at
    /// `pixelSize * scale` px, gray antialiasing, slight hinting.
    private static func makeLayout(_ text: String, scale: Int, bold: Bool, cr: OpaquePointer) -> OpaquePointer {
        let options = cairo_font_options_create()
        cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
        cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_SLIGHT)
        let layout = pango_cairo_create_layout(cr)!
        pango_cairo_context_set_font_options(pango_layout_get_context(layout), options)
        cairo_font_options_destroy(options)
        let font = pango_font_description_from_string(bold ? "DejaVu Sans Bold" : "DejaVu Sans")
        pango_font_description_set_absolute_size(font, pixelSize * Double(max(scale, 1)) * Double(PANGO_SCALE))
        pango_layout_set_font_description(layout, font)
        pango_font_description_free(font)
        pango_layout_set_text(layout, text, -1)
        return layout
    }
}
