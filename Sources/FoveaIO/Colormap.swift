import Foundation

/// Colour maps from a scalar t in 0...1 to RGB, each tabulated as 256 entries.
/// Lookup uses matplotlib's convention: entry = min(floor(t * 256), 255).
public enum Colormap: String, CaseIterable, Sendable {
    /// matplotlib's perceptually uniform default (dark purple -> yellow).
    case viridis
    /// matplotlib's jet (blue -> cyan -> yellow -> red), piecewise linear.
    case jet
    /// Google's Turbo, an improved rainbow (dark blue -> cyan -> green -> yellow -> dark red).
    case turbo
    /// Black -> white.
    case gray
    /// matplotlib's inferno (black -> purple -> orange -> pale yellow), perceptually uniform.
    case inferno
    /// Moreland's cool-warm diverging map (blue -> light gray -> red), for signed values
    /// centred at 0.
    case coolwarm

    /// Whether the map is meant for signed values around a centre.
    public var isDiverging: Bool { self == .coolwarm }

    /// 256 RGB entries, 768 bytes: table[3 * i + c].
    public var table: [UInt8] {
        switch self {
        case .viridis: return Colormap.viridisTable
        case .jet: return Colormap.jetTable
        case .turbo: return Colormap.turboTable
        case .gray: return Colormap.grayTable
        case .inferno: return Colormap.infernoTable
        case .coolwarm: return Colormap.coolwarmTable
        }
    }

    /// Colour for `t` (clamped to 0...1; NaN maps to 0).
    public func color(at t: Float) -> [UInt8] {
        let i = Colormap.index(t)
        return Array(table[(3 * i)..<(3 * i + 3)])
    }

    static func index(_ t: Float) -> Int {
        guard t > 0 else { return 0 }      // also catches NaN
        return t >= 1 ? 255 : min(Int(t * 256), 255)
    }

    /// An RGB image of `map` coloured after normalising to 0...1 by `range` (default: the
    /// map's own min...max, see ``FloatMap/normalized(range:)``).
    public func apply(_ map: FloatMap, range: ClosedRange<Float>? = nil) -> Image {
        let unit = map.normalized(range: range)
        var pixels = [UInt8](repeating: 0, count: map.width * map.height * 3)
        table.withUnsafeBufferPointer { lut in
            unit.values.withUnsafeBufferPointer { values in
                pixels.withUnsafeMutableBufferPointer { out in
                    for i in 0..<values.count {
                        let k = 3 * Colormap.index(values[i])
                        out[3 * i] = lut[k]; out[3 * i + 1] = lut[k + 1]; out[3 * i + 2] = lut[k + 2]
                    }
                }
            }
        }
        return Image(width: map.width, height: map.height, channels: 3, pixels: pixels)
    }

    /// A colour bar: low values at the left (horizontal) or bottom (vertical); `reversed` puts
    /// the top of the map there instead (for values shown with their sign flipped).
    public func bar(width: Int, height: Int, vertical: Bool = false, reversed: Bool = false) -> Image {
        var image = Image(width: width, height: height, channels: 3)
        let lut = table
        for y in 0..<height {
            for x in 0..<width {
                let position = vertical ? Float(height - 1 - y) / Float(max(height - 1, 1))
                                        : Float(x) / Float(max(width - 1, 1))
                let t = reversed ? 1 - position : position
                let k = 3 * Colormap.index(t)
                for c in 0..<3 { image[x: x, y: y, c: c] = lut[k + c] }
            }
        }
        return image
    }

    // MARK: - Tables

    static let grayTable: [UInt8] = (0..<256).flatMap { [UInt8($0), UInt8($0), UInt8($0)] }

