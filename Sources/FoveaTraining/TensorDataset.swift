import Fovea
import FoveaModels
import FoveaTensor

/// A whole dataset held in memory as model inputs [N, C, H, W] with labels: small datasets
/// (Fashion-MNIST is 70k x 28 x 28) are cheaper to preprocess once than every epoch.
public struct TensorDataset: @unchecked Sendable {
    public let inputs: Tensor
    public let labels: [Int]

    public init(inputs: Tensor, labels: [Int]) {
        precondition(inputs.rank >= 1 && inputs.shape[0] == labels.count, "TensorDataset: \(inputs.shape) inputs for \(labels.count) labels")
        self.inputs = inputs
        self.labels = labels
    }

    /// Every image of a labelled dataset, cropped and normalised as `preprocessing` says.
    public init(_ dataset: any ImageDataset, preprocessing: Preprocessing, progress: ((Int, Int) -> Void)? = nil) throws {
        guard let labels = dataset.labels else { throw FoveaError("\(dataset.name(at: 0)): the dataset has no labels to train on") }
        guard dataset.count > 0 else { throw FoveaError("the dataset is empty") }
        let (c, s) = (preprocessing.channels, preprocessing.inputSize)
        let size = c * s * s
        let inputs = try Tensor(overwriting: [dataset.count, c, s, s]) { out in
            for i in 0..<dataset.count {
                let x = preprocessing.normalize(preprocessing.crop(try dataset.image(at: i), mode: .center))
                for j in 0..<size { out[i * size + j] = x.buffer[j] }
                if i % 1000 == 999 || i == dataset.count - 1 { progress?(i + 1, dataset.count) }
            }
        }
        self.init(inputs: inputs, labels: labels)
    }

    public var count: Int { labels.count }

    /// The rows `indices` as a batch and their labels.
    public func batch(_ indices: some Collection<Int>) -> (inputs: Tensor, labels: [Int]) {
        let size = inputs.count / max(count, 1)
        var shape = inputs.shape
        shape[0] = indices.count
        let x = Tensor(overwriting: shape) { out in
            for (row, i) in indices.enumerated() {
                (out.baseAddress! + row * size).update(from: inputs.buffer.baseAddress! + i * size, count: size)
            }
        }
        return (x, indices.map { labels[$0] })
    }
}
