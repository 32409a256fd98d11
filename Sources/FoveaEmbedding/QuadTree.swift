/// A quadtree over 2-D points holding each cell's point count and centre of mass, for
/// Barnes-Hut sums over all points: a cell of side s at distance d from the query point is
/// used as a whole when s / d < theta, else opened.
struct QuadTree {
    // Per node: the square cell (half-width), centre of mass, point count, and the index of
    // its first child (children are consecutive, 4 of them) or -1 for a leaf.
    private(set) var halfWidth: [Float] = []
    private(set) var massX: [Float] = [], massY: [Float] = []
    private(set) var count: [Int32] = []
    private(set) var firstChild: [Int32] = []

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
        reserve(2 * n)
        appendNode()
        build(0, points, &order, &scratch, 0..<n, cx: (minX + maxX) / 2, cy: (minY + maxY) / 2, half: half, depth: 0)
    }

    private mutating func reserve(_ nodes: Int) {
        halfWidth.reserveCapacity(nodes); massX.reserveCapacity(nodes); massY.reserveCapacity(nodes)
        count.reserveCapacity(nodes); firstChild.reserveCapacity(nodes)
    }

    private mutating func appendNode() {
        halfWidth.append(0); massX.append(0); massY.append(0); count.append(0); firstChild.append(-1)
    }

    private mutating func build(_ node: Int, _ points: [Float], _ order: inout [Int32], _ scratch: inout [Int32],
                                _ range: Range<Int>, cx: Float, cy: Float, half: Float, depth: Int) {
        var (sx, sy): (Double, Double) = (0, 0)
        for k in range { sx += Double(points[2 * Int(order[k])]); sy += Double(points[2 * Int(order[k]) + 1]) }
        halfWidth[node] = half
        count[node] = Int32(range.count)
        massX[node] = Float(sx / Double(max(range.count, 1)))
        massY[node] = Float(sy / Double(max(range.count, 1)))
        // A leaf: one point, or points too close to separate (duplicates).
        guard range.count > 1, depth < 48 else { return }
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
        let first = halfWidth.count
        firstChild[node] = Int32(first)
        for _ in 0..<4 { appendNode() }
        let h = half / 2
        for q in 0..<4 {
            let (qx, qy) = (cx + (q & 1 == 1 ? h : -h), cy + (q & 2 == 2 ? h : -h))
            build(first + q, points, &order, &scratch, starts[q]..<(starts[q] + sizes[q]), cx: qx, cy: qy, half: h, depth: depth + 1)
        }
    }

    /// Barnes-Hut sums over every point of the tree, seen from (x, y):
    /// z = sum_j w_j and (fx, fy) = sum_j w_j^2 (x - x_j, y - y_j), w_j = 1 / (1 + |(x, y) - y_j|^2).
    /// A point of the tree at (x, y) itself contributes w = 1 to z and nothing to the force.
    func repulsion(x: Float, y: Float, theta: Float) -> (z: Float, fx: Float, fy: Float) {
        guard !count.isEmpty else { return (0, 0, 0) }
        var (z, fx, fy): (Float, Float, Float) = (0, 0, 0)
        let theta2 = theta * theta
        var stack: [Int32] = [0]
        stack.reserveCapacity(64)
        while let node32 = stack.popLast() {
            let node = Int(node32)
            let c = count[node]
            if c == 0 { continue }
            let (dx, dy) = (x - massX[node], y - massY[node])
            let d2 = dx * dx + dy * dy
            let side = 2 * halfWidth[node]
            if firstChild[node] < 0 || side * side < theta2 * d2 {
                let w = 1 / (1 + d2)
                let cw = Float(c) * w
                z += cw
                fx += cw * w * dx
                fy += cw * w * dy
            } else {
                let f = firstChild[node]
                stack.append(f); stack.append(f + 1); stack.append(f + 2); stack.append(f + 3)
            }
        }
        return (z, fx, fy)
    }
}
