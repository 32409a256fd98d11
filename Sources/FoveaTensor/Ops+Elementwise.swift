import Foundation

// Elementwise operations. Binary ones broadcast like NumPy.

public func + (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(a, b, +).recorded(.add, [a, b]) }
public func - (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(a, b, -).recorded(.sub, [a, b]) }
public func * (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(a, b, *).recorded(.mul, [a, b]) }
public func / (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(a, b, /).recorded(.div, [a, b]) }
public prefix func - (x: Tensor) -> Tensor { Elementwise.unary(x) { -$0 }.recorded(.neg, [x]) }

public func + (a: Tensor, s: Float) -> Tensor { a.adding(s) }
public func + (s: Float, a: Tensor) -> Tensor { a.adding(s) }
public func - (a: Tensor, s: Float) -> Tensor { a.adding(-s) }
public func - (s: Float, a: Tensor) -> Tensor { (-a).adding(s) }
public func * (a: Tensor, s: Float) -> Tensor { a.scaled(by: s) }
public func * (s: Float, a: Tensor) -> Tensor { a.scaled(by: s) }
public func / (a: Tensor, s: Float) -> Tensor { a.scaled(by: 1 / s) }

extension Tensor {
    /// x + s
    public func adding(_ s: Float) -> Tensor { Elementwise.unary(self) { $0 + s }.recorded(.addScalar(s), [self]) }
    /// x * s
    public func scaled(by s: Float) -> Tensor { Elementwise.unary(self) { $0 * s }.recorded(.mulScalar(s), [self]) }
    /// x ^ p
    public func pow(_ p: Float) -> Tensor {
        let out: Tensor
        if p == 2 { out = Elementwise.unary(self) { $0 * $0 } } else { out = Elementwise.unary(self) { Foundation.pow($0, p) } }
        return out.recorded(.powScalar(p), [self])
    }
    public func exp() -> Tensor { Elementwise.unary(self) { Foundation.exp($0) }.recorded(.exp, [self]) }
    public func log() -> Tensor { Elementwise.unary(self) { Foundation.log($0) }.recorded(.log, [self]) }
    public func sqrt() -> Tensor { Elementwise.unary(self) { $0.squareRoot() }.recorded(.sqrt, [self]) }
    public func abs() -> Tensor { Elementwise.unary(self) { Swift.abs($0) }.recorded(.abs, [self]) }
    public func sin() -> Tensor { Elementwise.unary(self) { Foundation.sin($0) }.recorded(.sin, [self]) }
    public func cos() -> Tensor { Elementwise.unary(self) { Foundation.cos($0) }.recorded(.cos, [self]) }

    public func relu() -> Tensor { Elementwise.relu(self).recorded(.relu, [self]) }
    /// min(max(x, 0), 6)
    public func relu6() -> Tensor { Elementwise.relu(self, upper: 6).recorded(.relu6, [self]) }
    public func leakyRelu(_ slope: Float = 0.01) -> Tensor {
        Elementwise.unary(self) { $0 > 0 ? $0 : $0 * slope }.recorded(.leakyRelu(slope: slope), [self])
    }
    /// `value` (same shape) in the forward pass, with the identity as its gradient with respect to
    /// `self` (the straight-through estimator of rounding, as in quantisation-aware training).
    public func straightThrough(to value: Tensor) -> Tensor {
        check(value.shape == shape, "straightThrough: \(value.shape) vs \(shape)")
        return Tensor(shape: shape, storage: value.storage).recorded(.straightThrough, [self])
    }

    public func sigmoid() -> Tensor { Elementwise.unary(self) { 1 / (1 + Foundation.exp(-$0)) }.recorded(.sigmoid, [self]) }
    public func tanh() -> Tensor { Elementwise.unary(self) { Foundation.tanh($0) }.recorded(.tanh, [self]) }

    /// Elementwise maximum with a constant (not differentiable w.r.t. the constant): relu(x - c) + c.
    public func clamped(min lo: Float) -> Tensor { (self - lo).relu() + lo }

    /// 1 where x > s, else 0 (a constant mask: not recorded).
    public func greater(than s: Float) -> Tensor { Elementwise.unary(self) { $0 > s ? 1 : 0 } }
    /// Elementwise sign (-1, 0, 1), not recorded.
    public func sign() -> Tensor { Elementwise.unary(self) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) } }
}
