"""Every registry entry has a data card with front matter that agrees with the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.data.registry import dataset_names, get_entry

CARDS = Path(__file__).resolve().parents[2] / "data_cards"
SECTIONS = (
    "What it is",
    "Source",
    "License",
    "Splits and sizes",
    "Known mismatch rate",
    "How to obtain",
    "How the workbench uses it",
)


def _front_matter(text: str) -> dict[str, str]:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "a card starts with YAML front matter between --- lines"
    fields = {}
    for line in match.group(1).splitlines():
        if line and not line.startswith(" "):
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


@pytest.mark.parametrize("name", dataset_names())
def test_card_exists_and_matches_registry(name: str) -> None:
    entry = get_entry(name)
    text = (CARDS / f"{entry.card}.md").read_text(encoding="utf-8")
    meta = _front_matter(text)
    assert meta["name"] == name and meta["kind"] == entry.kind and meta["registry_entry"] == name
    assert {"source", "license", "known_mismatch_rate"} <= meta.keys()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == list(SECTIONS)
    for f in entry.files:  # the card names where each file lands (or its directory)
        assert Path(f.path).name in text or str(Path(f.path).parent) in text, f.path


def test_no_card_without_registry_entry() -> None:
    cards = {p.stem for p in CARDS.glob("*.md") if p.stem != "README"}
    assert cards == {get_entry(n).card for n in dataset_names()}
