"""A cache of parsed ``site.yaml`` documents, under the data folder.

PyYAML builds a document in Python even with libyaml's parser: 5 ms for a
generated site.yaml, five seconds of every start of a city of 1,000 sites.
The same document read back from JSON costs a tenth of that.

Only the parse is kept, keyed on a hash of the file's text (and of the
PyYAML in use), so an edited file is read afresh on the next load whatever
its size or time stamp say; every check of the document still runs on every
load. Each site has one file, written to a temporary name and renamed, so
two processes that write it at once leave one whole file; a cache that cannot
be read or written is passed over (the site is parsed as without it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

FORMAT = 1  # raise when what is stored changes
_PAIRS = "\x00pairs"  # a mapping whose keys JSON cannot hold: [[key, value], …]


def text_key(text: str, loader: type) -> str:
    """What a cached document is valid for: this text, parsed by this loader."""
    salt = f"{FORMAT}|{yaml.__version__}|{loader.__name__}\n".encode()
    return hashlib.blake2b(salt + text.encode("utf-8"), digest_size=20).hexdigest()


def read(folder: Path, name: str, key: str) -> dict | None:
    """The cached document of site ``name``, if it was parsed from ``key``."""
    try:
        entry = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"),
                           object_hook=_decode_mapping)
        if entry["key"] != key:
            return None
        doc = entry["doc"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # absent, half-copied or hand-edited: parse again
    return doc if isinstance(doc, dict) else None


def write(folder: Path, name: str, key: str, doc: dict) -> None:
    """Keep ``doc`` for the next load, if JSON can hold it exactly."""
    try:
        encoded = _encode(doc)
    except TypeError:  # a YAML date or set: such a site is parsed every time
        return
    text = json.dumps({"key": key, "doc": encoded}, ensure_ascii=False)
    if json.loads(text, object_hook=_decode_mapping)["doc"] != doc:
        return  # NaN, which equals nothing
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, folder / f"{name}.json")
    except OSError as exc:
        log.warning("site cache %s not written: %s", folder, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and _PAIRS not in value:
            return {k: _encode(v) for k, v in value.items()}
        return {_PAIRS: [[_encode(k), _encode(v)] for k, v in value.items()]}
    if type(value) is list:
        return [_encode(v) for v in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    raise TypeError(type(value).__name__)


def _decode_mapping(mapping: dict) -> dict:
    if len(mapping) == 1 and _PAIRS in mapping:
        return dict(mapping[_PAIRS])
    return mapping
