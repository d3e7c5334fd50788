"""Collection names: the logical name users pass (`--collection company`) and the physical Chroma collection
that currently serves it, kept in `collections.json` in the index folder.

A rebuild (another embedding model) writes into a new physical collection while queries keep using the active
one; `switch` then points the name at the new collection with one atomic file replace, which also lists the old
one as retired. A retired collection (or a build abandoned for another model) is dropped by whoever writes
next, and only then unlisted: a process killed between the switch and the drop leaves nothing behind for long.
A collection never rebuilt has no entry and is served by the collection of the same name.
Not here: the collections themselves (rag.store) or deciding when to rebuild (ingest.reindex).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from rag.records import IndexGeneration

FILE_NAME = "collections.json"


class Entry(TypedDict, total=False):
    active: str  # physical collection serving the name
    model: str  # embedding model of the active collection
    building: str  # physical collection being built, if a rebuild is under way
    building_model: str
    retired: dict[str, str]  # physical collections to drop (with their embedding models)


class CollectionNames:
    def __init__(self, index_dir: Path) -> None:
        self.path = index_dir / FILE_NAME

    def _read(self) -> dict[str, Entry]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def _write(self, data: dict[str, Entry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a reader sees the old or the new mapping, never half
        IndexGeneration(self.path.parent).bump()  # stores of other processes re-read the mapping

    def get(self, name: str) -> Entry | None:
        return self._read().get(name)

    def active(self, name: str) -> str:
        entry = self.get(name)
        return entry["active"] if entry and "active" in entry else name

    def record(self, name: str, physical: str, model: str) -> None:
        data = self._read()
        entry = data.get(name, Entry())
        entry["active"], entry["model"] = physical, model
        data[name] = entry
        self._write(data)

    def begin_build(self, name: str, model: str) -> str:
        """The physical collection to build `name` anew with `model`; the same one again after a crash. A build
        left for another model is retired."""
        data = self._read()
        entry = data.get(name, Entry(active=name))
        if entry.get("building") and entry.get("building_model") == model:
            return entry["building"]
        self._retire_build(entry)
        physical = f"{name}--{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
        entry["building"], entry["building_model"] = physical, model
        data[name] = entry
        self._write(data)
        return physical

    def abandon_build(self, name: str) -> None:
        """Retire a build under way (its model is no longer the configured one)."""
        data = self._read()
        entry = data.get(name)
        if entry and entry.get("building"):
            self._retire_build(entry)
            self._write(data)

    @staticmethod
    def _retire_build(entry: Entry) -> None:
        if entry.get("building"):
            entry.setdefault("retired", {})[entry.pop("building")] = entry.pop("building_model", "")

    def switch(self, name: str, old_model: str) -> str:
        """Make the finished build serve `name`; the collection it replaced (built with `old_model`) is listed
        as retired (and returned)."""
        data = self._read()
        entry = data[name]
        old = entry.get("active", name)
        retired = {**entry.get("retired", {}), old: old_model}
        data[name] = Entry(active=entry["building"], model=entry["building_model"], retired=retired)
        self._write(data)
        return old

    def retired(self, name: str) -> dict[str, str]:
        entry = self.get(name)
        return dict(entry.get("retired", {})) if entry else {}

    def forget(self, name: str, physical: str) -> None:
        """`physical` has been dropped: unlist it."""
        data = self._read()
        entry = data.get(name)
        if entry and physical in entry.get("retired", {}):
            del entry["retired"][physical]
            if not entry["retired"]:
                del entry["retired"]
            self._write(data)
