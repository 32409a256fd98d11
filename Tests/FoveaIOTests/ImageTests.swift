import Foundation
import FoveaTensor
import Testing

@testable import FoveaIO

// MARK: - Helpers

private func fixtureURL(_ name: String, _ ext: String) throws -> URL {
    try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"),
                 "missing fixture \(name).\(ext)")
}

private func fixture(_ name: String, _ ext: String = "png") throws -> Image {
    try Image.load(path: fixtureURL(name, ext).path)
}

/// A fresh empty directory under the system temporary directory.
private func scratchDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("fovea-image-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Deterministic test pattern: gradients plus a small hash so neighbouring pixels differ.
private func pattern(width: Int, height: Int, channels: Int) -> Image {
    var pixels = [UInt8](repeating: 0, count: width * height * channels)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<channels {
                let v = (x * 7 + y * 3 + c * 50 + (x * y * 31 + c * 17) % 23) % 256
                pixels[(y * width + x) * channels + c] = UInt8(v)
            }
        }
    }
    return Image(width: width, height: height, channels: channels, pixels: pixels)
}

private func maxAbsDifference(_ a: Image, _ b: Image) -> Int {
    zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
}

private func expectError(_ body: () throws -> Void, matches: (ImageError) -> Bool,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected an ImageError", sourceLocation: sourceLocation)
    } catch let error as ImageError {
        #expect(matches(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected ImageError, got \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - PNG

@Test func pngRoundTripEightBit() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for channels in [1, 3, 4] {
        let image = pattern(width: 37, height: 21, channels: channels)
        let path = "\(dir)/rt\(channels).png"
        try image.save(path: path)
        #expect(try Image.load(path: path) == image)
    }
}

@Test func pngRoundTripSixteenBit() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for channels in [1, 3, 4] {
        let count = 19 * 11 * channels
        let samples = (0..<count).map { UInt16(truncatingIfNeeded: $0 &* 40503 &+ 977) }
        let deep = Image16(width: 19, height: 11, channels: channels, pixels: samples)
        let path = "\(dir)/deep\(channels).png"
        try deep.save(path: path)
        #expect(try Image16.load(path: path) == deep)
        // 8-bit read of the same file rounds: (v + 128) / 257
        let narrow = try Image.load(path: path)
        #expect(narrow == deep.to8Bit())
        #expect(narrow.pixels[0] == UInt8((UInt32(samples[0]) + 128) / 257))
    }
    #expect(Image16(pattern(width: 4, height: 3, channels: 3)).to8Bit() == pattern(width: 4, height: 3, channels: 3))
}

@Test func pngDecodesPaletteGrayAlphaAndOneBit() throws {
    #expect(try fixture("format_palette") == fixture("format_palette_expected"))
    #expect(try fixture("format_palette").channels == 4)
    #expect(try fixture("format_la") == fixture("format_la_expected"))
    let bits = try fixture("format_1bit")
    #expect(bits == (try fixture("format_1bit_expected")))
    #expect(bits.channels == 1 && Set(bits.pixels).isSubset(of: [0, 255]))
}

@Test func pngReadsSixteenBitGrayWrittenByPIL() throws {
    let path = try fixtureURL("format_gray16", "png").path
    let values: [UInt16] = [0, 1, 258, 65535, 300, 4000, 50000, 7]
    #expect(try Image16.load(path: path) == Image16(width: 4, height: 2, channels: 1, pixels: values))
    #expect(try Image.load(path: path).pixels == [0, 0, 1, 255, 1, 16, 195, 0])  // (v + 128) / 257
}

// MARK: - JPEG

