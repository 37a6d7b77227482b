"""Shared fixtures: scratch spec folders and a small catalog run on the real CPU targets."""


from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CPU_TARGETS = ["torch:cpu", "jax:cpu", "onnxruntime:cpu"]

ADD_SPEC = """
[add]
category = "elementwise_binary"
samples = "binary"
dtypes = ["float32", "int32"]
reference = "numpy.add"
torch = "torch.add"
jax = "jax.numpy.add"
onnx = { op_type = "Add" }
"""


@pytest.fixture
def spec_dir(tmp_path: Path):
    """Write TOML text into a fresh spec folder: ``spec_dir("ops.toml", text)`` returns the folder."""
    folder = tmp_path / "specs"
    folder.mkdir()

    def write(name: str, text: str) -> Path:
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return folder

    return write


@pytest.fixture
def fault_backend(tmp_path, monkeypatch):
    """The fault-injecting backend, registered through a real entry point (targets fault:wrong, fault:nan, ...)."""
    from tests.fault.backend import install

    yield from install(tmp_path, monkeypatch)
