"""What is installed: every catalog model's status, for ``livetrans models list``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import hub
from .catalog import CatalogEntry, ModelKind, load_catalog
from .speech import hub_model_complete, joined_model, packaged_model, packages_present

InstallStatus = Literal["installed", "downloadable", "missing"]


@dataclass(frozen=True)
class ModelStatus:
    """A catalog model as ``livetrans models list`` shows it."""

    name: str
    kind: ModelKind
    languages: str
    size_mb: int
    license: str
    status: InstallStatus  # downloadable: fetched from the hub on first use or by pull
    path: Path | None  # where it is, once installed
    note: str  # how it got there, or how to get it

    @classmethod
    def of(
        cls, entry: CatalogEntry, status: InstallStatus, path: Path | None, note: str
    ) -> ModelStatus:
        """The status of ``entry``."""
        return cls(
            entry.name, entry.kind, entry.languages, entry.size_mb, entry.license, status, path, note
        )


def speech_status(entry: CatalogEntry) -> ModelStatus:
    """Whether a speech model is installed (package folder, joined parts, hub download)."""

    if (folder := packaged_model(entry)) is not None:
        return ModelStatus.of(entry, "installed", folder, f"from {', '.join(entry.packages)}")
    if (joined := joined_model(entry)) is not None:
        return ModelStatus.of(entry, "installed", joined, "joined from PyPI packages")
    if packages_present(entry):
        return ModelStatus.of(entry, "installed", None, "PyPI packages present; joined on first use")
    if entry.hub is not None and (done := hub_model_complete(entry.hub)) is not None:
        return ModelStatus.of(entry, "installed", done, f"downloaded from {entry.hub}")
    if entry.hub is not None and not hub.hub_offline():
        extra = f"; or {entry.install_hint}" if entry.packages else ""
        return ModelStatus.of(entry, "downloadable", None, f"hub {entry.hub} on first use{extra}")
    return ModelStatus.of(entry, "missing", None, entry.install_hint)


def list_models(kind: ModelKind | None = None) -> list[ModelStatus]:
    """Every catalog model (or those of one ``kind``): installed, downloadable or missing."""
    from ..mt.models import translation_status  # lazy: mt.models imports this module

    return [
        speech_status(entry) if entry.kind == "speech" else translation_status(entry)
        for entry in load_catalog(kind).values()
    ]


def format_model_table(statuses: Sequence[ModelStatus]) -> str:
    """A plain-text table for ``livetrans models list``."""
    header = ("NAME", "KIND", "LANGUAGES", "SIZE", "LICENSE", "STATUS", "WHERE / HOW")
    rows = [
        (
            s.name,
            s.kind,
            s.languages,
            f"{s.size_mb} MB",
            s.license.split(" (")[0],
            s.status,
            str(s.path) if s.path else s.note,
        )
        for s in statuses
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + "  " + row[-1]
        for row in (header, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)
