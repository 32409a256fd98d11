import ArgumentParser
import Fovea
import FoveaIO
import FoveaSynthesis
import FoveaTensor
import Foundation

struct Spectrum: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The average magnitude spectrum of photos: MACO's fixed magnitude (--param maco).",
        discussion: """
        Each photo's centre square is resized to --size, taken into the decorrelated colour \
        space of --decorrelate (M^-1 rgb, M Lucid's colour matrix), and its per-channel \
        magnitude spectrum |rfft2| (ortho) is averaged, written as float32 .npy [3, S, S/2+1]. \
        Fovea ships the one made from the set-up's photos:

          fovea spectrum ~/.cache/fovea/photos/* -o Sources/FoveaSynthesis/Resources/maco-spectrum.npy
        """
    )

    @Argument(help: "Photos (PNG or JPEG).")
    var images: [String]

    @Option(name: .long, help: "Side of the square each photo is resized to.")
    var size = 128

    @Option(name: [.short, .customLong("output")], help: "Output .npy file.")
    var output: String

    func run() throws {
        guard !images.isEmpty else { throw FoveaError("give at least one photo") }
        guard (8...1024).contains(size) else { throw FoveaError("--size \(size): must be between 8 and 1024") }
        let tensors = try images.map { path -> Tensor in
            let photo = try Fovea.loadImage(path).rgb()
            let side = min(photo.width, photo.height)
            let square = photo.cropped(x: (photo.width - side) / 2, y: (photo.height - side) / 2, width: side, height: side)
            let rgb = square.resized(width: size, height: size).toTensor(scale: 1 / 255)
            return ColorDecorrelation.remove(rgb).reshaped([3, size, size])
        }
        let spectrum = MagnitudeSpectrum.average(of: tensors)
        try NPY.write(spectrum.values, to: URL(fileURLWithPath: output))
        print("\(images.count) photos, \(size)x\(size): magnitude spectrum \(spectrum.values.shape) -> \(output)")
    }
}
