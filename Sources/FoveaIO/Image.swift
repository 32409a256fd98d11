import Foundation
import FoveaTensor

/// An 8-bit raster image with interleaved channels, row-major HWC:
/// pixel (x, y) channel c lives at `pixels[(y * width + x) * channels + c]`.
/// `channels` is 1 (gray), 3 (RGB) or 4 (RGBA, straight alpha).
public struct Image: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    /// The pixels; writing them directly (not through ``paste(_:x:y:)``, ``fillRect(x:y:width:height:color:)``
    /// or ``drawText(_:x:y:color:scale:)``) drops ``drawing``.
    public var pixels: [UInt8] {
        get { storage }
        set { storage = newValue; drawing = nil }
        _modify { drawing = nil; yield &storage }
    }
    var storage: [UInt8]
    /// The image as the drawing operations that made it: a blank canvas's fill, or the pixels
    /// it had when drawing began, then every paste, rectangle, line and text since; nil for
    /// decoded or computed pixels, and after any direct write to ``pixels``. SVG and PDF output
    /// replays it, so text and shapes stay vector.
    public internal(set) var drawing: [DrawOp]?

    /// Wraps existing pixels; `pixels.count` must be `width * height * channels`.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "image size must be non-negative, got \(width)x\(height)")
        precondition(channels == 1 || channels == 3 || channels == 4,
                     "channels must be 1, 3 or 4, got \(channels)")
        precondition(pixels.count == width * height * channels,
                     "\(width)x\(height)x\(channels) image needs \(width * height * channels) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.channels = channels
        self.storage = pixels
        self.drawing = nil
    }

    /// An image filled with one colour (`color` is adapted to `channels`, see ``Image/adapt(_:to:)``).
    public init(width: Int, height: Int, channels: Int = 3, color: [UInt8] = [0, 0, 0]) {
        precondition(channels == 1 || channels == 3 || channels == 4,
                     "channels must be 1, 3 or 4, got \(channels)")
        let pixel = Image.adapt(color, to: channels)
        var pixels = [UInt8](repeating: 0, count: max(0, width) * max(0, height) * channels)
        for i in stride(from: 0, to: pixels.count, by: channels) {
            for c in 0..<channels { pixels[i + c] = pixel[c] }
        }
        self.init(width: width, height: height, channels: channels, pixels: pixels)
        drawing = [.fill(color: color)]
    }

    /// Equal size, layout and pixels (however they were drawn).
    public static func == (a: Image, b: Image) -> Bool {
        a.width == b.width && a.height == b.height && a.channels == b.channels && a.storage == b.storage
    }

    /// Channel `c` of pixel (x, y).
    public subscript(x x: Int, y y: Int, c c: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }

    /// RGB copy: gray is replicated to three channels, RGBA drops alpha (no blending).
    public func rgb() -> Image {
        switch channels {
        case 3: return self
        case 1:
            var out = [UInt8](repeating: 0, count: width * height * 3)
            for i in 0..<(width * height) {
                let v = pixels[i]
                out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v
            }
            return Image(width: width, height: height, channels: 3, pixels: out)
        default:
            var out = [UInt8](repeating: 0, count: width * height * 3)
            for i in 0..<(width * height) {
                out[3 * i] = pixels[4 * i]; out[3 * i + 1] = pixels[4 * i + 1]; out[3 * i + 2] = pixels[4 * i + 2]
            }
            return Image(width: width, height: height, channels: 3, pixels: out)
        }
    }

    /// Gray copy using PIL's "L" conversion: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16
    /// (ITU-R 601-2 luma in 16-bit fixed point). Alpha is dropped.
    public func grayscale() -> Image {
        if channels == 1 { return self }
        var out = [UInt8](repeating: 0, count: width * height)
        for i in 0..<(width * height) {
            let p = i * channels
            out[i] = Image.luma(pixels[p], pixels[p + 1], pixels[p + 2])
        }
        return Image(width: width, height: height, channels: 1, pixels: out)
    }

    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let weighted: Int = Int(r) * 19595 + Int(g) * 38470 + Int(b) * 7471
        return UInt8((weighted + 0x8000) >> 16)
    }

    /// Adapts a colour given as 1 (gray), 3 (RGB) or 4 (RGBA) values to `channels` values:
    /// gray is replicated, RGB gets alpha 255, colour becomes luma for gray images.
    public static func adapt(_ color: [UInt8], to channels: Int) -> [UInt8] {
        let rgba: [UInt8]
        switch color.count {
        case 0: rgba = [0, 0, 0, 255]
        case 1, 2: rgba = [color[0], color[0], color[0], color.count == 2 ? color[1] : 255]
        case 3: rgba = color + [255]
        default: rgba = Array(color[0..<4])
        }
        switch channels {
        case 1: return color.count == 1 || color.count == 2 ? [color[0]] : [luma(rgba[0], rgba[1], rgba[2])]
        case 3: return Array(rgba[0..<3])
        default: return rgba
        }
    }
}

