import ArgumentParser
import Fovea
import FoveaIO
import FoveaSynthesis
import FoveaTensor
import Foundation

/// Options shared by the image-synthesis commands.
struct SynthesisOptions: ParsableArguments {
    @Option(name: .long, help: "Optimisation steps.")
    var steps: Int?

    @Option(name: .long, help: "Learning rate (Adam and SGD; L-BFGS: the first trial step).")
    var lr: Float?

    @Option(name: .long, help: "adam, lbfgs or sgd.")
    var optimizer: OptimizerKind = .adam

    @Option(name: .long, help: "Seed of the initialisation and the random transforms: the same seed gives the same image, bit for bit.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Print a JSON report instead of text.")
    var json = false

    @Option(name: [.short, .customLong("output")], help: "Output image (.png or .jpg).")
    var output: String

    /// Fails unless `output` can be written (before any work, so a bad path leaves no file).
    func checkOutput() throws {
        try checkWritable(output, flag: "-o")
    }
}

/// `path` with `-suffix` before its extension: ("fig.svg", "explain") -> "fig-explain.svg".
func siblingPath(_ path: String, suffix: String) -> String {
    let url = URL(fileURLWithPath: path)
    return url.deletingPathExtension().path + "-" + suffix + "." + url.pathExtension
}

/// Throws one line unless a file with one of `extensions` (nil: any) can be written at `path`.
/// Commands call it for every output before they write anything, so a bad second output never
/// leaves the first behind.
func checkWritable(_ path: String, flag: String, extensions: [String]? = Image.savedExtensions) throws {
    let ext = (path as NSString).pathExtension.lowercased()
    if let extensions, !extensions.contains(ext) {
        throw FoveaError("\(flag) \(path): use a \(extensions.map { "." + $0 }.joined(separator: " or ")) file name")
    }
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        throw FoveaError("\(flag) \(path): a folder, not a file")
    }
    let directory = parentFolder(of: path)
    let folder = directory.isEmpty ? "." : directory
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw FoveaError("\(flag) \(path): folder \(folder) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: folder) else { throw FoveaError("\(flag) \(path): folder \(folder) is not writable") }
    if FileManager.default.fileExists(atPath: path) && !FileManager.default.isWritableFile(atPath: path) {
        throw FoveaError("\(flag) \(path): the file is not writable")
    }
}

/// The folder part of `path`: "" for a bare name, "/" for a name at the root. (Foundation's
/// NSString.deletingLastPathComponent traps on one-character paths on Linux: `-o q`.)
func parentFolder(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "" }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// Throws one line unless `path` is, or can be made, a writable folder for a command's files.
func checkOutputFolder(_ path: String, flag: String) throws {
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
        guard isFolder.boolValue else { throw FoveaError("\(flag) \(path): an existing file, not a folder (this option names a folder)") }
        guard FileManager.default.isWritableFile(atPath: path) else { throw FoveaError("\(flag) \(path): the folder is not writable") }
        return
    }
    var parent = parentFolder(of: path)
    while !parent.isEmpty && !FileManager.default.fileExists(atPath: parent) { parent = parentFolder(of: parent) }
    let existing = parent.isEmpty ? "." : parent
    guard FileManager.default.fileExists(atPath: existing, isDirectory: &isFolder), isFolder.boolValue,
          FileManager.default.isWritableFile(atPath: existing) else {
        throw FoveaError("\(flag) \(path): cannot create the folder (\(existing) is not a writable folder)")
    }
}

/// The progress bar of a synthesis run, showing the objective.
func synthesisProgress(_ label: String) -> (SynthesisProgress) -> Void {
    let bar = ProgressBar(label: label)
    return { p in bar.update(p.step, p.steps, status: String(format: "objective %.4g", p.objective)) }
}

/// An image tensor [1, C, H, W] in 0...1 as an Image, upscaled (nearest) to at least `minimum` pixels.
func synthesisImage(_ t: Tensor, minimum: Int = 0) -> Image {
    var image = Image(tensor: t, scale: 1 / 255)
    if minimum > 0 && image.width < minimum {
        let factor = (minimum + image.width - 1) / image.width
        image = image.resized(width: image.width * factor, height: image.height * factor, filter: .nearest)
    }
    return image
}

/// Images side by side with a caption under each.
func captionedGrid(_ images: [Image], captions: [String], columns: Int) -> Image {
    let lineHeight = 12
    let lines = captions.map { $0.split(separator: "\n").count }.max() ?? 1
    let cells = zip(images, captions).map { image, caption -> Image in
        var cell = Image(width: max(image.width, Image.textSize(caption).width + 4), height: image.height + 4 + lines * lineHeight,
                         channels: 3, color: [255, 255, 255])
        cell.paste(image, x: (cell.width - image.width) / 2, y: 0)
        cell.drawText(caption, x: 2, y: image.height + 4)
        return cell
    }
    return Image.grid(cells, columns: columns, padding: 6)
}