@Test func jpegRoundTripWithinTolerance() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // smooth content: JPEG is lossy, so compare loosely
    var smooth = Image(width: 64, height: 48, channels: 3)
    for y in 0..<48 {
        for x in 0..<64 {
            smooth[x: x, y: y, c: 0] = UInt8(x * 4)
            smooth[x: x, y: y, c: 1] = UInt8(y * 5)
            smooth[x: x, y: y, c: 2] = UInt8(128 + (x - y) / 2)
        }
    }
    for image in [smooth, smooth.grayscale()] {
        let path = "\(dir)/rt\(image.channels).jpg"
        try image.save(path: path, quality: 95)
        let back = try Image.load(path: path)
        #expect(back.width == 64 && back.height == 48 && back.channels == image.channels)
        let diffs = zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }
        #expect(diffs.max()! <= 12)
        #expect(Double(diffs.reduce(0, +)) / Double(diffs.count) < 1.5)
    }
    // lower quality makes a smaller file; RGBA is written without alpha
    let rgba = pattern(width: 32, height: 32, channels: 4)
    #expect(try JPEG.encode(rgba, quality: 20).count < JPEG.encode(rgba, quality: 95).count)
    #expect(try JPEG.decode(JPEG.encode(rgba)).channels == 3)
}

@Test func jpegDecodesGrayAndProgressive() throws {
    let gray = try fixture("format_gray", "jpg")
    #expect(gray.channels == 1 && gray.width == 24 && gray.height == 16)
    let progressive = try fixture("format_progressive", "jpg")
    #expect(progressive.channels == 3 && progressive.width == 24)
    // the progressive file holds (g, mirrored g, g): red and blue planes agree closely
    let rb = stride(from: 0, to: progressive.pixels.count, by: 3).map {
        abs(Int(progressive.pixels[$0]) - Int(progressive.pixels[$0 + 2]))
    }
    #expect(rb.max()! <= 8)
}

// MARK: - Bad input

@Test func badFilesThrowClearErrors() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func write(_ bytes: [UInt8], _ name: String) -> String {
        let path = "\(dir)/\(name)"
        precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
        return path
    }
    let png = [UInt8](try PNG.encode(pattern(width: 40, height: 30, channels: 3)))
    let jpeg = [UInt8](try JPEG.encode(pattern(width: 40, height: 30, channels: 3)))

    let missing = "\(dir)/nope.png"
    expectError({ _ = try Image.load(path: missing) }) { $0 == .fileNotFound(path: missing) }
    #expect(ImageError.fileNotFound(path: missing).description == "\(missing): file not found")
    expectError({ _ = try Image.load(path: dir) }) { if case .readFailed = $0 { true } else { false } }
    expectError({ _ = try Image.load(path: write([], "empty.png")) }) {
        if case .notAnImage = $0 { true } else { false }
    }
    expectError({ _ = try Image.load(path: write(Array("hello, not an image".utf8), "text.png")) }) {
        if case .notAnImage = $0 { true } else { false }
    }
    expectError({ _ = try Image.load(path: write(Array("GIF89a....".utf8), "anim.gif")) }) {
        if case .unsupported = $0 { true } else { false }
    }
    // truncation at many points, in both formats, must throw (never crash, never succeed)
    for cut in [5, 8, 20, 33, png.count / 2, png.count - 13, png.count - 1] {
        let path = write(Array(png.prefix(cut)), "cut\(cut).png")
        expectError({ _ = try Image.load(path: path) }) {
            if case .corrupt(let p, _) = $0 { p == path } else { false }
        }
    }
    for cut in [3, 10, 100, jpeg.count / 2, jpeg.count - 40, jpeg.count - 2] {
        let path = write(Array(jpeg.prefix(cut)), "cut\(cut).jpg")
        expectError({ _ = try Image.load(path: path) }) {
            if case .corrupt(let p, _) = $0 { p == path } else { false }
        }
    }
    // flipped bytes inside the image data fail the chunk CRC
    var damaged = png
    for i in stride(from: 60, to: damaged.count - 20, by: 37) { damaged[i] ^= 0x5A }
    expectError({ _ = try Image.load(path: write(damaged, "damaged.png")) }) {
        if case .corrupt = $0 { true } else { false }
    }
    // a JPEG header followed by garbage
    let garbage = write([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0x42, count: 200), "garbage.jpg")
    expectError({ _ = try Image.load(path: garbage) }) { if case .corrupt = $0 { true } else { false } }
    // CMYK JPEG is rejected with a message that says so
    let cmyk = try fixtureURL("format_cmyk", "jpg").path
    expectError({ _ = try Image.load(path: cmyk) }) {
        $0.description.contains("CMYK") && $0.description.hasPrefix(cmyk)
    }
    // writing: unknown extension, missing directory
    let image = pattern(width: 4, height: 4, channels: 3)
    expectError({ try image.save(path: "\(dir)/x.bmp") }) { if case .unsupported = $0 { true } else { false } }
    expectError({ try image.save(path: "\(dir)/no/such/dir/x.png") }) {
        if case .writeFailed = $0 { true } else { false }
    }
}

