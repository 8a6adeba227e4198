"""``livetrans models pull NAME``: install any catalog model, or a hub id, now."""

from __future__ import annotations

from pathlib import Path

from .catalog import load_catalog


def pull(name: str, *, progress: bool = True) -> Path:
    """Download (and for translation, convert) ``name``; the folder it ends in.

    A speech catalog name, a hub id with "whisper" in it, or a local speech folder
    is a speech model; anything else is a translation model.
    """
    entry = load_catalog().get(name)
    if (entry is not None and entry.kind == "speech") or (
        entry is None and "whisper" in name.lower()
    ):
        from .speech import resolve_whisper_model

        return resolve_whisper_model(name, progress=progress)
    from ..mt.models import pull as pull_translation

    return pull_translation(name, progress=progress)
