import Foundation

// Fourier transforms and filters of images.

extension Tensor {
    /// Real images [..., height, width] of half spectra [..., height, width/2+1, 2] ((re, im)
    /// pairs), "ortho" normalised: `torch.fft.irfft2(X, s=(height, width), norm="ortho")`.
    /// Differentiable (its adjoint is a weighted ``rfft2()``).
    public func irfft2(height: Int, width: Int) -> Tensor {
        FFT.irfft2(self, h: height, w: width).recorded(.irfft2(h: height, w: width), [self])
    }

    /// Half spectra [..., H, W/2+1, 2] of real images [..., H, W], "ortho" normalised
    /// (`torch.fft.rfft2(x, norm="ortho")`). Not recorded: a constant for gradients.
    public func rfft2() -> Tensor { FFT.rfft2(self) }

    /// Each channel of an NCHW tensor convolved with a normalised Gaussian of standard deviation
    /// `sigma` pixels, kernel radius ceil(3 sigma) (at most the image size - 1), reflected at the
    /// border; separable (a 1 x k then a k x 1 depthwise convolution), differentiable.
    public func gaussianBlurred(sigma: Float) -> Tensor {
        check(rank == 4, "gaussianBlurred needs NCHW input, got \(shape)")
        guard sigma > 0 else { return self }
        let radius = Swift.min(Int((3 * sigma).rounded(.up)), shape[2] - 1, shape[3] - 1)
        guard radius > 0 else { return self }
        let taps = (-radius...radius).map { Foundation.exp(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = taps.reduce(0, +)
        let c = shape[1], k = 2 * radius + 1
        let row = Tensor(shape: [c, 1, 1, k], values: Array((0..<c).map { _ in taps.map { $0 / total } }.joined()))
        let column = Tensor(shape: [c, 1, k, 1], storage: row.storage)
        return padded(top: radius, bottom: radius, left: radius, right: radius, mode: .reflect)
            .conv2d(weight: row, groups: c).conv2d(weight: column, groups: c)
    }
}
