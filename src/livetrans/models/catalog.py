"""The one model catalog, speech and translation, and the cache it installs into.

``livetrans/data/models.json`` (linked from ``models/catalog.json``) lists every
model livetrans knows by name, one format for both kinds; its ``_about`` says what
each field means. Models live under ``cache_dir()``: ``whisper/`` for speech,
``mt/`` for translation.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

ModelKind = Literal["speech", "translation"]
InstallSource = Literal["pypi", "hub"]
MODEL_KINDS: tuple[ModelKind, ...] = ("speech", "translation")
CATALOG_RESOURCE = "data/models.json"  # inside the livetrans package


@dataclass(frozen=True)
class CatalogEntry:
    """One known model.

    ``parts``/``files``/``folder`` name files inside installed packages as
    ``module:relative/path`` (absolute paths are accepted too, for tests and forks).
    """

    name: str
    kind: ModelKind
    hub: str | None  # Hugging Face repo id
    size_mb: int  # on disk once installed (translation: the converted int8 folder)
    languages: str  # for people: "multilingual", "en", "zh → en"...
    license: str
    note: str = ""  # shown by `livetrans models list`
    install: InstallSource = "hub"  # speech: where it comes from first
    download_mb: int | None = None  # the hub checkpoint, when it differs from size_mb
    sha256: str | None = None  # of model.bin, where known (speech)
    packages: tuple[str, ...] = ()  # pip requirements that install it (speech)
    parts: tuple[str, ...] = ()  # package files joined in order into model.bin (speech)
    files: tuple[str, ...] = ()  # package files copied beside model.bin (speech)
    folder: str | None = None  # a ready package folder, used in place (speech)
    family: str | None = None  # nllb, m2m100 or marian (translation)
    source_lang: str | None = None  # single-pair translation models: the pair
    target_lang: str | None = None

    @property
    def install_hint(self) -> str:
        """What a user can run to install it without the hub, or how to get it."""
        if self.packages:
            return "pip install " + " ".join(self.packages)
        return f"run `livetrans models pull {self.name}` on a machine with network"


def _entry(name: str, item: dict[str, Any]) -> CatalogEntry:
    pair = item.get("pair") or (None, None)
    return CatalogEntry(
        name=name,
        kind=item["kind"],
        hub=item.get("hub"),
        size_mb=int(item["size_mb"]),
        languages=item["languages"],
        license=item["license"],
        note=item.get("note", ""),
        install=item.get("install", "hub"),
        download_mb=item.get("download_mb"),
        sha256=item.get("sha256"),
        packages=tuple(item.get("packages", ())),
        parts=tuple(item.get("parts", ())),
        files=tuple(item.get("files", ())),
        folder=item.get("folder"),
        family=item.get("family"),
        source_lang=pair[0],
        target_lang=pair[1],
    )


@lru_cache(maxsize=1)
def _load_all() -> dict[str, CatalogEntry]:
    text = importlib.resources.files("livetrans").joinpath(CATALOG_RESOURCE).read_text("utf-8")
    raw: dict[str, dict[str, Any]] = json.loads(text)["models"]
    return {name: _entry(name, item) for name, item in raw.items()}


def load_catalog(kind: ModelKind | None = None) -> dict[str, CatalogEntry]:
    """The catalog shipped as package data: every model, or those of one ``kind``."""
    entries = _load_all()
    if kind is None:
        return dict(entries)
    return {name: e for name, e in entries.items() if e.kind == kind}


def cache_dir() -> Path:
    """``$LIVETRANS_CACHE_DIR``, else ``~/.cache/livetrans``."""
    configured = os.environ.get("LIVETRANS_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "livetrans"


def speech_cache_dir() -> Path:
    """Speech models: ``cache_dir()/whisper``."""
    return cache_dir() / "whisper"


def mt_cache_dir() -> Path:
    """Translation models: ``cache_dir()/mt`` (``hub/`` checkpoints, ``ct2/`` conversions)."""
    return cache_dir() / "mt"


def hub_folder(root: Path, repo_id: str) -> Path:
    """Where a hub repo is downloaded under ``root``: ``root/hub/<org>--<repo>``."""
    return root / "hub" / repo_id.replace("/", "--")
