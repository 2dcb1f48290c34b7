"""Shoebox: a desktop photo gallery that finds anything in your photos."""

__version__ = "0.1.0"
