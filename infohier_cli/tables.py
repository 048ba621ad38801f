"""CSV, TSV and JSON outputs: LF line endings, and any text survives a field.

Every table infohier writes (cuts, embeddings, assign's placements, cluster folders'
`clusters.csv`, `skipped.txt`, the `--labels id` map) goes through `TableWriter`. A field
is written bare unless it holds the delimiter, a double quote, a CR or an LF; then it is
quoted with its double quotes doubled (RFC 4180). Python's `csv.writer` with an LF line
terminator would leave a lone CR unquoted, which readers take for a line end; here a name
with tabs, newlines, CRs, quotes or commas reads back exactly with
`csv.reader(open(f, newline=""), delimiter=...)`.

JSON (tree files, assign's placements) goes through `json_text`: non-ASCII as it is, but a
byte of a name that is not UTF-8 (a lone surrogate of Python's surrogateescape) as a
`\\udcXX` escape, so the file is valid UTF-8 and `json.load` gives the name back exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TextIO


class TableWriter:
    """Rows of fields (`str()` of each; None = empty) as delimited lines ending in LF, on
    a text handle opened with newline="" (CSV; `delimiter="\\t"` for TSV)."""

    def __init__(self, handle: TextIO, delimiter: str = ","):
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ValueError(f"bad delimiter {delimiter!r}")
        self.handle, self.delimiter = handle, delimiter
        self._special = re.compile(f'[{re.escape(delimiter)}"\r\n]')

    def field(self, value: Any) -> str:
        """One field as written: bare, or quoted with '"' doubled when it must be."""
        text = "" if value is None else str(value)
        if self._special.search(text):
            return '"' + text.replace('"', '""') + '"'
        return text

    def writerow(self, row: Iterable[Any]) -> None:
        fields = [self.field(value) for value in row]
        line = '""' if fields == [""] else self.delimiter.join(fields)  # not a blank line
        self.handle.write(line + "\n")

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: Any, **options: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, **options)` with every lone surrogate
    written as its `\\uXXXX` escape (module docstring)."""
    import json

    text = json.dumps(value, ensure_ascii=False, **options)
    return LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