/// Small xorshift generator so the mutation test is reproducible.
private struct XorShift: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return state
    }
}

@Test func mutatedFilesNeverCrash() throws {
    var rng = XorShift(state: 0x9E37_79B9_7F4A_7C15)
    var noisy = Image(width: 30, height: 20, channels: 3)
    for i in 0..<noisy.pixels.count { noisy.pixels[i] = UInt8.random(in: 0...255, using: &rng) }
    let seeds: [[UInt8]] = [
        [UInt8](try PNG.encode(noisy)), [UInt8](try PNG.encode(Image16(noisy.grayscale()))),
        [UInt8](try JPEG.encode(noisy)), [UInt8](try JPEG.encode(noisy.grayscale(), quality: 40)),
        [UInt8](try Data(contentsOf: fixtureURL("format_progressive", "jpg"))),
        [UInt8](try Data(contentsOf: fixtureURL("format_palette", "png"))),
    ]
    for seed in seeds {
        for _ in 0..<250 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng))) }
            // Either outcome is fine (some mutations hit ignorable bytes); only ImageError may escape.
            do {
                let image = try Image.decode(Data(bytes))
                #expect(image.pixels.count == image.width * image.height * image.channels)
            } catch is ImageError {}
        }
    }
}

@Test func formatIsChosenByMagicBytesNotExtension() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let image = pattern(width: 9, height: 7, channels: 3)
    let path = "\(dir)/actually-png.jpg"
    try PNG.encode(image).write(to: URL(fileURLWithPath: path))
    #expect(try Image.load(path: path) == image)
}

// MARK: - Resize against PIL

@Test(arguments: [
    ("rgb", "bicubic", 23, 17), ("rgb", "bilinear", 23, 17),
    ("rgb", "bicubic", 72, 55), ("rgb", "bilinear", 72, 55),
    ("rgb", "bicubic", 29, 71), ("rgb", "bilinear", 29, 71),
    ("rgb", "bicubic", 61, 20), ("rgb", "nearest", 37, 53),
    ("rgba", "bicubic", 23, 17), ("rgba", "bilinear", 72, 55),
])
func resizeMatchesPIL(source: String, filter: String, width: Int, height: Int) throws {
    let input = try fixture("resize_src_\(source)")
    let expected = try fixture("resize_\(source)_\(filter)_\(width)x\(height)")
    let kind: ResampleFilter = filter == "bicubic" ? .bicubic : filter == "bilinear" ? .bilinear : .nearest
    let output = input.resized(width: width, height: height, filter: kind)
    #expect(output.width == expected.width && output.height == expected.height)
    #expect(output.channels == expected.channels)
    #expect(maxAbsDifference(output, expected) == 0)
}

@Test func cropRules() {
    let image = pattern(width: 10, height: 8, channels: 3)
    let crop = image.cropped(x: 2, y: 3, width: 4, height: 2)
    #expect(crop.width == 4 && crop.height == 2)
    #expect(crop[x: 0, y: 0, c: 1] == image[x: 2, y: 3, c: 1])
    #expect(crop[x: 3, y: 1, c: 2] == image[x: 5, y: 4, c: 2])
    // outside the image is zero-filled
    let outside = image.cropped(x: -2, y: -1, width: 4, height: 3)
    #expect(outside[x: 0, y: 0, c: 0] == 0 && outside[x: 2, y: 1, c: 0] == image[x: 0, y: 0, c: 0])
    // torchvision CenterCrop: top = round((8 - 5) / 2) = round(1.5) = 2, left = round(0.5) = 0
    let centre = image.centerCropped(width: 9, height: 5)
    #expect(centre == image.cropped(x: 0, y: 2, width: 9, height: 5))
    #expect(image.resized(width: 10, height: 8) == image)
}

