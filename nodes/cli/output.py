"""Output files of the CLI: refused before anything is paid when they cannot be written, and a failed
final copy keeps the stored video and says where it is."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import InputError, LocalStorageError


def check_folder(folder: Path, *, flag: str) -> None:
    """InputError unless files can be created in ``folder``."""
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise InputError(f"the folder {folder.resolve()} {what}; create it or choose another path", field=flag)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {folder.resolve()}: {_denied(folder)}", field=flag)


def check_writable(path: Path, *, flag: str) -> None:
    """InputError unless ``path`` can be created or overwritten (checked before any upload or submit)."""
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name", field=flag)
    check_folder(path.parent, flag=flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{path} exists and cannot be overwritten: {_denied(path)}", field=flag)


def _denied(path: Path) -> str:
    """Why ``os.access`` said no: a read-only file system, or plain permissions."""
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # statvfs is POSIX-only
        read_only = False
    return "the file system is read-only" if read_only else "permission denied"


def save_copy(stored: Path, out: Path, *, request_id: str) -> None:
    """Copy the stored video to ``out``. On failure the stored copy stays and the error says where it is."""
    try:
        shutil.copyfile(stored, out)
    except OSError as exc:
        try:
            out.unlink(missing_ok=True)  # no half-written file that looks like a result
        except OSError:
            pass
        raise LocalStorageError.from_os_error(
            exc,
            action=f"Writing {out}",
            path=out,
            needed_bytes=stored.stat().st_size,
            then=f"run the same command again (it costs nothing), or copy the video of request {request_id} from "
            f"{stored}.",
            request_id=request_id,
        ) from None


def table(header: tuple[str, ...], lines: list[tuple]) -> str:
    """Columns padded to their widest cell (the last one left as is: paths and errors run on)."""
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line[:-1], widths, strict=True)) + "  " + str(line[-1])
        for line in [header, *lines]
    )
