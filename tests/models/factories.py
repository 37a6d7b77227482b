"""Model factories named by dotted path in the model-readiness tests, as a user's own code would be."""

from __future__ import annotations


def tiny_mlp():
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    return module, (torch.randn(3, 8),)


def no_float32():
    """A model whose float32 path raises, as a backend without a kernel would: validation must say it fails."""
    import torch

    class Picky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 4)

        def forward(self, x):
            if x.dtype == torch.float32:
                raise NotImplementedError("no float32 kernel for this layer")
            return self.linear(x)

    return Picky(), (torch.randn(2, 4),)


def jax_mlp():
    import numpy as np

    import jax.numpy as jnp

    w = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)

    def fn(x):
        return jnp.tanh(x @ w)

    return fn, (np.ones((2, 8), np.float32),)


def half_inside():
    """A model whose float32 layers compute in float16 inside, as a kernel with a lower-precision path would: its
    drift (about 1e-3) is tiny in absolute terms, but hundreds of times an ideal float32 run's."""
    import torch

    class Narrow(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = torch.nn.Linear(32, 64), torch.nn.Linear(64, 8)

        def forward(self, x):
            hidden = torch.relu(self.first(x))
            if x.dtype == torch.float32:
                return (hidden.half() @ self.second.weight.half().t()).float() + self.second.bias
            return self.second(hidden)

    torch.manual_seed(0)
    return Narrow(), (torch.randn(4, 32),)
