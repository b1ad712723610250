"""Stable fingerprints of the things that shape a result, used as cache keys across stages."""

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values always serialise the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


FINGERPRINT_LENGTH = 16


def fingerprint(value: Any, length: int = FINGERPRINT_LENGTH) -> str:
    """A short hex digest of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]
