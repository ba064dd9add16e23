"""Output files of the CLI: refused before anything is paid when they cannot be written, and a failed
final copy keeps the stored video and says where it is."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..datadir import data_dir
from ..errors import InputError, LocalStorageError
from ..store.media_store import MEDIA_DIR_NAME


def check_folder(folder: Path, *, flag: str) -> None:
    """InputError unless files can be created in ``folder``."""
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise InputError(
            f"the folder {folder.resolve()} {what}; create it or choose another path", field=flag
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {folder.resolve()}: {_denied(folder)}", field=flag)


def check_writable(path: Path, *, flag: str) -> None:
    """InputError unless ``path`` can be created or overwritten (checked before any upload or submit)."""
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name", field=flag)
    check_outside_store(path, flag=flag)
    check_folder(path.parent, flag=flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{path} exists and cannot be overwritten: {_denied(path)}", field=flag)


def check_outside_store(path: Path, *, flag: str) -> None:
    """InputError if ``path`` lies in the pack's result store: its files are renamed in, replaced and evicted
    by the store itself, so an output there could overwrite a paid result or vanish."""
    store = (data_dir() / MEDIA_DIR_NAME).resolve()
    where = path.resolve()
    if where == store or store in where.parents:
        raise InputError(
            f"{path} is inside the pack's result store ({store}), which replaces and evicts its own files; "
            "choose a path outside it (the result is copied there, the stored copy stays)",
            field=flag,
        )


def check_creatable(path: Path, *, flag: str) -> None:
    """InputError unless ``path`` can be written, its missing folders included (they are made on delivery)."""
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name", field=flag)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"cannot create the folder {path.parent}: {folder} is a file", field=flag)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {folder}: {_denied(folder)}", field=flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{path} exists and cannot be overwritten: {_denied(path)}", field=flag)


class InputFiles:
    """The input files of a run (or of every row of a batch), so that no output replaces one of them:
    compared by resolved path (a symbolic link is followed) and by device and inode (a hard link)."""

    def __init__(self) -> None:
        self._paths: dict[Path, str] = {}
        self._inodes: dict[tuple[int, int], str] = {}

    def add(self, path: Path, what: str) -> None:
        path = Path(path)
        self._paths.setdefault(path.resolve(), what)
        try:
            stat = path.stat()
        except OSError:
            return
        self._inodes.setdefault((stat.st_dev, stat.st_ino), what)

    def named_by(self, out: Path) -> str | None:
        """What input ``out`` is (``"--video"``, ``"the audio of line 3"``), or None."""
        out = Path(out)
        found = self._paths.get(out.resolve())
        if found is None:
            try:
                stat = out.stat()
            except OSError:
                return None
            found = self._inodes.get((stat.st_dev, stat.st_ino))
        return found


def check_not_input(out: Path, inputs: InputFiles, *, flag: str) -> None:
    """InputError when ``out`` is, or links to, one of ``inputs`` (writing it would destroy the source)."""
    what = inputs.named_by(out)
    if what is not None:
        raise InputError(
            f"{out} is {what}: the result would replace that input. Choose another output path.", field=flag
        )


def _denied(path: Path) -> str:
    """Why ``os.access`` said no: a read-only file system, or plain permissions."""
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # statvfs is POSIX-only
        read_only = False
    return "the file system is read-only" if read_only else "permission denied"


def save_copy(stored: Path, out: Path, *, request_id: str) -> None:
    """Copy the stored video to ``out``. On failure the stored copy stays and the error says where it is.

    ``out`` naming the stored file itself (the same path, or a link to it) is a no-op: the file is already
    there, and removing a half-written ``out`` would remove the paid stored copy."""
    if _same_file(stored, out):
        return
    try:
        shutil.copyfile(stored, out)
    except OSError as exc:
        if not _same_file(stored, out):
            try:
                out.unlink(missing_ok=True)  # no half-written file that looks like a result
            except OSError:
                pass
        raise LocalStorageError.from_os_error(
            exc,
            action=f"Writing {out}",
            path=out,
            needed_bytes=stored.stat().st_size if stored.is_file() else None,
            then=f"run the same command again (it costs nothing), or copy the video of request {request_id} "
            f"from {stored}.",
            request_id=request_id,
        ) from None


def table(header: tuple[str, ...], lines: list[tuple]) -> str:
    """Columns padded to their widest cell (the last one left as is: paths and errors run on)."""
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line[:-1], widths, strict=True))
        + "  "
        + str(line[-1])
        for line in [header, *lines]
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # ``b`` does not exist yet (or cannot be looked at): not the same file
        return False
