"""The one Hugging Face Hub downloader, for speech and translation models.

A download goes into its final folder and is marked complete last, so a folder
without the marker is resumed, never used. Progress goes to stderr (tqdm); an
unreachable hub fails at once with what to do instead.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelError, ModelNotInstalledError

log = logging.getLogger(__name__)

HUB_ETAG_TIMEOUT = 5.0  # s to reach the hub before we call it unreachable
HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # org/repo
DONE_MARKER = ".livetrans-complete"  # written into a folder once its download is whole
# Exception class names that mean "no network" from huggingface_hub's HTTP clients
# (httpx or requests), which it does not always wrap in its own errors.
_NETWORK_ERRORS = ("TransportError", "ConnectionError", "Timeout", "TimeoutException")

FileChooser = Callable[[Sequence[str]], Sequence[str]]


def hub_offline() -> bool:
    """True when the user asked huggingface_hub to stay offline (HF_HUB_OFFLINE)."""
    flag = os.environ.get("HF_HUB_OFFLINE", "")
    return flag.strip().lower() in {"1", "true", "yes", "on"}


def is_complete(dest: Path) -> bool:
    """Whether ``dest`` holds a whole download."""
    return (dest / DONE_MARKER).is_file()


def placed_by_hand(dest: Path, required_file: str) -> bool:
    """Whether a user put a model in ``dest`` themselves: it holds ``required_file`` and
    none of huggingface_hub's download state (an interrupted download of ours has it)."""
    return (dest / required_file).is_file() and not (dest / ".cache" / "huggingface").exists()


def no_network(name: str, repo_id: str, dest: Path, why: str = "the hub is unreachable") -> str:
    """The one offline message: what failed and the two ways out."""
    return (
        f"no network: cannot download model {name!r} ({repo_id}) because {why}:"
        f" put the model at {dest} or run on a machine with network"
    )


def download(
    repo_id: str,
    dest: Path,
    *,
    name: str,
    allow_patterns: Sequence[str] = (),
    choose_files: FileChooser | None = None,
    progress: bool = True,
) -> Path:
    """Download ``repo_id`` into ``dest`` (files matching ``allow_patterns``).

    ``choose_files`` picks more files from the repo's listing (e.g. one copy of the
    weights). Raises ModelNotInstalledError when offline (HF_HUB_OFFLINE or the hub
    unreachable), ModelError when the repo does not exist or writing fails.
    """
    if is_complete(dest):
        return dest
    if hub_offline():
        raise ModelNotInstalledError(no_network(name, repo_id, dest, "HF_HUB_OFFLINE is set"))
    import huggingface_hub
    from huggingface_hub import errors as hub_errors

    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now, not at import
    log.info("downloading %s from the hub into %s", repo_id, dest)
    try:
        patterns = list(allow_patterns)
        if choose_files is not None:
            # model_info fails at once when the hub is unreachable (listing retries).
            info = huggingface_hub.HfApi(endpoint=endpoint).model_info(repo_id)
            patterns.extend(choose_files([s.rfilename for s in info.siblings or []]))
        huggingface_hub.snapshot_download(
            repo_id,
            local_dir=dest,
            allow_patterns=patterns,
            etag_timeout=HUB_ETAG_TIMEOUT,
            endpoint=endpoint,
            tqdm_class=_progress_bar(enabled=progress),
        )
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError) as e:
        raise ModelError(
            f"no model {repo_id!r} on the hub (nor a local folder of that name): check the name"
        ) from e
    except hub_errors.LocalEntryNotFoundError as e:  # offline, refused, timed out
        raise ModelNotInstalledError(no_network(name, repo_id, dest)) from e
    except hub_errors.HfHubHTTPError as e:
        raise ModelError(f"downloading {repo_id!r} from the hub failed: {e}".splitlines()[0]) from e
    except OSError as e:
        raise ModelError(f"cannot write model files to {dest}: {e.strerror or e}") from e
    except Exception as e:
        if any(c.__name__ in _NETWORK_ERRORS for c in type(e).__mro__):
            raise ModelNotInstalledError(no_network(name, repo_id, dest)) from e
        raise
    return dest


def mark_complete(dest: Path, repo_id: str) -> None:
    """Mark ``dest`` whole, once its files are checked."""
    (dest / DONE_MARKER).write_text(repo_id + "\n", encoding="utf-8")


def _progress_bar(*, enabled: bool) -> Any:
    """A tqdm class that draws on stderr (stdout carries the command's output)."""
    from tqdm.auto import tqdm

    class StderrTqdm(tqdm):  # type: ignore[type-arg]  # any item type
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["file"] = sys.stderr
            if not enabled:
                kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return StderrTqdm
