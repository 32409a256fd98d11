import Foundation
import Fovea
import FoveaIO
import FoveaTensor

/// Training photographs for feed-forward style networks: every PNG/JPEG of a folder
/// (recursively, in name order), served as batches of random square crops with random
/// horizontal flips, each photo's shorter side resized to 1.25 x the crop first.
///
/// Photos are read when first drawn, not up front, and kept (resized) while the kept ones take
/// at most `keptBytes`; past that a photo is read again each time it is drawn. The set-up's
/// 368 photos fit at any crop up to 256 (about 150 MB at 256), so a run reads each once; a
/// folder the size of COCO (80k photos, some 33 GB at that size) trains in bounded memory.
/// A photo that cannot be read is left out when first drawn (listed in ``skipped``) and
/// another is drawn in its place; the batch fails only when no readable photo is left.
public final class ContentCrops {
    public let crop: Int
    /// The files given, in order.
    public let files: [String]
    /// Files that could not be read, with the reason, in the order they were found.
    public private(set) var skipped: [(file: String, reason: String)] = []
    /// Indices into `files` of those not known to be unreadable.
    private var usable: [Int]
    private var kept: [Int: Image] = [:]
    private var keptTotal = 0
    private let keptBytes: Int
    private let flag: String

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

    /// Crops of `crop` pixels from `files` (`flag` names the argument in errors), keeping at
    /// most `keptBytes` of resized photos in memory.
    public init(files: [String], crop: Int, flag: String, keptBytes: Int = 256 << 20) throws {
        guard !files.isEmpty else { throw FoveaError("\(flag): no PNG or JPEG images") }
        self.crop = crop
        self.files = files
        self.flag = flag
        self.keptBytes = keptBytes
        usable = Array(files.indices)
    }

    /// Photos not known to be unreadable.
    public var count: Int { usable.count }

    /// Bytes of resized photos held in memory.
    var keptSize: Int { keptTotal }

    /// A batch [B, 3, crop, crop] in 0...1 of random crops of random photos. The draws depend
    /// only on the generator (and on which photos turn out unreadable), not on `keptBytes`.
    public func batch(_ size: Int, using generator: inout SeededGenerator) throws -> Tensor {
        var pieces: [Tensor] = []
        while pieces.count < size {
            guard !usable.isEmpty else {
                throw FoveaError("\(flag): no readable PNG or JPEG images (\(files.count) files tried; first: \(skipped[0].reason))")
            }
            let slot = Int.random(in: 0..<usable.count, using: &generator)
            do {
                pieces.append(sample(try photo(usable[slot]), using: &generator))
            } catch {
                skipped.append((files[usable[slot]], "\(error)"))
                usable.remove(at: slot)
            }
        }
        return Tensor.concat(pieces, axis: 0)
    }

    /// Photo `index` of `files`, shorter side 1.25 x the crop: the kept copy, or read now
    /// (and kept if there is room).
    private func photo(_ index: Int) throws -> Image {
        if let image = kept[index] { return image }
        var image = try Image.load(path: files[index]).rgb()
        let scale = Double(crop) * 1.25 / Double(min(image.width, image.height))
        image = image.resized(width: max(crop, Int((Double(image.width) * scale).rounded())),
                              height: max(crop, Int((Double(image.height) * scale).rounded())))
        if keptTotal + image.pixels.count <= keptBytes {
            kept[index] = image
            keptTotal += image.pixels.count
        }
        return image
    }

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
