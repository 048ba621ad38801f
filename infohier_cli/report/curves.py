"""Training curves for the HTML report: the run's log as inline SVG line charts.

A chart maps epoch e and value v to the plot box [x0, x0 + w] × [y0, y0 + h]:

    x = x0 + w · (e − e_min) / (e_max − e_min),   y = y0 + h · (1 − (v − v_min) / (v_max − v_min))

(a zero range maps to the middle). Non-finite values are left out of their line. A dashed
vertical line marks the first epoch in which the hierarchical loss was on (`hc_active`);
before it (the contrastive-only warm-up) the hierarchical loss has no point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
LOSSES = ("loss", "contrastive", "hierarchical")
WIDTH, HEIGHT = 560, 220
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 40, 36
LEGEND_STEP = 90  # px between legend entries (right-aligned above the plot)


def read_log(path: Path, warn: Callable[[str], None] = print) -> list[dict]:
    """The epochs of a `train_log.jsonl` (one JSON object a line); [] when there is none.
    A line that is not a JSON object (a damaged log) is left out, with a note naming it."""
    path = Path(path)
    if not path.is_file():
        return []
    entries, bad = [], []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            bad.append(number)
    if bad:
        warn(f"note: {path}: {len(bad)} line(s) are not training log entries (first: line "
             f"{bad[0]}); the curves leave them out")  # fmt: skip
    return entries


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _scale(value: float, low: float, high: float, start: float, length: float) -> float:
    return start + length * ((value - low) / (high - low) if high > low else 0.5)


def _tick(value: float) -> str:
    return f"{value:.3g}"


def line_chart(
    epochs: Sequence[float],
    series: dict[str, Sequence[float]],
    title: str,
    marker: float | None = None,
) -> str:
    """An SVG chart of each series (name -> values, one per epoch) against `epochs`."""
    x0, y0 = MARGIN_LEFT, MARGIN_TOP
    w, h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    values = [v for line in series.values() for v in line if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    first, last = min(epochs), max(epochs)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{x0}" y="16" class="title">{escape(title)}</text>',
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" class="frame"/>',
    ]
    for value in (low, (low + high) / 2, high):
        y = _scale(value, low, high, y0 + h, -h)
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" class="tick end">{_tick(value)}</text>')
    for epoch in sorted({first, last}):
        x = _scale(epoch, first, last, x0, w)
        parts.append(f'<text x="{x:.1f}" y="{y0 + h + 16}" class="tick mid">{epoch:g}</text>')
    parts.append(f'<text x="{x0 + w / 2}" y="{HEIGHT - 4}" class="tick mid">epoch</text>')
    if marker is not None:
        x = _scale(marker, first, last, x0, w)
        parts.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + h}" class="marker"/>')
    for i, (name, line) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [
            (_scale(e, first, last, x0, w), _scale(v, low, high, y0 + h, -h))
            for e, v in zip(epochs, line, strict=True)
            if math.isfinite(v)
        ]
        if len(points) == 1:
            ((x, y),) = points
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        elif points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}"/>')
        legend_x = x0 + w - LEGEND_STEP * (len(series) - 1 - i)
        parts.append(
            f'<text x="{legend_x}" y="{y0 - 8}" class="tick end" fill="{colour}">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def training_charts(log: list[dict]) -> str:
    """The losses and the learning rate per epoch, as two SVG charts ('' without a log)."""
    if not log:
        return ""
    epochs = [_number(entry.get("epoch", i + 1)) for i, entry in enumerate(log)]
    losses = {name: [_number(entry.get(name)) for entry in log] for name in LOSSES}
    losses["hierarchical"] = [  # not computed during the warm-up: no point there
        v if entry.get("hc_active", True) else math.nan
        for v, entry in zip(losses["hierarchical"], log, strict=True)
    ]
    active = [e for e, entry in zip(epochs, log, strict=True) if entry.get("hc_active")]
    marker = min(active) if active and not log[0].get("hc_active") else None
    lr = {"--lr": [_number(entry.get("lr")) for entry in log]}
    title = "losses" + (" (dashed line: the hierarchical loss starts)" if marker else "")
    return line_chart(epochs, losses, title, marker) + line_chart(
        epochs, lr, "learning rate (the --lr schedule)"
    )
