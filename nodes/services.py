"""The composition root: the long-lived collaborators of a run, built once per entry point.

Each entry point (a node's execution, each CLI command, each route that runs something) calls
:func:`build_services` once and hands the result down; nothing below it builds its own. The settings a run
needs are read here, once (:class:`RunSettings`), and travel inside :class:`Services`.

Process-wide state lives here under its own name: :data:`SHARED_POOL` (the httpx pools, one per event loop;
defined with the transport, and handed to every client built here) and :data:`UPLOADS_IN_FLIGHT` (uploads of
the same bytes shared by the runs of one loop: a ``concurrency.SharedWork``). The fan-out's per-prompt limits
are owned by ``fanout/`` (``fanout.engine.LIMITS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import settings
from .concurrency import SharedWork
from .credentials import Credentials, known_secrets
from .fal.client import FalClient
from .fal.pool import SHARED_POOL
from .settings import FalUrls
from .store.claims import Claims
from .store.db import DB_FILE_NAME
from .store.journal import Journal
from .store.media_store import MEDIA_DIR_NAME, MediaStore
from .store.upload_cache import UploadCache

# Per event loop: {content sha256: the upload under way}: see pipeline/uploads.py
UPLOADS_IN_FLIGHT: SharedWork[str, str] = SharedWork()


@dataclass(frozen=True)
class RunSettings:
    """What a run reads from the environment, read once. ``max_image_side``: the user's override of an
    endpoint's longest uploaded image side (``None``: the endpoint's own); ``max_parallel``: fal jobs one run
    (or batch) keeps in flight."""

    max_parallel: int = 4
    max_image_side: int | None = None

    @classmethod
    def from_env(cls, *, max_parallel: int | None = None) -> RunSettings:
        """The environment's settings; ``max_parallel`` given (a command-line flag) wins over its variable."""
        return cls(
            max_parallel=max_parallel if max_parallel is not None else settings.max_parallel(),
            max_image_side=settings.max_image_side_override(),
        )


@dataclass
class Services:
    """The long-lived collaborators of a run. Build it with :func:`build_services` (tests may build one
    directly: each field has the default an entry point would give it)."""

    client: FalClient = field(default_factory=lambda: FalClient(pool=SHARED_POOL))
    journal: Journal = field(default_factory=lambda: Journal(secrets=known_secrets))
    uploads: UploadCache = field(default_factory=UploadCache)
    media: MediaStore = field(
        default_factory=lambda: MediaStore().pinning()
    )  # a run's files stay till it ends
    claims: Claims = field(default_factory=Claims)
    settings: RunSettings = field(default_factory=lambda: RunSettings.from_env())


def build_services(
    run_settings: RunSettings | None = None,
    *,
    home: Path | None = None,
    credentials: Credentials | None = None,
    urls: FalUrls | None = None,
) -> Services:
    """The services of one entry point. ``run_settings`` default to the environment's (read now, once);
    ``home`` puts the journal, caches and media in another data directory, ``credentials`` and ``urls``
    point the client at another fal (the demo's embedded emulator)."""
    run_settings = run_settings if run_settings is not None else RunSettings.from_env()
    db = home / DB_FILE_NAME if home is not None else None
    return Services(
        client=FalClient(credentials, urls, pool=SHARED_POOL),
        journal=Journal(db, secrets=known_secrets if credentials is None else _secrets_of(credentials)),
        uploads=UploadCache(db),
        # pinning: the files this entry point's runs store or reuse stay (never evicted)
        # until it releases them
        media=MediaStore(home / MEDIA_DIR_NAME if home is not None else None, db_path=db).pinning(),
        claims=Claims(db),
        settings=run_settings,
    )


def _secrets_of(credentials: Credentials):
    secret = credentials.key.partition(":")[2]
    found = (credentials.key, secret) if len(secret) >= 8 else (credentials.key,)
    return lambda: found
