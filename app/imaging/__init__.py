"""Decoding, thumbnails, perceptual hashes and region geometry. numpy/PIL/cv2 only."""
