"""TEST DOUBLE of ComfyUI's folder_paths (temp and user directories under $COMFY_DOUBLE_ROOT)."""

import os


def _root() -> str:
    return os.environ["COMFY_DOUBLE_ROOT"]


def get_temp_directory() -> str:
    return os.path.join(_root(), "temp")


def get_user_directory() -> str:
    return os.path.join(_root(), "user")


def get_input_directory() -> str:
    return os.path.join(_root(), "input")


def get_output_directory() -> str:
    return os.path.join(_root(), "output")
