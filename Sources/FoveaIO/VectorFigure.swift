import CPangoCairo
import Foundation

/// SVG and PDF output of an ``Image`` through Cairo's vector surfaces. The image's ``Image/drawing``
/// is replayed: fills and rectangles become vector paths, text becomes glyph outlines (SVG) or
/// embedded DejaVu Sans subsets (PDF, so it can be selected and searched), and pasted pixels
/// become embedded images drawn with nearest-neighbour filtering. One figure pixel is one SVG
/// px and one PDF point. An image without a drawing is embedded whole.
public enum VectorFigure {
    public enum Format: Sendable { case svg, pdf }

    /// The file's bytes; `name` only labels errors.
    public static func encode(_ image: Image, as format: Format, name: String) throws -> Data {
        guard image.width > 0, image.height > 0 else {
            throw ImageError.unsupported(path: name, reason: "cannot write an empty \(image.width)x\(image.height) image")
        }
        let sink = ByteSink()
        let closure = Unmanaged.passUnretained(sink).toOpaque()
        let write: cairo_write_func_t = { closure, bytes, length in
            let sink = Unmanaged<ByteSink>.fromOpaque(closure!).takeUnretainedValue()
            if let bytes { sink.data.append(bytes, count: Int(length)) }
            return CAIRO_STATUS_SUCCESS
        }
        let (w, h) = (Double(image.width), Double(image.height))
        let surface: OpaquePointer
        switch format {
        case .svg:
            surface = cairo_svg_surface_create_for_stream(write, closure, w, h)
            cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX)
        case .pdf:
            surface = cairo_pdf_surface_create_for_stream(write, closure, w, h)
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "Fovea")
        }
        let cr = cairo_create(surface)!
        replay(image, on: cr)
        let drawStatus = cairo_status(cr)
        cairo_destroy(cr)
        cairo_surface_finish(surface)
        let surfaceStatus = cairo_surface_status(surface)
        cairo_surface_destroy(surface)
        for status in [drawStatus, surfaceStatus] where status != CAIRO_STATUS_SUCCESS {
            throw ImageError.writeFailed(path: name, reason: "Cairo: \(String(cString: cairo_status_to_string(status)))")
        }
        return withExtendedLifetime(sink) { sink.data }
    }

    /// The drawing replayed onto a Cairo image surface, as an RGB image (RGBA for an RGBA
    /// canvas): what the SVG or PDF shows, rasterised at one pixel per unit.
    public static func rasterize(_ image: Image) -> Image {
        let format = image.channels == 4 ? CAIRO_FORMAT_ARGB32 : CAIRO_FORMAT_RGB24
        let surface = cairo_image_surface_create(format, Int32(image.width), Int32(image.height))!
        defer { cairo_surface_destroy(surface) }
        let cr = cairo_create(surface)!
        replay(image, on: cr)
        cairo_destroy(cr)
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        let channels = image.channels == 4 ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: image.width * image.height * channels)
        for y in 0..<image.height {
            for x in 0..<image.width {
                let s = y * stride + 4 * x, d = (y * image.width + x) * channels
                let a = channels == 4 ? Int(data[s + 3]) : 255
                for c in 0..<3 {                       // native-endian 0xAARRGGBB, premultiplied
                    let v = Int(data[s + 2 - c])
                    pixels[d + c] = UInt8(a == 0 ? 0 : min(255, (v * 255 + a / 2) / a))
                }
                if channels == 4 { pixels[d + 3] = UInt8(a) }
            }
        }
        return Image(width: image.width, height: image.height, channels: channels, pixels: pixels)
    }

    /// Draws `image` with its top-left corner at the user-space origin, clipped to its bounds.
    static func replay(_ image: Image, on cr: OpaquePointer) {
        cairo_save(cr)
        defer { cairo_restore(cr) }
        cairo_rectangle(cr, 0, 0, Double(image.width), Double(image.height))
        cairo_clip(cr)
        guard let ops = image.drawing else { return paint(image, on: cr) }
        for op in ops {
            switch op {
            case .fill(let color):
                setSource(color, canvas: image.channels, on: cr)
                cairo_paint(cr)
            case .rect(let x, let y, let width, let height, let color):
                guard width > 0, height > 0 else { continue }
                setSource(color, canvas: image.channels, on: cr)
                cairo_rectangle(cr, Double(x), Double(y), Double(width), Double(height))
                cairo_fill(cr)
            case .text(let text, let x, let y, let color, let scale):
                setSource(color, canvas: image.channels, on: cr, blend: true)
                cairo_move_to(cr, Double(x), Double(y))
                TextRenderer.show(text, scale: scale, on: cr)
            case .image(let source, let x, let y):
                // As paste converts it: RGBA blends over, other layouts become the canvas's.
                cairo_save(cr)
                cairo_translate(cr, Double(x), Double(y))
                if source.channels == 4 || source.channels == image.channels {
                    replay(source, on: cr)
                } else {
                    let converted = image.channels == 1 ? source.grayscale() : source.rgb()
                    cairo_rectangle(cr, 0, 0, Double(source.width), Double(source.height))
                    cairo_clip(cr)
                    paint(converted, on: cr)
                }
                cairo_restore(cr)
            case .line(let x0, let y0, let x1, let y1, let width, let color):
                // Pixel (x, y) is the square [x, x + 1); the raster's squares of side w start at
                // x - w/2, so the stroke runs through x - w/2 + w/2 (the square's centre).
                let shift = Double(width) / 2 - Double(width / 2)
                setSource(color, canvas: image.channels, on: cr)
                cairo_set_line_width(cr, Double(width))
                cairo_set_line_cap(cr, CAIRO_LINE_CAP_SQUARE)
                cairo_move_to(cr, Double(x0) + shift, Double(y0) + shift)
                cairo_line_to(cr, Double(x1) + shift, Double(y1) + shift)
                cairo_stroke(cr)
            }
        }
    }

    /// `color` as the canvas stores it (adapted to its channels), as Cairo's source. Opaque
    /// colours paint over (which every vector backend keeps as vectors); a translucent fill or
    /// rectangle replaces what is under it, as ``Image/fillRect(x:y:width:height:color:)`` does.
    private static func setSource(_ color: [UInt8], canvas channels: Int, on cr: OpaquePointer, blend: Bool = false) {
        let stored = Image.adapt(color, to: channels)
        let rgb = channels == 1 ? [stored[0], stored[0], stored[0]] : Array(stored[0..<3])
        let alpha = channels == 4 ? Double(stored[3]) / 255 : 1
        cairo_set_operator(cr, alpha < 1 && !blend ? CAIRO_OPERATOR_SOURCE : CAIRO_OPERATOR_OVER)
        cairo_set_source_rgba(cr, Double(rgb[0]) / 255, Double(rgb[1]) / 255, Double(rgb[2]) / 255, alpha)
    }

    /// The pixels as one embedded image at the origin, nearest-neighbour filtered.
    private static func paint(_ image: Image, on cr: OpaquePointer) {
        let alpha = image.channels == 4
        let surface = cairo_image_surface_create(alpha ? CAIRO_FORMAT_ARGB32 : CAIRO_FORMAT_RGB24,
                                                 Int32(image.width), Int32(image.height))!
        defer { cairo_surface_destroy(surface) }
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        let p = image.pixels, channels = image.channels
        for y in 0..<image.height {
            for x in 0..<image.width {
                let s = (y * image.width + x) * channels, d = y * stride + 4 * x
                let a = alpha ? Int(p[s + 3]) : 255
                for c in 0..<3 {                       // premultiplied, native-endian 0xAARRGGBB
                    let v = Int(p[s + (channels == 1 ? 0 : c)])
                    data[d + 2 - c] = UInt8((v * a + 127) / 255)
                }
                data[d + 3] = UInt8(a)
            }
        }
        cairo_surface_mark_dirty(surface)
        cairo_set_operator(cr, CAIRO_OPERATOR_OVER)
        cairo_set_source_surface(cr, surface, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST)
        cairo_rectangle(cr, 0, 0, Double(image.width), Double(image.height))
        cairo_fill(cr)
    }

    private final class ByteSink: @unchecked Sendable { var data = Data() }
}
