"""The live caption server: WebSocket ingest and fan-out, resume, HTTP routes, overlay.

``livetrans serve`` (``command.py``) runs it; ``app.CaptionServer`` embeds it.
The wire protocol is in docs/protocol.md.
"""
