"""README's module map matches the files, and the layout keeps its seams."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "infohier_cli"


def architecture_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]


def test_readme_module_map_names_every_module_and_nothing_else():
    section = architecture_section()
    modules = {p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    for module in modules:
        folder = f"{module.parent}/" if module.parent != Path(".") else None
        assert module.name in section, f"{module} is missing from README's Architecture"
        if folder:
            assert folder in section, f"{folder} is missing from README's Architecture"
    named = set(re.findall(r"\b([a-z_]+\.py)\b", section))
    assert named <= {m.name for m in modules}, named - {m.name for m in modules}


def test_run_folder_file_names_live_only_in_run_py():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "run.py":
            continue
        code = path.read_text(encoding="utf-8")
        for name in ("checkpoint.pt", "embeddings.npz", "skipped.txt", "train_log.jsonl"):
            assert f'"{name}"' not in code, f"{path.relative_to(ROOT)} spells {name}"


def test_the_fit_loop_reads_in_one_sitting():
    from infohier_cli.training.fit import fit

    assert len(inspect.getsource(fit).splitlines()) <= 40
