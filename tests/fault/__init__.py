"""Fault-injecting backends and plugins for the tests, registered through real entry points."""


def register(tmp_path, monkeypatch, name: str, target: str):
    """Register ``target`` ("module:Class") as backend ``name`` through a real `opcoverage.backends` entry point in
    a temporary distribution, for the duration of a fixture (a generator: ``yield from register(...)``)."""
    import sys

    from opcoverage import backends

    site = tmp_path / f"{name}-site"
    dist = site / f"{name}_vendor-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-vendor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[opcoverage.backends]\n{name} = {target}\n")
    monkeypatch.syspath_prepend(str(site))
    backends.cache_clear()
    yield
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site)])
    backends.cache_clear()
