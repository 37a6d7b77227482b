"""Catalog stage: the op specs (data), their validation, sample generation, references and binding adapters."""