// MARK: - Tensors

@Test func tensorConversionRoundTrips() {
    let image = pattern(width: 5, height: 4, channels: 3)
    let tensor = image.toTensor(mean: Image.imageNetMean, std: Image.imageNetStd, scale: 1 / 255)
    #expect(tensor.shape == [1, 3, 4, 5])
    // torchvision: (p / 255 - mean) / std in Float32, bit for bit
    let p = Float(image[x: 3, y: 2, c: 1])
    #expect(tensor.scalars[1 * 20 + 2 * 5 + 3] == (p / 255 - 0.456) / 0.224)
    #expect(Image(tensor: tensor, mean: Image.imageNetMean, std: Image.imageNetStd, scale: 1 / 255) == image)

    let tf = image.toTensor(mean: [127], std: [128])
    #expect(tf.scalars[0] == (Float(image[x: 0, y: 0, c: 0]) - 127) / 128)
    #expect(Image(tensor: tf, mean: [127], std: [128]) == image)
    // gray input is replicated; out-of-range values clamp on the way back
    #expect(pattern(width: 3, height: 2, channels: 1).toTensor().shape == [1, 3, 2, 3])
    let wild = Tensor(shape: [2, 2], values: [-5, 300, 127.6, .nan])
    #expect(Image(tensor: wild).pixels == [0, 255, 128, 0])
}

@Test func floatMapBilinearMatchesTorchAlignCornersFalse() {
    let map = FloatMap(width: 2, height: 2, values: [0, 1, 2, 3]).resizedBilinear(width: 4, height: 4)
    #expect(map.values == [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
    #expect(FloatMap(width: 3, height: 1, values: [1, 5, 3]).normalized().values == [0, 1, 0.5])
    #expect(FloatMap(width: 2, height: 1, values: [4, 4]).normalized().values == [0, 0])
    #expect(FloatMap(tensor: Tensor(shape: [1, 1, 2, 3], values: [1, 2, 3, 4, 5, 6])).width == 3)
}

// MARK: - Colour maps, overlays, drawing

