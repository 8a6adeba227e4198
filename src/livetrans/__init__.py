"""livetrans: real-time multilingual subtitles for live broadcasts.

Audio in → voice activity gating → streaming Whisper recognition (partial and
final words) → sentences → translation → subtitle cues → files, WebSocket
viewers and an OBS overlay.
"""

__version__ = "0.1.0"
