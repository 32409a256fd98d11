import Foundation

/// Reuse of work that depends only on a layer's weights across the passes of a block in which
/// no weight changes. A technique runs one frozen model many times (Integrated Gradients 50
/// passes, an occlusion sweep hundreds, feature visualisation and style transfer hundreds of
/// steps); the reused work is the Winograd filter transform U = G g G^T, which for a
/// 512x512 3x3 layer moves 26 MB and took as long as the layer's products (ResNet-18 layer4:
/// 1.43 ms by im2col, 0.71 ms by Winograd with U ready), and oneDNN's copy of the weights in
/// its own blocked layout (``OneDNN/preferredWithPreparedWeights(_:_:)``).
///
/// Inside ``run(_:)`` no weight may change in place: a changed weight would keep its old
/// transform. A nested ``run(_:)`` shares the enclosing cache; ``suspend(_:)`` turns reuse off
/// for code that edits weights (the sanity check's randomised layers), and a ``run(_:)``
/// inside it starts a cache of its own. Every technique runs inside one (attribution,
/// faithfulness, attacks, top patches, embeddings).
public enum FrozenWeights {
    @TaskLocal static var cache: FilterTileCache?

    /// `body` with transforms of the weights it uses kept until it (or the enclosing block)
    /// returns.
    public static func run<T>(_ body: () throws -> T) rethrows -> T {
        if cache != nil { return try body() }
        return try $cache.withValue(FilterTileCache(), operation: body)
    }

    /// `body` without reuse (weights may change inside).
    public static func suspend<T>(_ body: () throws -> T) rethrows -> T {
        try $cache.withValue(nil, operation: body)
    }

    /// Whether passes here reuse weight transforms.
    public static var isActive: Bool { cache != nil }
}

/// Transformed filters by weight storage (and, for oneDNN, by the plan whose layout they are
/// in and whether they are the adjoint's flipped filters: a same-size layer's adjoint runs on
/// the forward pass's plan); each entry holds its storage, so an identifier is never reused by
/// another tensor while the cache lives.
final class FilterTileCache: @unchecked Sendable {
    private struct Key: Hashable {
        let weights: ObjectIdentifier
        let plan: Int   // 0: the in-house Winograd tiles
        let flipped: Bool
    }
    private var entries: [Key: (weights: Storage, shape: [Int], tiles: Tensor)] = [:]
    private let lock = NSLock()

    /// The tiles of weight `w` (of this shape) for `plan`, made by `make` on first use.
    func tiles(for w: Tensor, plan: Int = 0, flipped: Bool = false, make: () -> Tensor) -> Tensor {
        let key = Key(weights: ObjectIdentifier(w.storage), plan: plan, flipped: flipped)
        if let hit = lock.withLock({ entries[key] }), hit.shape == w.shape { return hit.tiles }
        let tiles = make()
        lock.withLock { entries[key] = (w.storage, w.shape, tiles) }
        return tiles
    }
}
