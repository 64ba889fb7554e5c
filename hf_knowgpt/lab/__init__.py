"""Experiments built on the package: the demo."""
