"""Machine-learning models: the CLIP encoder and the object detector.

The only package that imports torch, open_clip and ultralytics, and only inside functions, so that
importing it (or anything above it) stays fast and the GUI can paint before torch is loaded.
"""
