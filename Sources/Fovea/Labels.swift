import Foundation

/// Class names of a classifier's outputs.
public struct Labels: Sendable {
    /// Full names per class, e.g. "tabby, tabby cat".
    public let names: [String]

    public init(names: [String]) { self.names = names }

    /// Loads `imagenet1k_label_to_names.json` ({"0": "tench, Tinca tinca", ...}).
    public init(imageNetFile url: URL) throws {
        guard let data = try? Data(contentsOf: url) else {
            throw FoveaError("\(url.path): cannot read the ImageNet label file; run `make demo` to fetch it")
        }
        guard let dict = try? JSONSerialization.jsonObject(with: data) as? [String: String],
              dict.count == 1000,
              let names = Optional((0..<1000).compactMap { dict[String($0)] }), names.count == 1000 else {
            throw FoveaError("\(url.path): not an ImageNet label map ({\"0\": \"tench, ...\", ... \"999\": ...})")
        }
        self.names = names
    }

    /// The first name of a class ("tabby" for "tabby, tabby cat"), or "class N".
    public func short(_ index: Int) -> String {
        guard index >= 0, index < names.count else { return "class \(index)" }
        return names[index].split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? names[index]
    }

    /// Resolves a class given as a class index or a (case-insensitive) label; errors name `flag`.
    public func resolve(_ target: String, flag: String = "--target") throws -> Int {
        if let i = Int(target) {
            guard i >= 0, i < names.count else { throw FoveaError("\(flag) \(target): class index out of range 0..<\(names.count)") }
            return i
        }
        let t = target.lowercased()
        if let i = names.firstIndex(where: { $0.lowercased() == t }) { return i }
        if let i = names.firstIndex(where: { $0.lowercased().split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == t } }) {
            return i
        }
        throw FoveaError("\(flag) \(target): no class with that index or label")
    }
}
