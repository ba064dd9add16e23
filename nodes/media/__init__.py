"""Media layer: encode IMAGE/AUDIO/video inputs for upload, probe and decode result videos, find speech
pauses (no ComfyUI). Stitching segments: ``.stitch`` (not re-exported: its function would shadow the
module)."""

from .audio import audio_duration_s, encode_audio
from .image import encode_image, validate_image
from .pauses import Pause, SpeechProfile, speech_profile
from .payload import Payload
from .verify import check_header, verify_video
from .video_decode import decode_audio, decode_frames
from .video_encode import encode_frames, encode_video_file, validate_video_file
from .video_probe import VideoInfo, probe_video

__all__ = [
    "Pause",
    "Payload",
    "SpeechProfile",
    "VideoInfo",
    "audio_duration_s",
    "check_header",
    "decode_audio",
    "decode_frames",
    "encode_audio",
    "encode_frames",
    "encode_image",
    "encode_video_file",
    "probe_video",
    "speech_profile",
    "validate_image",
    "validate_video_file",
    "verify_video",
]