// MARK: - Tensor conversion

extension Image {
    /// torchvision / ImageNet normalisation constants (for `scale: 1 / 255`).
    public static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imageNetStd: [Float] = [0.229, 0.224, 0.225]

    /// An NCHW tensor of shape [1, 3, H, W] (the image is made RGB first; with `channels: 1`,
    /// [1, 1, H, W] of the grayscale image) with
    /// `value[0, c, y, x] = (pixel * scale - mean[c]) / std[c]`, pixel in 0...255, in Float32.
    /// When `scale` is the Float reciprocal of an integer k (e.g. `1 / 255`) the product is
    /// computed as `pixel / k`, which is bit-identical to torchvision's `ToTensor` + `Normalize`.
    /// `mean` / `std` hold 3 values (or 1, used for every channel).
    /// Examples: EfficientNet (TF) `mean: [127, 127, 127], std: [128, 128, 128]`;
    /// torchvision `mean: Image.imageNetMean, std: Image.imageNetStd, scale: 1 / 255`.
    public func toTensor(mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1], scale: Float = 1,
                         channels: Int = 3) -> Tensor {
        precondition(channels == 1 || channels == 3, "toTensor: channels must be 1 or 3")
        let image = channels == 1 ? grayscale() : rgb()
        let (mean, std) = (Image.perChannel(mean, "mean"), Image.perChannel(std, "std"))
        let divisor = Image.integerReciprocal(scale)
        // One 256-entry table per channel: lut[c * 256 + p] is the normalised value of pixel p.
        var lut = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for p in 0..<256 {
                let scaled = divisor.map { Float(p) / $0 } ?? Float(p) * scale
                lut[c * 256 + p] = (scaled - mean[c]) / std[c]
            }
        }
        let plane = image.width * image.height
        return Tensor(shape: [1, channels, image.height, image.width]) { out in
            image.pixels.withUnsafeBufferPointer { px in
                if channels == 1 {
                    for i in 0..<plane { out[i] = lut[Int(px[i])] }
                    return
                }
                for i in 0..<plane {
                    out[i] = lut[Int(px[3 * i])]
                    out[plane + i] = lut[256 + Int(px[3 * i + 1])]
                    out[2 * plane + i] = lut[512 + Int(px[3 * i + 2])]
                }
            }
        }
    }

    /// Inverse of ``toTensor(mean:std:scale:)`` for saving: `pixel = round((value * std[c] + mean[c]) / scale)`
    /// clamped to 0...255 (NaN becomes 0). Accepts shapes [1, C, H, W], [C, H, W] (C = 1 or 3)
    /// and [H, W]; a single channel gives a gray image and uses `mean[0]`, `std[0]`.
    public init(tensor: Tensor, mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1], scale: Float = 1) {
        var shape = tensor.shape
        if shape.count == 4 {
            precondition(shape[0] == 1, "Image(tensor:) needs batch size 1, got shape \(shape)")
            shape.removeFirst()
        }
        if shape.count == 2 { shape.insert(1, at: 0) }
        precondition(shape.count == 3 && (shape[0] == 1 || shape[0] == 3),
                     "Image(tensor:) needs [1,C,H,W], [C,H,W] or [H,W] with C = 1 or 3, got \(tensor.shape)")
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let (mean, std) = (Image.perChannel(mean, "mean"), Image.perChannel(std, "std"))
        let divisor = Image.integerReciprocal(scale)
        let values = tensor.buffer
        var pixels = [UInt8](repeating: 0, count: c * h * w)
        for ch in 0..<c {
            for i in 0..<(h * w) {
                let v = values[ch * h * w + i] * std[ch] + mean[ch]
                let p = divisor.map { v * $0 } ?? v / scale
                pixels[i * c + ch] = p.isNaN ? 0 : UInt8(min(max(p, 0), 255).rounded())
            }
        }
        self.init(width: w, height: h, channels: c, pixels: pixels)
    }

    private static func perChannel(_ values: [Float], _ name: String) -> [Float] {
        precondition(values.count == 1 || values.count == 3, "\(name) needs 1 or 3 values, got \(values.count)")
        return values.count == 1 ? [values[0], values[0], values[0]] : values
    }

    /// k when `scale == Float(1) / Float(k)` for an integer k > 1, else nil.
    private static func integerReciprocal(_ scale: Float) -> Float? {
        guard scale > 0, scale < 1 else { return nil }
        let k = (1 / scale).rounded()
        return k > 1 && 1 / k == scale ? k : nil
    }
}

// MARK: - Errors and file dispatch

