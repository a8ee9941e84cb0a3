"""A fake pymilvus: collections kept in memory per name, cosine search, `user_id == "x"` filters.
Ids come from the row's content, so they do not depend on the order of concurrent inserts."""

import hashlib
import math
import re
import threading
import time

_LOCK = threading.Lock()
_ROWS: dict[str, dict[int, dict]] = {}
CALL_SECONDS = 0.02


class _Connections:
    def __init__(self) -> None:
        self.made: list[dict] = []

    def connect(self, alias: str = "default", **kwargs) -> None:
        self.made.append({"alias": alias, **kwargs})


connections = _Connections()


class _Entity(dict):
    pass


class Hit:
    def __init__(self, id_: int, distance: float, fields: dict) -> None:
        self.id = id_
        self.distance = distance
        self.entity = _Entity(fields)


class MutationResult:
    def __init__(self, keys: list[int]) -> None:
        self.primary_keys = keys
        self.insert_count = len(keys)


def _row_id(user_id: str, text: str) -> int:
    return int(hashlib.sha256(f"{user_id}\0{text}".encode()).hexdigest()[:12], 16)


def _cosine(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


class Collection:
    def __init__(self, name: str, **_ignored) -> None:
        self.name = name
        self.loaded = False
        with _LOCK:
            _ROWS.setdefault(name, {})

    @property
    def num_entities(self) -> int:
        with _LOCK:
            return len(_ROWS[self.name])

    def load(self, **_ignored) -> None:
        time.sleep(CALL_SECONDS)
        self.loaded = True

    def insert(self, data, **_ignored) -> MutationResult:
        user_ids, texts, vectors = data
        time.sleep(CALL_SECONDS)
        keys = []
        with _LOCK:
            for user_id, text, vector in zip(user_ids, texts, vectors):
                key = _row_id(user_id, text)
                _ROWS[self.name][key] = {"user_id": user_id, "text": text, "vector": list(vector)}
                keys.append(key)
        return MutationResult(keys)

    def search(self, data, anns_field, param, limit, expr=None, output_fields=None, **_ignored):
        time.sleep(CALL_SECONDS)
        wanted_user = None
        if expr:
            m = re.fullmatch(r'\s*user_id\s*==\s*"([^"]*)"\s*', expr)
            if not m:
                raise ValueError(f"fake pymilvus cannot parse expr {expr!r}")
            wanted_user = m.group(1)
        with _LOCK:
            rows = list(_ROWS[self.name].items())
        results = []
        for query in data:
            scored = [
                (_cosine(query, row["vector"]), key, row)
                for key, row in rows
                if wanted_user is None or row["user_id"] == wanted_user
            ]
            scored.sort(key=lambda t: (-t[0], t[1]))
            results.append(
                [Hit(key, score, {f: row[f] for f in (output_fields or []) if f in row}) for score, key, row in scored[:limit]]
            )
        return results