    /// Viridis: every 8th entry of matplotlib's 256-entry viridis table (indices 0, 8, ..., 248,
    /// and 255; CC0 data by van der Walt, Smith and Firing); the rest is linearly interpolated,
    /// which stays within about one 8-bit level of the full table.
    static let viridisKnots: [(Double, Double, Double)] = [
        (0.267004, 0.004874, 0.329415), (0.277018, 0.050344, 0.375715), (0.282327, 0.094955, 0.417331),
        (0.282884, 0.135920, 0.453427), (0.278826, 0.175490, 0.483397), (0.270595, 0.214069, 0.507052),
        (0.258965, 0.251537, 0.524736), (0.244972, 0.287675, 0.537260), (0.229739, 0.322361, 0.545706),
        (0.214298, 0.355619, 0.551184), (0.199430, 0.387607, 0.554642), (0.185556, 0.418570, 0.556753),
        (0.172719, 0.448791, 0.557885), (0.160665, 0.478540, 0.558115), (0.149039, 0.508051, 0.557250),
        (0.137770, 0.537492, 0.554906), (0.127568, 0.566949, 0.550556), (0.120565, 0.596422, 0.543611),
        (0.120638, 0.625828, 0.533488), (0.132268, 0.655014, 0.519661), (0.157851, 0.683765, 0.501686),
        (0.196571, 0.711827, 0.479221), (0.246070, 0.738910, 0.452024), (0.304148, 0.764704, 0.419943),
        (0.369214, 0.788888, 0.382914), (0.440137, 0.811138, 0.340967), (0.515992, 0.831158, 0.294279),
        (0.595839, 0.848717, 0.243329), (0.678489, 0.863742, 0.189503), (0.762373, 0.876424, 0.137064),
        (0.845561, 0.887322, 0.099702), (0.926106, 0.897330, 0.104071), (0.993248, 0.906157, 0.143936),
    ]

    static let viridisTable = interpolated(viridisKnots)

    /// Turbo: every 8th entry of Google's published 256-entry Turbo table (Anton Mikhailov,
    /// 2019; indices 0, 8, ..., 248, and 255), linearly interpolated like viridis.
    static let turboKnots: [(Double, Double, Double)] = [
        (0.18995, 0.07176, 0.23217), (0.22500, 0.16354, 0.45096), (0.25107, 0.25237, 0.63374),
        (0.26816, 0.33825, 0.78050), (0.27628, 0.42118, 0.89123), (0.27543, 0.50115, 0.96594),
        (0.25862, 0.57958, 0.99876), (0.21382, 0.65886, 0.97959), (0.15844, 0.73551, 0.92305),
        (0.11167, 0.80569, 0.84525), (0.09267, 0.86554, 0.76230), (0.12014, 0.91193, 0.68660),
        (0.19659, 0.94901, 0.59466), (0.30513, 0.97697, 0.48987), (0.42778, 0.99419, 0.38575),
        (0.54658, 0.99907, 0.29581), (0.64362, 0.98999, 0.23356), (0.72596, 0.96470, 0.20640),
        (0.80473, 0.92452, 0.20459), (0.87530, 0.87267, 0.21555), (0.93301, 0.81236, 0.22667),
        (0.97323, 0.74682, 0.22536), (0.99314, 0.67408, 0.20348), (0.99593, 0.58703, 0.16899),
        (0.98360, 0.49291, 0.12849), (0.95801, 0.39958, 0.08831), (0.92105, 0.31489, 0.05475),
        (0.87422, 0.24526, 0.03297), (0.81608, 0.18462, 0.01809), (0.74617, 0.13098, 0.00851),
        (0.66449, 0.08436, 0.00424), (0.57103, 0.04474, 0.00529), (0.47960, 0.01583, 0.01055),
    ]

    static let turboTable = interpolated(turboKnots)

    /// Inferno through matplotlib's values at t = 0, 0.1, ..., 1 (#000004, #160b39, #420a68,
    /// #6a176e, #932667, #bc3754, #dd513a, #f37819, #fca50a, #f6d746, #fcffa4), linearly
    /// interpolated between them.
    static let infernoTable = evenlySpaced([(0, 0, 4), (22, 11, 57), (66, 10, 104), (106, 23, 110), (147, 38, 103), (188, 55, 84),
                                            (221, 81, 58), (243, 120, 25), (252, 165, 10), (246, 215, 70), (252, 255, 164)])

