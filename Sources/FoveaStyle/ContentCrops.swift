import Foundation
import Fovea
import FoveaIO
import FoveaTensor

/// Training photographs for feed-forward style networks: every readable PNG/JPEG of a folder
/// (recursively, in name order), kept in memory with the shorter side resized to 1.25 x the
/// crop, served as batches of random square crops with random horizontal flips.
public final class ContentCrops {
    public let crop: Int
    public let files: [String]
    /// Files that could not be read, with the reason.
    public let skipped: [(file: String, reason: String)]
    private let images: [Image]

    /// The image files of `folder`, sorted by path.
    public static func imageFiles(in folder: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FoveaError("\(folder): not a folder")
        }
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var files: [String] = []
        while let name = enumerator?.nextObject() as? String {
            if ["png", "jpg", "jpeg"].contains((name as NSString).pathExtension.lowercased()) {
                files.append((folder as NSString).appendingPathComponent(name))
            }
        }
        return files.sorted()
    }

    /// `files` loaded for crops of `crop` pixels (`flag` names the argument in errors).
    public init(files: [String], crop: Int, flag: String) throws {
        var images: [Image] = [], kept: [String] = [], skipped: [(String, String)] = []
        for file in files {
            do {
                var image = try Image.load(path: file).rgb()
                let scale = Double(crop) * 1.25 / Double(min(image.width, image.height))
                image = image.resized(width: max(crop, Int((Double(image.width) * scale).rounded())),
                                      height: max(crop, Int((Double(image.height) * scale).rounded())))
                images.append(image)
                kept.append(file)
            } catch {
                skipped.append((file, "\(error)"))
            }
        }
        guard !images.isEmpty else { throw FoveaError("\(flag): no readable PNG or JPEG images (\(files.count) files tried)") }
        self.crop = crop
        self.images = images
        self.files = kept
        self.skipped = skipped
    }

    public var count: Int { images.count }

    /// A batch [B, 3, crop, crop] in 0...1 of random crops of random photos.
    public func batch(_ size: Int, using generator: inout SeededGenerator) -> Tensor {
        Tensor.concat((0..<size).map { _ in sample(images[Int.random(in: 0..<images.count, using: &generator)], using: &generator) }, axis: 0)
    }

    /// The whole photo `index`, its longer side `longSide` (for evaluation).
    public func photo(_ index: Int, longSide: Int) -> Tensor { StyleImages.tensor(of: images[index], longSide: longSide) }

    private func sample(_ image: Image, using generator: inout SeededGenerator) -> Tensor {
        let x = Int.random(in: 0...(image.width - crop), using: &generator)
        let y = Int.random(in: 0...(image.height - crop), using: &generator)
        var piece = image.cropped(x: x, y: y, width: crop, height: crop)
        if Bool.random(using: &generator) {
            var flipped = piece
            for row in 0..<crop {
                for col in 0..<crop {
                    for c in 0..<3 { flipped.pixels[(row * crop + col) * 3 + c] = piece.pixels[(row * crop + crop - 1 - col) * 3 + c] }
                }
            }
            piece = flipped
        }
        return piece.toTensor(scale: 1 / 255)
    }
}
