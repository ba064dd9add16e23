"""TEST DOUBLE of ComfyUI's comfy_api package (see tests/comfy_double/README.md)."""
