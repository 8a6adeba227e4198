"""Model adapters for speech: Whisper (faster-whisper) and Silero VAD (onnxruntime)."""
