"""Text, crop and duplicate search over the library (built on the foundation's regions and vectors)."""
