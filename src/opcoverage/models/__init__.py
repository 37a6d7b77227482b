"""Model readiness: which framework ops a model calls (its manifest), whether a target passes them (readiness from
a results file), and whether that prediction holds when the whole model runs (validation)."""

from opcoverage.models.manifest import Manifest, OpUse, Usage
from opcoverage.models.readiness import Blocker, Readiness, Verdicts, readiness
from opcoverage.models.sources import build_manifest, zoo_manifest
from opcoverage.models.validate import Validation, validate_torch_model
from opcoverage.models.zoo import ZOO

__all__ = ["ZOO", "Blocker", "Manifest", "OpUse", "Readiness", "Usage", "Validation", "Verdicts", "build_manifest",
           "readiness", "validate_torch_model", "zoo_manifest"]
