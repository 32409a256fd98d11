import CFoveaPNG
import Foundation

/// A 16-bit image (PNG's deep format): `channels` 1 (gray), 3 (RGB) or 4 (RGBA), samples
/// 0...65535 row-major HWC, like ``Image``.
public struct Image16: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt16]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt16]) {
        precondition(width >= 0 && height >= 0, "image size must be non-negative, got \(width)x\(height)")
        precondition(channels == 1 || channels == 3 || channels == 4,
                     "channels must be 1, 3 or 4, got \(channels)")
        precondition(pixels.count == width * height * channels,
                     "\(width)x\(height)x\(channels) image needs \(width * height * channels) samples, got \(pixels.count)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Widens 8-bit samples exactly: v16 = v8 * 257 (so 255 maps to 65535).
    public init(_ image: Image) {
        self.init(width: image.width, height: image.height, channels: image.channels,
                  pixels: image.pixels.map { UInt16($0) * 257 })
    }

    /// Narrows to 8 bits by rounding: v8 = round(v16 * 255 / 65535) = (v16 + 128) / 257.
    public func to8Bit() -> Image {
        Image(width: width, height: height, channels: channels,
              pixels: pixels.map { UInt8((UInt32($0) + 128) / 257) })
    }

    /// Reads a PNG keeping 16-bit samples (8-bit files are widened with ``init(_:)``; JPEG
    /// files are accepted the same way). Gray+alpha becomes RGBA.
    public static func load(path: String) throws -> Image16 {
        let data = try readImageFile(path)
        switch try ImageFormat.detect(data, name: path) {
        case .png: return try PNG.decode16(data, name: path)
        case .jpeg: return Image16(try JPEG.decode(data, name: path))
        }
    }

    /// Writes a 16-bit PNG (any extension; the content is always PNG).
    public func save(path: String) throws {
        try writeImageFile(PNG.encode(self, name: path), path)
    }
}

/// PNG reading and writing through libpng (wrapped by the CFoveaPNG C shim, which keeps
/// libpng's setjmp/longjmp error handling out of Swift). Everything is decoded exactly:
/// no gamma or colour-profile conversion is applied.
public enum PNG {
    /// Decodes to 8-bit gray, RGB or RGBA. Palette, 1/2/4-bit gray and tRNS transparency are
    /// expanded; gray+alpha becomes RGBA; 16-bit samples round to 8 bits ((v + 128) / 257).
    public static func decode(_ data: Data, name: String = "<memory>") throws -> Image {
        let raw = try decodeRaw(data, name: name)
        let count = raw.width * raw.height * raw.channels
        var samples = [UInt8](repeating: 0, count: count)
        raw.bytes.withUnsafeBytes { src in
            if raw.depth == 8 {
                for i in 0..<count { samples[i] = src[i] }
            } else {
                let wide = src.bindMemory(to: UInt16.self)
                for i in 0..<count { samples[i] = UInt8((UInt32(wide[i]) + 128) / 257) }
            }
        }
        return expandGrayAlpha(width: raw.width, height: raw.height, channels: raw.channels, samples,
                               opaque: 255) { Image(width: $0, height: $1, channels: $2, pixels: $3) }
    }

    /// Decodes keeping 16 bits per sample (8-bit files widen by * 257). Channels as in ``decode(_:name:)``.
    public static func decode16(_ data: Data, name: String = "<memory>") throws -> Image16 {
        let raw = try decodeRaw(data, name: name)
        let count = raw.width * raw.height * raw.channels
        var samples = [UInt16](repeating: 0, count: count)
        raw.bytes.withUnsafeBytes { src in
            if raw.depth == 16 {
                let wide = src.bindMemory(to: UInt16.self)
                for i in 0..<count { samples[i] = wide[i] }
            } else {
                for i in 0..<count { samples[i] = UInt16(src[i]) * 257 }
            }
        }
        return expandGrayAlpha(width: raw.width, height: raw.height, channels: raw.channels, samples,
                               opaque: 65535) { Image16(width: $0, height: $1, channels: $2, pixels: $3) }
    }

