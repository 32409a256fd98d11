import CFoveaJPEG
import Foundation

/// JPEG reading and writing through libjpeg(-turbo), wrapped by the CFoveaJPEG C shim so that
/// libjpeg's longjmp-based errors never reach Swift.
public enum JPEG {
    /// Decodes a baseline or progressive JPEG to 8-bit gray (1 channel) or RGB (3 channels).
    /// CMYK/YCCK files and files that end early throw ``ImageError``.
    public static func decode(_ data: Data, name: String = "<memory>") throws -> Image {
        var out = fovea_jpeg_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { bytes -> Int32 in
            guard let base = bytes.bindMemory(to: UInt8.self).baseAddress else {
                return Int32(FOVEA_JPEG_NOT_JPEG)
            }
            return fovea_jpeg_decode(base, bytes.count, &out, &message, message.count)
        }
        defer { fovea_jpeg_free(out.data) }
        let text = String(cString: message)
        guard status == FOVEA_JPEG_OK, let pixels = out.data else {
            switch Int(status) {
            case Int(FOVEA_JPEG_NOT_JPEG):
                throw ImageError.notAnImage(path: name, reason: text.isEmpty ? "empty file" : text)
            case Int(FOVEA_JPEG_UNSUPPORTED), Int(FOVEA_JPEG_TOO_LARGE):
                throw ImageError.unsupported(path: name, reason: "JPEG: \(text)")
            default:
                throw ImageError.corrupt(path: name, reason: "JPEG: \(text)")
            }
        }
        return Image(width: Int(out.width), height: Int(out.height), channels: Int(out.channels),
                     pixels: [UInt8](UnsafeBufferPointer(start: pixels, count: out.size)))
    }

    /// Encodes as JPEG with libjpeg's `quality` scale (1...100, clamped; 4:2:0 chroma
    /// subsampling like PIL's default). Gray stays gray; RGBA drops its alpha channel.
    public static func encode(_ image: Image, quality: Int = 95, name: String = "<memory>") throws -> Data {
        let source = image.channels == 4 ? image.rgb() : image
        guard source.width > 0, source.height > 0 else {
            throw ImageError.writeFailed(path: name, reason: "cannot encode an empty \(image.width)x\(image.height) image")
        }
        guard source.width <= 65500, source.height <= 65500 else {
            throw ImageError.writeFailed(path: name, reason: "JPEG sides are limited to 65500 pixels, image is \(image.width)x\(image.height)")
        }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = source.pixels.withUnsafeBufferPointer { px in
            fovea_jpeg_encode(px.baseAddress, Int32(source.width), Int32(source.height),
                              Int32(source.channels), Int32(clamping: min(max(quality, 1), 100)),
                              &out, &size, &message, message.count)
        }
        defer { fovea_jpeg_free(out) }
        guard status == FOVEA_JPEG_OK, let out else {
            throw ImageError.writeFailed(path: name, reason: "JPEG encoder: \(String(cString: message))")
        }
        return Data(bytes: out, count: size)
    }
}
