"""Typed errors with messages a ComfyUI user can act on.

Every error raised by the pack derives from :class:`FalAvatarError`. Errors that come from fal carry
the HTTP status, fal's ``error_type`` and the request id when known, so the node, the CLI and the
journal can all say precisely what happened and whether money was spent.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


class FalAvatarError(Exception):
    """Base class. ``str(err)`` is the user-facing message; it never contains the fal key."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self._message = message
        self.hints: list[str] = []  # what the user can do, added where it is known (see with_hint)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id

    @property
    def message(self) -> str:
        """What went wrong, then what to do about it."""
        return " ".join([self._message, *self.hints])

    def with_hint(self, hint: str) -> FalAvatarError:
        """Add what the user can do (e.g. the paid job a re-run takes); returns the error, to raise it."""
        self.hints.append(hint)
        return self

    def redact(self, secret: str) -> FalAvatarError:
        """Replace ``secret`` wherever the message shows it."""
        self._message = self._message.replace(secret, "<redacted>")
        self.hints = [hint.replace(secret, "<redacted>") for hint in self.hints]
        return self

    def __str__(self) -> str:
        facts = []
        if self.status is not None:
            facts.append(f"HTTP {self.status}")
        if self.error_type:
            facts.append(f"error_type={self.error_type}")
        if self.request_id:
            facts.append(f"request_id={self.request_id}")
        return f"{self.message} [{', '.join(facts)}]" if facts else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


# --- before any money is spent -------------------------------------------------------------------


class InputError(FalAvatarError, ValueError):
    """The user's input cannot work; nothing was uploaded or submitted."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class ConfigError(FalAvatarError):
    """A setting (environment variable, saved key, data directory) is missing or wrong."""

    exit_code = 2


class MissingKeyError(ConfigError):
    """No fal key was found."""


class SpendLimitError(ConfigError):
    """The run's cost estimate is above the spend limit per run; nothing was uploaded or submitted."""


class SegmentsFailedError(FalAvatarError):
    """Some segments of a long run failed; the rest are stored, so a re-run pays only for the failed ones."""


# --- answers from fal ----------------------------------------------------------------------------


class FalHTTPError(FalAvatarError):
    """fal answered with an HTTP error that has no more specific class."""


class AuthError(FalHTTPError):
    """401: the key is missing, malformed or unknown to fal."""

    exit_code = 2


class AccountLockedError(FalHTTPError):
    """403: the fal account is locked (usually: balance exhausted)."""

    exit_code = 2


