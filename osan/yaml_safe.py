"""YAML for configs and benchmark specs without aliases, and read with a size cap.

``yaml.safe_load`` runs no code, but an alias (``*name``) repeats what its anchor built: a
540-byte spec nesting anchors expands to 10^9 leaves. Our configs and specs never need one, so
:func:`load_yaml` refuses every alias before anything is built (an anchor alone is harmless),
and :func:`read_yaml_text` refuses a file larger than :data:`MAX_YAML_BYTES` or one that is not
a regular file (a FIFO would hang, ``/dev/zero`` would never end).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

#: Largest config or spec file read (1 MiB; ours are a few KiB).
MAX_YAML_BYTES = 1 << 20


class YamlRefused(ValueError):
    """A YAML text that could be read but is refused (one line)."""


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            mark = event.start_mark
            raise YamlRefused(
                f"line {mark.line + 1}, column {mark.column + 1}: YAML alias *{event.anchor} "
                "refused (aliases repeat data without bound; write the value out)"
            )
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with every alias refused (:class:`YamlRefused`); a syntax error is
    ``yaml.YAMLError`` as before."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml_text(path: str | Path, limit: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes. Raises ``OSError``
    (missing, unreadable, a folder), :class:`YamlRefused` (not a regular file, too large) or
    ``UnicodeDecodeError``."""
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not stat.S_ISREG(st.st_mode):
        raise YamlRefused("not a regular file (a FIFO, socket or device); refused")
    if st.st_size > limit:
        raise YamlRefused(f"{st.st_size} bytes, larger than the {limit}-byte limit for YAML")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise YamlRefused(f"larger than the {limit}-byte limit for YAML")
    return data.decode("utf-8")
