"""All Python of comfyui-fal-avatar. Only ``nodes/comfy`` imports ComfyUI."""
