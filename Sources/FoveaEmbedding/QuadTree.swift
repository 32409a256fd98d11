/// A quadtree over 2-D points holding each cell's point count and centre of mass, for
/// Barnes-Hut sums over all points: a cell of side s at distance d from the query point is
/// used as a whole when s / d < theta, else opened.
struct QuadTree {
    /// A square cell: centre of mass, half-width, point count, and the index of its first
    /// child (children are consecutive, 4 of them) or -1 for a leaf.
    struct Node {
        var massX: Float = 0, massY: Float = 0, half: Float = 0
        var count: Int32 = 0
        var firstChild: Int32 = -1
    }
    private(set) var nodes: [Node] = []
    /// Depth limit: points closer than 2^-maxDepth of the extent share a leaf (duplicates).
    static let maxDepth = 48
    /// Stack slots a traversal needs: at most 3 pending siblings per level, plus 4.
    static let stackCapacity = 3 * maxDepth + 8

    /// Builds the tree of points (x_i, y_i) = (points[2i], points[2i + 1]).
    init(_ points: [Float]) {
        let n = points.count / 2
        guard n > 0 else { return }
        var (minX, maxX, minY, maxY) = (Float.infinity, -Float.infinity, Float.infinity, -Float.infinity)
        for i in 0..<n {
            minX = min(minX, points[2 * i]); maxX = max(maxX, points[2 * i])
            minY = min(minY, points[2 * i + 1]); maxY = max(maxY, points[2 * i + 1])
        }
        let half = max(maxX - minX, maxY - minY, 1e-6) / 2 * (1 + 1e-4)
        var order = (0..<Int32(n)).map { $0 }
        var scratch = order
        nodes.reserveCapacity(2 * n)
        nodes.append(Node())
        build(0, points, &order, &scratch, 0..<n, cx: (minX + maxX) / 2, cy: (minY + maxY) / 2, half: half, depth: 0)
    }

    private mutating func build(_ node: Int, _ points: [Float], _ order: inout [Int32], _ scratch: inout [Int32],
                                _ range: Range<Int>, cx: Float, cy: Float, half: Float, depth: Int) {
        var (sx, sy): (Double, Double) = (0, 0)
        for k in range { sx += Double(points[2 * Int(order[k])]); sy += Double(points[2 * Int(order[k]) + 1]) }
        nodes[node].half = half
        nodes[node].count = Int32(range.count)
        nodes[node].massX = Float(sx / Double(max(range.count, 1)))
        nodes[node].massY = Float(sy / Double(max(range.count, 1)))
        // A leaf: one point, or points too close to separate (duplicates).
        guard range.count > 1, depth < Self.maxDepth else { return }
        // Counting sort of the range into quadrants 0 (x < cx, y < cy), 1 (x >= cx, y < cy), 2, 3.
        func quadrant(_ k: Int) -> Int {
            let i = Int(order[k])
            return (points[2 * i] >= cx ? 1 : 0) + (points[2 * i + 1] >= cy ? 2 : 0)
        }
        var sizes = [0, 0, 0, 0]
        for k in range { sizes[quadrant(k)] += 1 }
        var starts = [range.lowerBound, 0, 0, 0]
        for q in 1..<4 { starts[q] = starts[q - 1] + sizes[q - 1] }
        var next = starts
        for k in range { let q = quadrant(k); scratch[next[q]] = order[k]; next[q] += 1 }
        for k in range { order[k] = scratch[k] }
        let first = nodes.count
        nodes[node].firstChild = Int32(first)
        nodes.append(contentsOf: repeatElement(Node(), count: 4))
        let h = half / 2
        for q in 0..<4 where sizes[q] > 0 {
            let (qx, qy) = (cx + (q & 1 == 1 ? h : -h), cy + (q & 2 == 2 ? h : -h))
            build(first + q, points, &order, &scratch, starts[q]..<(starts[q] + sizes[q]), cx: qx, cy: qy, half: h, depth: depth + 1)
        }
    }

    /// Barnes-Hut sums over every point of the tree, seen from (x, y):
    /// z = sum_j w_j and (fx, fy) = sum_j w_j^2 (x - x_j, y - y_j), w_j = 1 / (1 + |(x, y) - y_j|^2).
    /// A point of the tree at (x, y) itself contributes w = 1 to z and nothing to the force.
    func repulsion(x: Float, y: Float, theta: Float) -> (z: Float, fx: Float, fy: Float) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: Self.stackCapacity) { stack in
            repulsion(x: x, y: y, theta: theta, stack: stack.baseAddress!)
        }
    }

    /// ``repulsion(x:y:theta:)`` with a caller's traversal stack of ``stackCapacity`` slots.
    func repulsion(x: Float, y: Float, theta: Float, stack: UnsafeMutablePointer<Int32>) -> (z: Float, fx: Float, fy: Float) {
        guard !nodes.isEmpty else { return (0, 0, 0) }
        var (z, fx, fy): (Float, Float, Float) = (0, 0, 0)
        let theta2 = theta * theta
        return nodes.withUnsafeBufferPointer { nodes in
            var top = 1
            stack[0] = 0
            while top > 0 {
                top -= 1
                let node = nodes[Int(stack[top])]
                let (dx, dy) = (x - node.massX, y - node.massY)
                let d2 = dx * dx + dy * dy
                let side = 2 * node.half
                if node.firstChild < 0 || side * side < theta2 * d2 {
                    let w = 1 / (1 + d2)
                    let cw = Float(node.count) * w
                    z += cw
                    fx += cw * w * dx
                    fy += cw * w * dy
                } else {
                    // Push the non-empty children.
                    let f = Int(node.firstChild)
                    for c in f..<(f + 4) where nodes[c].count > 0 { stack[top] = Int32(c); top += 1 }
                }
            }
            return (z, fx, fy)
        }
    }
}
