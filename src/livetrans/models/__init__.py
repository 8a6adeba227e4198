"""The model registry: where speech and translation models come from.

One catalog (``catalog.py``, ``livetrans/data/models.json``) lists both kinds in
one format; one downloader (``hub.py``) fetches from the Hugging Face Hub with a
progress bar on stderr and one clear error when there is no network; ``status.py``
says what is installed and ``pull.py`` installs a model now. Each kind resolves
its own folders: ``speech.py`` (CTranslate2 Whisper) and ``livetrans.mt.models``
(translation checkpoints, converted by ``livetrans.mt.convert``).
"""

from __future__ import annotations

from .catalog import CatalogEntry, ModelKind, cache_dir, load_catalog
from .hub import hub_offline
from .pull import pull
from .speech import (
    DEFAULT_MODEL,
    join_model_parts,
    missing_model_files,
    resolve_whisper_model,
)
from .status import InstallStatus, ModelStatus, format_model_table, list_models

__all__ = [
    "DEFAULT_MODEL",
    "CatalogEntry",
    "InstallStatus",
    "ModelKind",
    "ModelStatus",
    "cache_dir",
    "format_model_table",
    "hub_offline",
    "join_model_parts",
    "list_models",
    "load_catalog",
    "missing_model_files",
    "pull",
    "resolve_whisper_model",
]
