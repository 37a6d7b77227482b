"""Catalog loading: the shipped catalog validates, and each kind of bad spec gives one clear CatalogError."""

from __future__ import annotations

import pytest

from opcoverage.catalog.loader import load_catalog
from opcoverage.errors import CatalogError
from tests.conftest import ADD_SPEC


def test_shipped_catalog_loads_with_every_binding_resolved():
    catalog = load_catalog()
    assert len(catalog) >= 120
    names = set(catalog.ops)
    for required in ("add", "mul", "matmul", "relu", "softmax", "sum", "conv2d", "layer_norm", "gather", "topk"):
        assert required in names
    for op in catalog:
        assert op.bindings, f"{op.name} has no binding at all"


def test_spec_dir_replaces_the_shipped_catalog(spec_dir):
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC)])
    assert list(catalog.ops) == ["add"]
    assert catalog["add"].dtypes == ("float32", "int32")


@pytest.mark.parametrize("text, fragment", [
    ("[add\n", "not valid TOML"),
    (ADD_SPEC + "colour = 'red'\n", "unknown op key(s) colour"),
    (ADD_SPEC.replace('"int32"', '"int33"'), "unknown dtype 'int33'"),
    (ADD_SPEC.replace("numpy.add", "numpy.no_such_function"), "does not resolve"),
    (ADD_SPEC.replace("torch.add", "torch.nope.add"), "does not resolve"),
    (ADD_SPEC.replace('samples = "binary"', 'samples = "quaternary"'), "unknown sample family 'quaternary'"),
    (ADD_SPEC.replace("jax.numpy.add", "math.sqrt"), "cannot take 2 positional input(s)"),
    (ADD_SPEC.replace('category = "elementwise_binary"\n', ""), "missing required key(s) category"),
    (ADD_SPEC.replace("[add]", "[Add]"), "lower_snake_case"),
    (ADD_SPEC + 'tolerance = { float32 = { rtol = 1e-3 } }\n', "needs a written 'reason'"),
])
def test_bad_spec_names_file_and_op(spec_dir, text, fragment):
    folder = spec_dir("bad.toml", text)
    with pytest.raises(CatalogError) as info:
        load_catalog([folder])
    message = str(info.value)
    assert fragment in message
    assert "bad.toml" in message
    assert "\n" not in message


def test_duplicate_op_names_across_files(spec_dir):
    spec_dir("a.toml", ADD_SPEC)
    folder = spec_dir("b.toml", ADD_SPEC)
    with pytest.raises(CatalogError, match="duplicate op name"):
        load_catalog([folder])


def test_missing_and_empty_spec_dirs(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog([tmp_path / "nowhere"])
    with pytest.raises(CatalogError, match="holds no"):
        load_catalog([tmp_path])


def test_bindings_of_frameworks_not_requested_are_not_resolved(spec_dir):
    folder = spec_dir("a.toml", ADD_SPEC.replace("jax.numpy.add", "jax.numpy.no_such"))
    catalog = load_catalog([folder], frameworks=["torch"])
    assert "add" in catalog.ops
    with pytest.raises(CatalogError):
        load_catalog([folder], frameworks=["jax"])
