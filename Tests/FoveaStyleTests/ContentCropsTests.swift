import Foundation
import Testing
import Fovea
@testable import FoveaIO
@testable import FoveaStyle
import FoveaTensor
import _FoveaTestSupport

@Suite struct ContentCropsTests {
    /// A folder of `count` 40x30 PNGs, photo i a flat gray of value 10 i, plus `broken` files
    /// with a .png name that are not images.
    static func folder(photos count: Int, broken: Int = 0) throws -> String {
        let dir = Scratch.url("fovea-crops").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for i in 0..<count {
            try Image(width: 40, height: 30, color: [UInt8(10 * i), UInt8(10 * i), UInt8(10 * i)]).save(path: "\(dir)/p\(i).png")
        }
        for i in 0..<broken { try Data("not a png".utf8).write(to: URL(fileURLWithPath: "\(dir)/broken\(i).png")) }
        return dir
    }

    @Test func photosAreReadWhenDrawnAndKeptWithinTheBudget() throws {
        let dir = try Self.folder(photos: 6)
        let files = try ContentCrops.imageFiles(in: dir)
        // Crop 16: shorter side 30 -> 20, so each photo is kept as 27x20x3 = 1,620 bytes.
        let all = try ContentCrops(files: files, crop: 16, flag: "--content")
        #expect(all.keptSize == 0)
        var g = SeededGenerator(seed: 1)
        _ = try all.batch(40, using: &g)
        #expect(all.keptSize == 6 * 1620)
        let two = try ContentCrops(files: files, crop: 16, flag: "--content", keptBytes: 2 * 1620)
        var h = SeededGenerator(seed: 1)
        let fromDisk = try two.batch(40, using: &h)
        #expect(two.keptSize == 2 * 1620)
        // The same draws whether a photo comes from memory or from its file.
        var k = SeededGenerator(seed: 1)
        let again = try ContentCrops(files: files, crop: 16, flag: "--content").batch(40, using: &k)
        #expect(fromDisk.shape == [40, 3, 16, 16] && fromDisk.scalars == again.scalars)
        // Each crop is one flat photo: a multiple of 10/255.
        for b in 0..<40 {
            let v = fromDisk.batchItem(b).scalars
            #expect(v.allSatisfy { $0 == v[0] } && abs(v[0] * 25.5 - (v[0] * 25.5).rounded()) < 1e-3)
        }
    }

    @Test func unreadableFilesAreLeftOutWhenDrawn() throws {
        let dir = try Self.folder(photos: 2, broken: 3)
        let crops = try ContentCrops(files: try ContentCrops.imageFiles(in: dir), crop: 16, flag: "--content")
        #expect(crops.count == 5)
        var g = SeededGenerator(seed: 3)
        let batch = try crops.batch(30, using: &g)
        #expect(batch.shape == [30, 3, 16, 16])
        #expect(crops.count == 2 && crops.skipped.count == 3)
        #expect(crops.skipped.allSatisfy { $0.file.contains("broken") })
    }

    @Test func aFolderWithNoReadableImageFailsNamingTheFlag() throws {
        let dir = try Self.folder(photos: 0, broken: 2)
        let crops = try ContentCrops(files: try ContentCrops.imageFiles(in: dir), crop: 16, flag: "--styles \(dir)")
        var g = SeededGenerator(seed: 0)
        #expect(throws: FoveaError.self) { _ = try crops.batch(4, using: &g) }
        do {
            _ = try crops.batch(4, using: &g)
        } catch {
            #expect("\(error)".hasPrefix("--styles \(dir): no readable PNG or JPEG images (2 files tried"))
        }
        #expect(throws: FoveaError.self) { _ = try ContentCrops(files: [], crop: 16, flag: "--content") }
    }
}
