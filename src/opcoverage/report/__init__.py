"""Report stage: results -> per-op roll-ups -> Markdown tables."""
