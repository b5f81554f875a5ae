"""The eval harness: gold labels, per-field scoring, baseline comparison and reports."""
