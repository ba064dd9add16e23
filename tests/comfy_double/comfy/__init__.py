"""TEST DOUBLE of ComfyUI's comfy package (see tests/comfy_double/README.md)."""
