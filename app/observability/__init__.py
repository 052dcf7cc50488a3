"""Observability: metric definitions (a leaf), their exposition, and logs."""
