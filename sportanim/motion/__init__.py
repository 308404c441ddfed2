"""Motion beyond tokens: edits, retargeting and generated jumps."""