class FalValidationError(FalHTTPError):
    """422: fal rejected the arguments. ``items`` are fal's ``detail`` entries."""

    exit_code = 2

    def __init__(self, message: str, *, items: list | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.items = list(items or [])


class NotFoundError(FalHTTPError):
    """404: unknown endpoint, request id, or an expired result/file."""


class RateLimitedError(FalHTTPError):
    """429 that did not clear within the retry budget."""


class FalServerError(FalHTTPError):
    """fal or the model failed (5xx, or a request that COMPLETED with an ``error``)."""


class UnreadableAnswerError(FalServerError):
    """fal's answer could not be read: far larger than anything fal sends, or not the JSON asked for."""


class FalTimeoutError(FalAvatarError):
    """A wait limit was reached (HTTP call timeout or the queue-wait limit)."""


class JobCancelledError(FalAvatarError):
    """The job was cancelled (by the user, or by the queue-wait limit)."""

    exit_code = 130


class SubmitOutcomeUnknownError(FalAvatarError):
    """The submit request was sent but no answer came back: a job may exist on fal.

    It is deliberately not re-sent (that could create a second paid job).
    """


class UnknownSubmitError(FalAvatarError):
    """An earlier run of this exact request died (or lost the answer) while submitting, and fal could not
    be asked whether it has the job. Nothing is submitted again without the user's say-so."""


class IdenticalRunError(FalAvatarError):
    """This run waited for an identical run (same request key) that ended without a result."""


class RequestLookupUnavailableError(FalAvatarError):
    """fal's request history could not be consulted (the key lacks the permission, the route is missing,
    fal or the network failed). It means "unknown", never "no job": nothing may be submitted on its strength.
    """


class DownloadError(FalAvatarError):
    """A result file could not be downloaded completely."""


class MediaDecodeError(FalAvatarError):
    """A media file is corrupt, truncated or empty. ``path`` is kept for inspection; ``detail`` is what is
    wrong with it, without the advice around it."""

    def __init__(self, message: str, *, path: str | None = None, detail: str | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.path = path
        self.detail = detail or message


class DamagedDownloadError(DownloadError):
    """fal's CDN kept serving a result file that does not decode. The paid job and its result stay on fal,
    so a later download (run again, `fal-avatar fetch`) costs nothing."""


class DamagedResultGoneError(DownloadError):
    """The stored copy of a paid result is damaged and fal no longer has the file: only a new generation
    (a new seed, which costs money) can replace it. Deliberately not a NotFoundError: nothing may pay
    again on its own because of it."""


class ResultFileGoneError(DownloadError, NotFoundError):
    """404/410 on a result file: fal's CDN no longer has it (files expire); only a new job can replace it."""


class InsufficientMemoryError(FalAvatarError):
    """Decoding the frames would need more RAM than the machine has free; the video itself is kept."""

    exit_code = 2


# --- local files -----------------------------------------------------------------------------------

_OS_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EFBIG: "the file is larger than this process may write (file size limit)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EISDIR: "it is a directory",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EIO: "input/output error (the disk or its connection may be failing)",
}
_OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT)
_REMEDIES = {
    errno.ENOSPC: "free some space there",
    errno.EDQUOT: "free some space there",
    errno.EFBIG: "raise the file size limit (ulimit -f)",
    errno.EROFS: "choose a writable disk",
    errno.EACCES: "make the folder writable",
    errno.EPERM: "make the folder writable",
    errno.ENOENT: "create the folder",
    errno.ENOTDIR: "fix the path",
}


def os_error_reason(exc: OSError) -> str:
    """A short, plain reason for a failed file operation ("no space left on the device")."""
    return _OS_REASONS.get(exc.errno) or exc.strerror or str(exc) or type(exc).__name__


def _size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.0f} KB"


def _free_bytes(path: Path) -> int | None:
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


class LocalStorageError(FalAvatarError):
    """A local file could not be written (disk full, no permission, missing folder, read-only disk, ...).

    ``path`` is where; ``errno`` the system's code; ``needed_bytes`` / ``free_bytes`` are set when known
    (the free space only when the disk ran out of it).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        errno: int | None = None,
        needed_bytes: int | None = None,
        free_bytes: int | None = None,
        **kw,
    ) -> None:
        super().__init__(message, **kw)
        self.path = path
        self.errno = errno
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes

    @classmethod
    def from_os_error(
        cls,
        exc: OSError,
        *,
        action: str,
        path: Path,
        then: str,
        needed_bytes: int | None = None,
        request_id: str | None = None,
    ) -> LocalStorageError:
        """``"<action> failed: <reason> (<path>). [sizes] <Remedy>, then <then>"``; measures the free space on
        a full disk (call it after removing any partial file)."""
        out_of_space = exc.errno in _OUT_OF_SPACE
        free = _free_bytes(Path(path)) if out_of_space else None
        message = f"{action} failed: {os_error_reason(exc)} ({path})."
        sizes = []
        if needed_bytes is not None:
            sizes.append(f"the file needs {_size(needed_bytes)}")
        if free is not None:
            sizes.append(f"{_size(free)} free there")
        remedy = _REMEDIES.get(exc.errno, "fix this")
        for sentence in ("; ".join(sizes), f"{remedy}, then {then}"):
            if sentence:
                message += f" {sentence[0].upper()}{sentence[1:]}"
                message += "" if sentence.endswith(".") else "."
        return cls(
            message,
            path=str(path),
            errno=exc.errno,
            needed_bytes=needed_bytes,
            free_bytes=free,
            request_id=request_id,
        )
