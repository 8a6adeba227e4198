"""Pure streaming stages: no asyncio, sockets, files or model libraries here."""
