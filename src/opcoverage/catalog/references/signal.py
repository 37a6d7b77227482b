"""References for ONNX's signal-processing generators (window functions, mel filter banks), in float64 NumPy."""

import numpy as np


def _window(like, window_length, periodic, coefficients):
    n = window_length if periodic else window_length - 1
    k = np.arange(window_length, dtype=np.float64)
    out = np.zeros(window_length)
    for i, a in enumerate(coefficients):
        out += a * np.cos(2 * np.pi * i * k / n) if n else (a if i == 0 else 0.0)
    return out.astype(like.dtype)


def hann_window(like, window_length, periodic=True):
    return _window(like, window_length, periodic, (0.5, -0.5))


def hamming_window(like, window_length, periodic=True, alpha=0.54, beta=0.46):
    return _window(like, window_length, periodic, (alpha, -beta))


def blackman_window(like, window_length, periodic=True):
    return _window(like, window_length, periodic, (0.42, -0.5, 0.08))


def mel_weight_matrix(like, num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz):
    """Triangular mel filters over the onesided DFT bins, each peaking at 1 ([dft_length // 2 + 1, num_mel_bins]);
    band edges fall on the DFT bins floor((dft_length + 1) * f / sample_rate), as ONNX defines them."""
    def to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    low, high = to_mel(lower_edge_hertz), to_mel(upper_edge_hertz)
    mels = low + np.arange(num_mel_bins + 2) * (high - low) / (num_mel_bins + 2)
    hertz = 700.0 * (np.power(10.0, mels / 2595.0) - 1.0)
    bins = np.floor((dft_length + 1) * hertz / sample_rate).astype(np.int64)
    out = np.zeros((dft_length // 2 + 1, num_mel_bins))
    for m in range(num_mel_bins):
        left, center, right = bins[m], bins[m + 1], bins[m + 2]
        if center == left:
            out[center, m] = 1.0
        else:
            for j in range(left, center + 1):
                out[j, m] = (j - left) / (center - left)
        for j in range(center, right):
            out[j, m] = (right - j) / (right - center)
    return out.astype(like.dtype)
