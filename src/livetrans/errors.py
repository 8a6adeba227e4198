"""One exception tree for everything livetrans reports to a user.

    LivetransError                 base; the CLI prints its message on one line, exits 1
    ├── InputError                 audio that cannot be opened or decoded, empty audio
    ├── ModelError                 a model that cannot be found, fetched or loaded
    │   └── ModelNotInstalledError   offline and not installed: says what to install
    ├── LanguageError              a language or language pair a model cannot do
    ├── GlossaryError              a glossary file that cannot be read
    └── ProtocolError              a client broke the WebSocket protocol
"""


class LivetransError(Exception):
    """Base class: the message says what was wrong and what to do."""


class InputError(LivetransError):
    """Audio input that cannot be opened, decoded, or holds no samples."""


class ModelError(LivetransError):
    """A model that cannot be resolved, downloaded or loaded."""


class ModelNotInstalledError(ModelError):
    """A model that is neither installed nor reachable offline."""


class LanguageError(LivetransError):
    """An unknown language code, or a pair the chosen model cannot translate."""


class GlossaryError(LivetransError):
    """A glossary file that is missing or malformed."""


class ProtocolError(LivetransError):
    """A client message that breaks the caption/ingest protocol."""
