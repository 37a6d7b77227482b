"""Binding adapters for FFTs and the STFT: complex values travel as real views
(a trailing axis of real, imag) because the comparison stage compares real dtypes."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.spec import OnnxCall

_NOT_ONNX_NORM = "ONNX DFT has no normalization mode: it computes the unnormalized forward and the 1/n inverse only"


def _axes(dim):
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


# ---------------------------------------------------------------- torch


def _torch_real_view(z):
    import torch

    return torch.view_as_real(z.resolve_conj())


def _torch_complex(x):
    import torch

    return torch.view_as_complex(x.contiguous())


def torch_fft(x, n=None, dim=-1, norm=None):
    import torch

    return _torch_real_view(torch.fft.fft(x, n=n, dim=dim, norm=norm))


def torch_ifft(x, n=None, dim=-1, norm=None):
    import torch

    return _torch_real_view(torch.fft.ifft(_torch_complex(x), n=n, dim=dim, norm=norm))


def torch_rfft(x, n=None, dim=-1, norm=None):
    import torch

    return _torch_real_view(torch.fft.rfft(x, n=n, dim=dim, norm=norm))


def torch_irfft(x, n=None, dim=-1, norm=None):
    import torch

    return torch.fft.irfft(_torch_complex(x), n=n, dim=dim, norm=norm)


def torch_hfft(x, n=None, dim=-1, norm=None):
    import torch

    return torch.fft.hfft(_torch_complex(x), n=n, dim=dim, norm=norm)


def torch_ihfft(x, n=None, dim=-1, norm=None):
    import torch

    return _torch_real_view(torch.fft.ihfft(x, n=n, dim=dim, norm=norm))


def torch_fft2(x, s=None, dim=(-2, -1), norm=None):
    import torch

    return _torch_real_view(torch.fft.fft2(x, s=s, dim=_axes(dim), norm=norm))


def torch_ifft2(x, s=None, dim=(-2, -1), norm=None):
    import torch

    return _torch_real_view(torch.fft.ifft2(_torch_complex(x), s=s, dim=_axes(dim), norm=norm))


def torch_fftn(x, s=None, dim=None, norm=None):
    import torch

    return _torch_real_view(torch.fft.fftn(x, s=s, dim=_axes(dim), norm=norm))


def torch_rfftn(x, s=None, dim=None, norm=None):
    import torch

    return _torch_real_view(torch.fft.rfftn(x, s=s, dim=_axes(dim), norm=norm))


def torch_irfftn(x, s=None, dim=None, norm=None):
    import torch

    return torch.fft.irfftn(_torch_complex(x), s=s, dim=_axes(dim), norm=norm)


def torch_fftshift(x, dim=None):
    import torch

    return torch.fft.fftshift(x, dim=_axes(dim))


def torch_ifftshift(x, dim=None):
    import torch

    return torch.fft.ifftshift(x, dim=_axes(dim))


def torch_stft(x, window, n_fft, hop_length):
    import torch

    spectrum = torch.stft(x, n_fft=n_fft, hop_length=hop_length, window=window, center=False, onesided=True,
                          return_complex=True)
    return torch.view_as_real(spectrum).transpose(-3, -2)  # torch puts frequency before frames


# ---------------------------------------------------------------- jax


def _jax_real_view(z):
    import jax.numpy as jnp

    return jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1)


def _jax_complex(x):
    from jax import lax

    return lax.complex(x[..., 0], x[..., 1])


def jax_fft(x, n=None, dim=-1, norm=None):
    import jax.numpy as jnp

    return _jax_real_view(jnp.fft.fft(x, n=n, axis=dim, norm=norm))


def jax_ifft(x, n=None, dim=-1, norm=None):
    import jax.numpy as jnp

    return _jax_real_view(jnp.fft.ifft(_jax_complex(x), n=n, axis=dim, norm=norm))


def jax_rfft(x, n=None, dim=-1, norm=None):
    import jax.numpy as jnp

    return _jax_real_view(jnp.fft.rfft(x, n=n, axis=dim, norm=norm))


def jax_irfft(x, n=None, dim=-1, norm=None):
    import jax.numpy as jnp

    return jnp.fft.irfft(_jax_complex(x), n=n, axis=dim, norm=norm)


def jax_hfft(x, n=None, dim=-1, norm=None):
    import jax.numpy as jnp

    return jnp.fft.hfft(_jax_complex(x), n=n, axis=dim, norm=norm)


def jax_ihfft(x, n=None, dim=-1, norm=None):
    import jax.numpy as jnp

    return _jax_real_view(jnp.fft.ihfft(x, n=n, axis=dim, norm=norm))


def jax_fft2(x, s=None, dim=(-2, -1), norm=None):
    import jax.numpy as jnp

    return _jax_real_view(jnp.fft.fft2(x, s=s, axes=_axes(dim), norm=norm))


def jax_ifft2(x, s=None, dim=(-2, -1), norm=None):
    import jax.numpy as jnp

    return _jax_real_view(jnp.fft.ifft2(_jax_complex(x), s=s, axes=_axes(dim), norm=norm))


def jax_fftn(x, s=None, dim=None, norm=None):
    import jax.numpy as jnp

    return _jax_real_view(jnp.fft.fftn(x, s=s, axes=_axes(dim), norm=norm))


def jax_rfftn(x, s=None, dim=None, norm=None):
    import jax.numpy as jnp

    return _jax_real_view(jnp.fft.rfftn(x, s=s, axes=_axes(dim), norm=norm))


def jax_irfftn(x, s=None, dim=None, norm=None):
    import jax.numpy as jnp

    return jnp.fft.irfftn(_jax_complex(x), s=s, axes=_axes(dim), norm=norm)


def jax_fftshift(x, dim=None):
    import jax.numpy as jnp

    return jnp.fft.fftshift(x, axes=_axes(dim))


def jax_ifftshift(x, dim=None):
    import jax.numpy as jnp

    return jnp.fft.ifftshift(x, axes=_axes(dim))


# ---------------------------------------------------------------- ONNX (DFT, STFT)


def _onnx_dft(signal, kwargs, complex_input, inverse=False, onesided=False):
    from opcoverage.backends.base import NotApplicable

    if kwargs.get("norm") not in (None, "backward"):
        raise NotApplicable(_NOT_ONNX_NORM)
    dim = kwargs.get("dim", -1)
    # DFT's axis counts the trailing real/imag axis, so negative signal axes shift by one.
    axis = dim - 1 if dim < 0 else dim
    if not complex_input:
        signal = signal[..., None]  # a real signal is [..., 1] for DFT
    n = kwargs.get("n")
    inputs = (signal, None if n is None else np.array(n, np.int64), np.array(axis, np.int64))
    constants = frozenset({1, 2})
    return OnnxCall(inputs, {"inverse": int(inverse), "onesided": int(onesided)}, constants)


def onnx_fft(args, kwargs):
    return _onnx_dft(args[0], kwargs, complex_input=False)


def onnx_ifft(args, kwargs):
    return _onnx_dft(args[0], kwargs, complex_input=True, inverse=True)


def onnx_rfft(args, kwargs):
    return _onnx_dft(args[0], kwargs, complex_input=False, onesided=True)


def onnx_irfft(args, kwargs):
    return _onnx_dft(args[0], kwargs, complex_input=True, inverse=True, onesided=True)


def onnx_stft(args, kwargs):
    x, window = args
    return OnnxCall((x[..., None], np.array(kwargs["hop_length"], np.int64), window,
                     np.array(kwargs["n_fft"], np.int64)), {"onesided": 1}, frozenset({1, 3}))
