"""A live stream's vocabulary, replaced while it runs (ingest message, control API).

Without a bus the new vocabulary goes straight to the stream's pipeline; scaled
out it is kept in Redis and reaches whichever worker owns the stream, now or
after a failover.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..core.vocabulary import Vocabulary
from ..errors import ProtocolError
from .protocol import parse_vocabulary_message

if TYPE_CHECKING:
    from .app import CaptionServer

logger = logging.getLogger(__name__)


async def update_vocabulary(server: CaptionServer, name: str, data: dict[str, Any]) -> int:
    """Replace a live stream's vocabulary from its next utterance on (the ingest
    message and the control API's PUT); returns its number of terms.

    Raises ``ProtocolError`` for bad terms, ``LookupError`` when the stream is not
    live, ``LivetransError`` when Redis is unreachable. Scaled out, the vocabulary is
    kept in Redis and goes to whichever worker owns the stream (now, or after a
    failover)."""
    vocabulary = parse_vocabulary_message(data)
    if server.bus is None:
        stream = server.producing.get(name)
        if stream is None or not stream.live or not set_vocabulary(server, name, vocabulary):
            raise LookupError(f"no live stream {name!r} here")
    else:
        if name not in server.producing and not await server.bus.is_live(name):
            raise LookupError(f"no live stream {name!r} on the bus")
        await server.bus.publish_vocabulary(name, data)
        set_vocabulary(server, name, vocabulary)  # the owner is this process: at once
    logger.info("stream %s: vocabulary replaced (%d terms)", name, len(vocabulary))
    return len(vocabulary)


def apply_control(server: CaptionServer, name: str, data: dict[str, Any]) -> None:
    """A worker: a control message for a stream it owns, from the bus."""
    if data.get("type") != "vocabulary":
        logger.warning("stream %s: unknown control message %r skipped", name, data.get("type"))
        return
    try:
        set_vocabulary(server, name, parse_vocabulary_message(data))
    except ProtocolError as e:
        logger.warning("stream %s: bad vocabulary on the bus skipped: %s", name, e)


def set_vocabulary(server: CaptionServer, name: str, vocabulary: Vocabulary) -> bool:
    """Replace a producing stream's vocabulary from its next utterance on; False
    when the stream runs no pipeline here or its pipeline takes none."""
    pipeline = server.pipelines.get(name)
    setter = getattr(pipeline, "set_vocabulary", None)
    if setter is None:
        return False
    setter(vocabulary)
    return True