    /// Cool-warm (Moreland 2009) through its published colours at t = 0, 1/8, ..., 1
    /// (#3b4cc0 ... #dddddd at 0.5 ... #b40426).
    static let coolwarmTable = evenlySpaced([(59, 76, 192), (98, 130, 234), (141, 176, 254), (184, 208, 249), (221, 221, 221),
                                             (245, 196, 173), (244, 154, 123), (222, 96, 77), (180, 4, 38)])

    /// 256 entries linearly interpolated through RGB knots (0...255) spaced evenly over 0...1.
    static func evenlySpaced(_ knots: [(Double, Double, Double)]) -> [UInt8] {
        (0..<256).flatMap { i -> [UInt8] in
            let x = Double(i) / 255 * Double(knots.count - 1)
            let j = min(Int(x), knots.count - 2), f = x - Double(j)
            let (a, b) = (knots[j], knots[j + 1])
            return [a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1), a.2 + f * (b.2 - a.2)].map { UInt8(max(0, min(255, $0.rounded()))) }
        }
    }

    /// Expands 33 knots (table indices 0, 8, ..., 248, 255) to 256 RGB bytes by linear
    /// interpolation: entry i between knots at i0 <= i <= i1 is a + (i - i0) / (i1 - i0) * (b - a).
    static func interpolated(_ knots: [(Double, Double, Double)]) -> [UInt8] {
        precondition(knots.count == 33)
        return (0..<256).flatMap { i -> [UInt8] in
            let j = min(i / 8, 31)
            let (i0, i1) = (8 * j, j == 31 ? 255 : 8 * j + 8)
            let f = Double(i - i0) / Double(i1 - i0)
            let (a, b) = (knots[j], knots[j + 1])
            return [a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1), a.2 + f * (b.2 - a.2)].map(byte)
        }
    }

    /// Jet from matplotlib's segment data: each channel is piecewise linear through
    /// (x, value) knots. red (0,0) (.35,0) (.66,1) (.89,1) (1,.5); green (0,0) (.125,0) (.375,1)
    /// (.64,1) (.91,0) (1,0); blue (0,.5) (.11,1) (.34,1) (.65,0) (1,0). Entry i is at x = i / 255.
    static let jetTable: [UInt8] = {
        let red: [(Double, Double)] = [(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)]
        let green: [(Double, Double)] = [(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)]
        let blue: [(Double, Double)] = [(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)]
        func piecewise(_ knots: [(Double, Double)], _ x: Double) -> Double {
            for k in 1..<knots.count where x <= knots[k].0 {
                let (x0, y0) = knots[k - 1], (x1, y1) = knots[k]
                return y0 + (x - x0) / (x1 - x0) * (y1 - y0)
            }
            return knots[knots.count - 1].1
        }
        return (0..<256).flatMap { i -> [UInt8] in
            let x = Double(i) / 255
            return [piecewise(red, x), piecewise(green, x), piecewise(blue, x)].map(byte)
        }
    }()
}

/// 0...1 -> 0...255 with rounding and clamping.
private func byte(_ v: Double) -> UInt8 { UInt8((min(max(v, 0), 1) * 255).rounded()) }

extension Image {
    /// Heatmap overlay: `heatmap` is bilinearly resized to this image's size (align_corners
    /// false), normalised to 0...1 by `range` (default min...max), coloured with `colormap`,
    /// and blended: out = round((1 - alpha) * image + alpha * colour) per RGB channel.
    /// The result is RGB (gray is replicated, alpha dropped). `alpha` is clamped to 0...1.
    public func overlaying(heatmap: FloatMap, colormap: Colormap = .jet, alpha: Float = 0.5,
                           range: ClosedRange<Float>? = nil) -> Image {
        let base = rgb()
        let sized = (heatmap.width == width && heatmap.height == height)
            ? heatmap : heatmap.resizedBilinear(width: width, height: height)
        let colors = colormap.apply(sized, range: range)
        let a = min(max(alpha, 0), 1)
        var pixels = base.pixels
        colors.pixels.withUnsafeBufferPointer { color in
            pixels.withUnsafeMutableBufferPointer { out in
                for i in 0..<out.count {
                    let v = (1 - a) * Float(out[i]) + a * Float(color[i])
                    out[i] = UInt8(min(max(v, 0), 255).rounded())
                }
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }
}