@Test func colormapsHaveKnownEndpoints() {
    #expect(Colormap.viridis.color(at: 0) == [68, 1, 84])
    #expect(Colormap.viridis.color(at: 1) == [253, 231, 37])
    #expect(Colormap.viridis.color(at: 0.5) == [33, 145, 140])   // table index 128 (#21918c)
    #expect(Colormap.jet.color(at: 0) == [0, 0, 128])
    #expect(Colormap.jet.color(at: 1) == [128, 0, 0])
    #expect(Colormap.gray.color(at: .nan) == [0, 0, 0])
    for map in Colormap.allCases { #expect(map.table.count == 768) }
    // turbo: dark blue start, green middle, dark red end
    let (start, mid, end) = (Colormap.turbo.color(at: 0), Colormap.turbo.color(at: 0.5), Colormap.turbo.color(at: 1))
    #expect(start == [48, 18, 59] && mid == [164, 252, 60] && end == [122, 4, 3])
    #expect(mid[1] > mid[0] && mid[1] > mid[2])
    let bar = Colormap.viridis.bar(width: 3, height: 10, vertical: true)
    #expect(Array(bar.pixels.suffix(3)) == [68, 1, 84])
}

@Test func overlayBlendsResizedHeatmap() {
    let image = Image(width: 8, height: 6, channels: 1, color: [100])
    let heat = FloatMap(width: 2, height: 2, values: [0, 1, 1, 0])
    #expect(image.overlaying(heatmap: heat, alpha: 0) == image.rgb())
    let full = image.overlaying(heatmap: heat, colormap: .gray, alpha: 1)
    #expect(full.channels == 3 && full[x: 0, y: 0, c: 0] == 0 && full[x: 7, y: 0, c: 0] == 255)
    let half = image.overlaying(heatmap: heat, colormap: .gray, alpha: 0.5, range: 0...2)
    #expect(half[x: 0, y: 0, c: 0] == 50)
}

@Test func gridAndText() {
    let a = Image(width: 4, height: 3, channels: 3, color: [255, 0, 0])
    let b = Image(width: 2, height: 2, channels: 1, color: [7])
    let grid = Image.grid([a, b, a], columns: 2, padding: 1, background: [9, 9, 9])
    #expect(grid.width == 2 * 4 + 3 && grid.height == 2 * 3 + 3)
    #expect(grid[x: 0, y: 0, c: 0] == 9 && Array(grid.pixels[((1 * grid.width) + 1) * 3..<((1 * grid.width) + 1) * 3 + 3]) == [255, 0, 0])
    // b (2x2) sits centred in the second 4x3 cell: x = 1 + 5 + 1 = 7, y = 1 + 0 = 1
    #expect(grid[x: 6, y: 1, c: 0] == 9 && grid[x: 7, y: 1, c: 1] == 7 && grid[x: 8, y: 2, c: 2] == 7)
    #expect(grid[x: 7, y: 3, c: 0] == 9)

    // Text through Pango: dark antialiased ink inside the measured box, descenders below the baseline.
    var canvas = Image(width: 60, height: 20, channels: 3, color: [255, 255, 255])
    canvas.drawText("Hi!", x: 1, y: 1, color: [0, 0, 0])
    let box = Image.textSize("Hi!")
    #expect(box.width > 8 && box.width < 30 && box.height >= 7 && box.height <= 12, "\(box)")
    var ink: [(Int, Int)] = []
    for y in 0..<canvas.height { for x in 0..<canvas.width where canvas[x: x, y: y, c: 0] < 128 { ink.append((x, y)) } }
    #expect(ink.count > 10)
    #expect(ink.allSatisfy { $0.0 >= 1 && $0.0 < 1 + box.width && $0.1 >= 1 && $0.1 < 1 + box.height })
    #expect(ink.contains { canvas[x: $0.0, y: $0.1, c: 0] < 60 } && (0..<canvas.width * canvas.height).contains { i in
        (1...254).contains(canvas.pixels[i * 3]) })                                  // solid and antialiased pixels
    func lowestInk(_ text: String) -> Int {
        var image = Image(width: 30, height: 20, channels: 1, color: [255])
        image.drawText(text, x: 0, y: 0, color: [0], scale: 1)
        return (0..<20).last { y in (0..<30).contains { image[x: $0, y: y, c: 0] < 128 } } ?? -1
    }
    #expect(lowestInk("g") > lowestInk("a"), "g has a descender")
    let two = Image.textSize("ab\nc", scale: 2), one = Image.textSize("ab", scale: 2)
    #expect(two.height > one.height * 3 / 2 && one.height > Image.textSize("ab").height * 3 / 2)
    var tiny = Image(width: 3, height: 3, channels: 1)
    tiny.drawText("W~\u{1F600} Ä", x: -2, y: -3, color: [255], scale: 3)  // clipped; any Unicode
}

/// Text fitted to a width: whole when it fits; else the longest prefix that fits with an ellipsis.
@Test func textIsFittedToAWidth() {
    #expect(Image.fitting("cat", width: 200) == "cat")
    let long = "Egyptian cat, a very long label with many synonyms"
    for scale in [1, 2] {
        let width = 120
        let fitted = Image.fitting(long, width: width, scale: scale)
        #expect(fitted.hasSuffix("…") && Image.textSize(fitted, scale: scale).width <= width, "\(fitted)")
        let kept = fitted.dropLast().count
        #expect(long.hasPrefix(String(fitted.dropLast())))
        #expect(Image.textSize(String(long.prefix(kept + 1)) + "…", scale: scale).width > width, "one more character would not fit")
    }
    #expect(Image.fitting("WWWW", width: 1) == "")
}