/// A failure to read, decode, encode or write an image. `description` is one line that names
/// the file (or `<memory>`) and the problem.
public enum ImageError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    case readFailed(path: String, reason: String)
    case notAnImage(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case unsupported(path: String, reason: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "\(path): file not found"
        case .readFailed(let path, let reason): return "\(path): cannot read file: \(reason)"
        case .notAnImage(let path, let reason): return "\(path): not a PNG or JPEG image (\(reason))"
        case .corrupt(let path, let reason): return "\(path): corrupt or truncated image data: \(reason)"
        case .unsupported(let path, let reason): return "\(path): unsupported image: \(reason)"
        case .writeFailed(let path, let reason): return "\(path): cannot write image: \(reason)"
        }
    }
}

/// Container formats recognised by their leading bytes.
enum ImageFormat {
    case png, jpeg

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Sniffs magic bytes; throws ``ImageError`` for empty, foreign or unknown data.
    static func detect(_ data: Data, name: String) throws -> ImageFormat {
        let head = [UInt8](data.prefix(12))
        if head.isEmpty { throw ImageError.notAnImage(path: name, reason: "empty file") }
        if head.starts(with: pngSignature) { return .png }
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return .jpeg }
        if head.count < pngSignature.count, pngSignature.starts(with: head) {
            throw ImageError.corrupt(path: name, reason: "PNG signature cut short (\(head.count) bytes)")
        }
        let ascii = String(decoding: head.map { (32...126).contains($0) ? $0 : 46 }, as: UTF8.self)
        let foreign: [(String, String)] = [("GIF8", "GIF"), ("BM", "BMP"), ("II*.", "TIFF"), ("MM.*", "TIFF")]
        for (magic, format) in foreign where ascii.hasPrefix(magic) {
            throw ImageError.unsupported(path: name, reason: "\(format) files are not supported (use PNG or JPEG)")
        }
        if ascii.hasPrefix("RIFF"), ascii.dropFirst(8).hasPrefix("WEBP") {
            throw ImageError.unsupported(path: name, reason: "WebP files are not supported (use PNG or JPEG)")
        }
        throw ImageError.notAnImage(path: name, reason: "unrecognised leading bytes")
    }
}

extension Image {
    /// Reads a PNG or JPEG file, choosing the decoder from the file's magic bytes (not its
    /// extension). PNG gray+alpha becomes RGBA and 16-bit samples round to 8 bits.
    public static func load(path: String) throws -> Image {
        try decode(readImageFile(path), name: path)
    }

    /// Decodes PNG or JPEG bytes; `name` only labels errors.
    public static func decode(_ data: Data, name: String = "<memory>") throws -> Image {
        switch try ImageFormat.detect(data, name: name) {
        case .png: return try PNG.decode(data, name: name)
        case .jpeg: return try JPEG.decode(data, name: name)
        }
    }

    /// The extensions ``save(path:quality:)`` writes.
    public static let savedExtensions = ["png", "jpg", "jpeg", "svg", "pdf"]

    /// Writes the image; the format follows the extension: `.png`, `.jpg` / `.jpeg` (JPEG drops
    /// alpha; `quality` 1...100 applies to JPEG only), or `.svg` / `.pdf`: vector, with
    /// ``drawing`` replayed (text and rectangles as vectors, pasted pixels as embedded images),
    /// or the pixels as one embedded image when there is no drawing.
    public func save(path: String, quality: Int = 95) throws {
        switch (path as NSString).pathExtension.lowercased() {
        case "png": try writeImageFile(PNG.encode(self, name: path), path)
        case "jpg", "jpeg": try writeImageFile(JPEG.encode(self, quality: quality, name: path), path)
        case "svg": try writeImageFile(VectorFigure.encode(self, as: .svg, name: path), path)
        case "pdf": try writeImageFile(VectorFigure.encode(self, as: .pdf, name: path), path)
        default:
            throw ImageError.unsupported(path: path, reason: "cannot tell the format from the extension (use .png, .jpg, .jpeg, .svg or .pdf)")
        }
    }
}

/// Whole-file read with errors mapped to ``ImageError``.
func readImageFile(_ path: String) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ImageError.fileNotFound(path: path)
    }
    if isDirectory.boolValue { throw ImageError.readFailed(path: path, reason: "is a directory") }
    // Empty files are answered here: Foundation's Data(contentsOf:) leaks a buffer on them.
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    if let size = attributes?[.size] as? NSNumber, size.intValue == 0 { return Data() }
    do {
        return try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw ImageError.readFailed(path: path, reason: error.localizedDescription)
    }
}

/// Atomic whole-file write with errors mapped to ``ImageError``.
func writeImageFile(_ data: Data, _ path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    var isDirectory: ObjCBool = false
    if !directory.isEmpty,
       !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
        throw ImageError.writeFailed(path: path, reason: "directory \(directory) does not exist")
    }
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw ImageError.writeFailed(path: path, reason: error.localizedDescription)
    }
}
