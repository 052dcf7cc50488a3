"""Operational jobs beside the domain: the health report, the demo hub, the worker's housekeeping."""
