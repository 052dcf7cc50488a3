"""Test support: real backing services, per-run isolation, a gunicorn runner."""
