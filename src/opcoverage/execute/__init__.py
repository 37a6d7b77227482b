"""Execution: plan cases from the catalog and targets, then run each one to a CaseResult."""
