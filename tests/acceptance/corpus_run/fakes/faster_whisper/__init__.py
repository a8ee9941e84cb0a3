"""A fake faster_whisper: the "audio" file holds text, one segment per line; transcription takes a
fixed pause that stands for the CPU-bound decoding."""

import time
from dataclasses import dataclass

TRANSCRIBE_SECONDS = 0.1


@dataclass
class Segment:
    id: int
    text: str


@dataclass
class TranscriptionInfo:
    language: str
    duration: float


class WhisperModel:
    def __init__(self, model_size_or_path: str, device: str = "auto", compute_type: str = "default", **_ignored) -> None:
        self.model_size = model_size_or_path

    def transcribe(self, audio, language: str | None = None, vad_filter: bool = False, **_ignored):
        with open(audio, "rb") as fh:
            data = fh.read()
        time.sleep(TRANSCRIBE_SECONDS)
        lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]

        def segments():
            for i, line in enumerate(lines):
                yield Segment(i, " " + line)

        return segments(), TranscriptionInfo(language or "en", len(data) / 3.0)
