"""Multi-file samples: `--group 'REGEX'` stacks each sample's channel files.

Microscopes often write one file per channel (`A01_s1_w1.tif`, `A01_s1_w2.tif`, ...). The
regular expression, searched in each relative path, must name two groups: `sample` (the
sample id, which becomes the leaf name) and `channel`. Files it does not match are ignored.
The channel order is fixed for the whole folder: every channel name seen, sorted naturally
(`w2` before `w10`). A sample lacking one of them, or naming a channel twice, is skipped and
reported; so is (later, when read) a sample with an unreadable channel file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from infohier_cli.data.samples import Sample
from infohier_cli.errors import UserError


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs by value: w2 < w10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def compile_group(pattern: str) -> re.Pattern:
    """The `--group` regex, checked: it compiles and names `sample` and `channel`."""
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise UserError(f"--group: not a regular expression ({error})") from None
    missing = {"sample", "channel"} - set(regex.groupindex)
    if missing:
        raise UserError(
            f"--group needs the named groups (?P<sample>...) and (?P<channel>...); "
            f"missing {', '.join(sorted(missing))}"
        )
    return regex


def group_samples(
    paths: Iterable[str], pattern: str
) -> tuple[list[Sample], list[tuple[str, str]], list[str]]:
    """Group relative paths into samples -> (samples sorted by id, skipped (id, reason),
    channel order)."""
    regex = compile_group(pattern)
    files: dict[str, dict[str, str]] = {}
    doubled: dict[str, str] = {}
    for path in paths:
        match = regex.search(path)
        sample, channel = (match.group("sample"), match.group("channel")) if match else ("", "")
        if not (sample and channel):  # no match, or a group that took no part (`(...)?`, `|`)
            continue
        if channel in files.setdefault(sample, {}):
            doubled[sample] = f"channel {channel!r} given twice"
        files[sample][channel] = path
    if not files:
        raise UserError(f"--group {pattern!r} matches no image file")
    channels = sorted({c for found in files.values() for c in found}, key=natural_key)
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for sample in sorted(files):
        lacking = [c for c in channels if c not in files[sample]]
        if sample in doubled:
            skipped.append((sample, doubled[sample]))
        elif lacking:
            skipped.append((sample, f"missing channel(s) {', '.join(lacking)}"))
        else:
            samples.append(Sample(sample, tuple(files[sample][c] for c in channels)))
    if not samples:
        raise UserError(f"--group {pattern!r}: no sample has all channels ({', '.join(channels)})")
    return samples, skipped, channels


def folder_samples(folder: Path, pattern: str = "") -> tuple[list[Sample], list[tuple[str, str]]]:
    """The samples under `folder`: with a `--group` `pattern`, channel files stacked into
    samples; without, each image file one. -> also what was left out, (id, reason): the
    subfolders that cannot be read (id `path/`) and the incomplete samples."""
    from infohier_cli.data.discover import discover_images, discover_samples

    unreadable: list[tuple[str, str]] = []
    if not pattern:
        return discover_samples(folder, lambda *entry: unreadable.append(entry)), unreadable
    paths = discover_images(folder, lambda *entry: unreadable.append(entry))
    samples, incomplete, _ = group_samples(paths, pattern)
    return samples, unreadable + incomplete
