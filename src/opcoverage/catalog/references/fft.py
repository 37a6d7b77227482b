"""References for FFTs and the STFT, in float64 NumPy; complex values as real views."""

import numpy as np


def _real_view(z):
    """A complex array as real numbers: a trailing axis of (real, imag)."""
    return np.stack([z.real, z.imag], axis=-1)


def _complex(x):
    return x[..., 0] + 1j * x[..., 1]


def _axes(dim):
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def fft(x, n=None, dim=-1, norm=None):
    return _real_view(np.fft.fft(x, n=n, axis=dim, norm=norm))


def ifft(x, n=None, dim=-1, norm=None):
    return _real_view(np.fft.ifft(_complex(x), n=n, axis=dim, norm=norm))


def rfft(x, n=None, dim=-1, norm=None):
    return _real_view(np.fft.rfft(x, n=n, axis=dim, norm=norm))


def irfft(x, n=None, dim=-1, norm=None):
    return np.fft.irfft(_complex(x), n=n, axis=dim, norm=norm)


def hfft(x, n=None, dim=-1, norm=None):
    return np.fft.hfft(_complex(x), n=n, axis=dim, norm=norm)


def ihfft(x, n=None, dim=-1, norm=None):
    return _real_view(np.fft.ihfft(x, n=n, axis=dim, norm=norm))


def fft2(x, s=None, dim=(-2, -1), norm=None):
    return _real_view(np.fft.fft2(x, s=s, axes=_axes(dim), norm=norm))


def ifft2(x, s=None, dim=(-2, -1), norm=None):
    return _real_view(np.fft.ifft2(_complex(x), s=s, axes=_axes(dim), norm=norm))


def fftn(x, s=None, dim=None, norm=None):
    return _real_view(np.fft.fftn(x, s=s, axes=_axes(dim), norm=norm))


def rfftn(x, s=None, dim=None, norm=None):
    return _real_view(np.fft.rfftn(x, s=s, axes=_axes(dim), norm=norm))


def irfftn(x, s=None, dim=None, norm=None):
    return np.fft.irfftn(_complex(x), s=s, axes=_axes(dim), norm=norm)


def fftshift(x, dim=None):
    return np.fft.fftshift(x, axes=_axes(dim))


def ifftshift(x, dim=None):
    return np.fft.ifftshift(x, axes=_axes(dim))


def stft(x, window, n_fft, hop_length):
    """Frames of length n_fft every hop_length samples (no padding), times the window, one-sided DFT each:
    shape [batch, frames, n_fft // 2 + 1, 2] (real view)."""
    starts = range(0, x.shape[-1] - n_fft + 1, hop_length)
    frames = np.stack([x[..., s:s + n_fft] * window for s in starts], axis=-2)
    return _real_view(np.fft.rfft(frames, axis=-1))