    /// Encodes an 8-bit gray, RGB or RGBA image.
    public static func encode(_ image: Image, name: String = "<memory>") throws -> Data {
        try image.pixels.withUnsafeBytes { bytes in
            try encodeRaw(bytes, width: image.width, height: image.height,
                          channels: image.channels, depth: 8, name: name)
        }
    }

    /// Encodes a 16-bit gray, RGB or RGBA image.
    public static func encode(_ image: Image16, name: String = "<memory>") throws -> Data {
        try image.pixels.withUnsafeBytes { bytes in
            try encodeRaw(bytes, width: image.width, height: image.height,
                          channels: image.channels, depth: 16, name: name)
        }
    }

    // MARK: - Shim calls

    /// Decoded samples as the shim returns them: 8-bit bytes or host-order 16-bit words.
    private struct Raw {
        var width: Int, height: Int, channels: Int, depth: Int
        var bytes: [UInt8]
    }

    private static func decodeRaw(_ data: Data, name: String) throws -> Raw {
        var out = fovea_png_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { bytes -> Int32 in
            guard let base = bytes.bindMemory(to: UInt8.self).baseAddress else {
                return Int32(FOVEA_PNG_NOT_PNG)
            }
            return fovea_png_decode(base, bytes.count, &out, &message, message.count)
        }
        defer { fovea_png_free(out.data) }
        let text = String(cString: message)
        guard status == FOVEA_PNG_OK, let data = out.data else {
            throw error(status: status, message: text.isEmpty ? "empty file" : text, name: name, decoding: true)
        }
        let bytes = [UInt8](UnsafeBufferPointer(start: data, count: out.size))
        return Raw(width: Int(out.width), height: Int(out.height), channels: Int(out.channels),
                   depth: Int(out.bit_depth), bytes: bytes)
    }

    private static func encodeRaw(_ bytes: UnsafeRawBufferPointer, width: Int, height: Int,
                                  channels: Int, depth: Int, name: String) throws -> Data {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max),
              let base = bytes.bindMemory(to: UInt8.self).baseAddress else {
            throw ImageError.writeFailed(path: name, reason: "cannot encode an empty \(width)x\(height) image")
        }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = fovea_png_encode(base, Int32(width), Int32(height), Int32(channels), Int32(depth),
                                      &out, &size, &message, message.count)
        defer { fovea_png_free(out) }
        guard status == FOVEA_PNG_OK, let out else {
            throw error(status: status, message: String(cString: message), name: name, decoding: false)
        }
        return Data(bytes: out, count: size)
    }

    private static func error(status: Int32, message: String, name: String, decoding: Bool) -> ImageError {
        if !decoding { return .writeFailed(path: name, reason: "PNG encoder: \(message)") }
        switch Int(status) {
        case Int(FOVEA_PNG_NOT_PNG): return .notAnImage(path: name, reason: message)
        case Int(FOVEA_PNG_UNSUPPORTED): return .unsupported(path: name, reason: "PNG: \(message)")
        case Int(FOVEA_PNG_TOO_LARGE): return .unsupported(path: name, reason: "PNG: \(message)")
        default: return .corrupt(path: name, reason: "PNG: \(message)")
        }
    }

    /// Gray+alpha (2 channels) becomes RGBA; other layouts pass through.
    private static func expandGrayAlpha<Sample: FixedWidthInteger, Result>(
        width: Int, height: Int, channels: Int, _ samples: [Sample], opaque: Sample,
        make: (Int, Int, Int, [Sample]) -> Result
    ) -> Result {
        guard channels == 2 else { return make(width, height, channels, samples) }
        var rgba = [Sample](repeating: opaque, count: width * height * 4)
        for i in 0..<(width * height) {
            let v = samples[2 * i]
            rgba[4 * i] = v; rgba[4 * i + 1] = v; rgba[4 * i + 2] = v
            rgba[4 * i + 3] = samples[2 * i + 1]
        }
        return make(width, height, 4, rgba)
    }
}
