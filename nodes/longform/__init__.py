"""Talking videos of any length: segments generated in parallel and stitched into one video."""
