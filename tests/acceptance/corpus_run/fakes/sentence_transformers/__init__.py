"""A fake sentence_transformers: `encode` returns a fixed vector per text (letter counts), after a
pause that stands for the model's CPU-bound forward pass. A text with "explode" in it fails."""

import time

import numpy as np

ENCODE_SECONDS = 0.05
DIM = 16


def _vector(text: str) -> list[float]:
    counts = [0.0] * DIM
    for ch in text.lower():
        if ch.isalnum():
            counts[ord(ch) % DIM] += 1.0
    counts[0] += 0.5  # never the zero vector
    return counts


class SentenceTransformer:
    def __init__(self, model_name_or_path: str, device: str | None = None, **_ignored) -> None:
        self.model_name = model_name_or_path
        self.device = device

    def encode(self, sentences, batch_size: int = 32, normalize_embeddings: bool = False, **_ignored):
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        time.sleep(ENCODE_SECONDS)
        if any("explode" in t for t in texts):
            raise RuntimeError("CUDA out of memory (fake)")
        arr = np.array([_vector(t) for t in texts], dtype=np.float64)
        if normalize_embeddings:
            arr = arr / np.linalg.norm(arr, axis=1, keepdims=True)
        return arr[0] if single else arr
