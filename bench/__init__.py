"""Measuring scripts: each prints figures (never a timed test); scripts/bench may call them."""
