"""The README as a newcomer reads it: every setting listed, every file it names present."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    settings = (ROOT / "src/terminflow/settings.py").read_text()
    read = set(re.findall(r'_(?:env|flag|number)\("([A-Z_]+)"', settings))
    table = README[README.index("## Configuration") : README.index("## Scale-out")]
    listed = set(re.findall(r"`TERMINFLOW_([A-Z_]+)`", table))

    assert read - listed == set()
    assert "EMBEDDED_WORKER" in read


def test_every_file_the_docs_name_exists() -> None:
    named = set()
    for doc in ("README.md", "CONTRIBUTING.md", "docs/architecture.md", "bench/README.md"):
        text = (ROOT / doc).read_text()
        named |= set(re.findall(r"`((?:docs|bench|src|tests|frontend|\.ci)/[\w./-]+)`", text))
        named |= set(re.findall(r"`([\w.-]*/[\w./-]+\.(?:md|py|toml))`", text))
        named |= set(re.findall(r"\b([A-Z]+\.md)\b", text))

    # A bare module path (``kit/groupcommit.py``) is relative to the package.
    bases = (ROOT, ROOT / "docs", ROOT / "bench", ROOT / "src/terminflow")
    missing = sorted(name for name in named if not any((base / name).exists() for base in bases))
    assert missing == []
