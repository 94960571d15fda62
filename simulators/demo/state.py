"""``demo-state.json``: what the demo started and how its story is going, for tools and tests.

Written atomically (temp file + rename) on every update, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any


class StateFile:
    """A JSON document kept on disk; ``update`` merges top-level keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()

    def update(self, **values: Any) -> None:
        """Merge ``values`` into the document and write it."""
        with self._lock:
            self._data.update(values)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps(self._data, indent=2, ensure_ascii=False, default=str),
                encoding="utf-8",
            )
            tmp.replace(self.path)

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level value."""
        with self._lock:
            return self._data.get(key, default)
