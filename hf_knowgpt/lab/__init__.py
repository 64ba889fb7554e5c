"""Experiments built on the package: the runner every driver uses, and the demo."""
