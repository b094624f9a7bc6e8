"""Dockyard: build, tag and push container images from any CI."""

__version__ = "0.1.0"
