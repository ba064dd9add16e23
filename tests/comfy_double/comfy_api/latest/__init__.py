"""TEST DOUBLE of comfy_api.latest: only what the pack uses, with v0.28.1's signatures."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from pathlib import Path

from . import _io as io
from . import _ui as ui

__all__ = ["ComfyExtension", "InputImpl", "Types", "io", "ui"]


class ComfyExtension(ABC):
    async def on_load(self) -> None:
        return None

    @abstractmethod
    async def get_node_list(self) -> list: ...


class _VideoFromFile:
    def __init__(self, file, *, start_time: float = 0, duration: float = 0):
        self.file, self.start_time, self.duration = file, start_time, duration

    def get_stream_source(self):
        return self.file

    def get_active_trim_window(self) -> tuple[float, float]:
        return (float(self.start_time), float(self.duration))

    def save_to(self, path, format=None, codec=None, metadata=None):
        Path(path).write_bytes(Path(self.file).read_bytes())


class _VideoFromComponents:
    def __init__(self, components, bit_depth: int = 8):
        self._components = components

    def get_components(self):
        return self._components


class InputImpl:
    VideoFromFile = _VideoFromFile
    VideoFromComponents = _VideoFromComponents


class _VideoComponents:
    def __init__(self, images, audio=None, frame_rate=None):
        self.images, self.audio, self.frame_rate = images, audio, frame_rate


class Types:
    VideoComponents = _VideoComponents

    class VideoContainer(str, Enum):
        AUTO = "auto"
        MP4 = "mp4"

    class VideoCodec(str, Enum):
        AUTO = "auto"
        H264 = "h264"
