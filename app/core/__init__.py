"""Plain data, progress/cancel, errors and settings. Imports nothing else from ``app``."""
