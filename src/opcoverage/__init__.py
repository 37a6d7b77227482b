"""opcoverage: operator coverage matrices for ML backends (public API)."""

__version__ = "0.1.0"

from opcoverage.errors import CatalogError, UsageError  # noqa: E402
from opcoverage.types import CaseResult, Sample, Stage, Status, Target, case_id  # noqa: E402

__all__ = [
    "__version__",
    "CaseResult",
    "CatalogError",
    "Sample",
    "Stage",
    "Status",
    "Target",
    "UsageError",
    "case_id",
    "load_catalog",
    "run_cases",
    "plan_cases",
]


def __getattr__(name: str):
    # The catalog and the runner pull in NumPy/SciPy; keep `import opcoverage` light.
    if name == "load_catalog":
        from opcoverage.catalog.loader import load_catalog

        return load_catalog
    if name in ("run_cases", "plan_cases"):
        from opcoverage.execute import runner

        return getattr(runner, name)
    raise AttributeError(name)
