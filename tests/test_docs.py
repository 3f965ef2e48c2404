"""The documentation: a page and a sample per kind, linked from the README; links that lead
somewhere; samples that the collector reads as they are written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector.config import load_config
from collector.sources import SourceKind, load_kinds
from tests.harness import ROOT, kind_folder

KINDS = list(load_kinds().values())
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *(kind_folder(kind) / "README.md" for kind in KINDS)]


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation out, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {_slug(heading) for heading in headings}


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_every_kind_has_its_page_and_sample_linked_from_the_readme(kind: SourceKind) -> None:
    folder = kind_folder(kind)
    page = folder / "README.md"
    assert page.is_file(), f"{kind.name} has no README.md"
    assert (folder / "sample.toml").is_file(), f"{kind.name} has no sample.toml"
    assert f"(kind `{kind.name}`)" in page.read_text(encoding="utf-8").splitlines()[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"({page.relative_to(ROOT)})" in readme, f"README.md does not link {page}"


@pytest.mark.parametrize("page", _pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.relative_to(ROOT)}: {target} leads nowhere"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file), f"{page.relative_to(ROOT)}: no heading #{anchor}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_the_sample_is_a_working_configuration(kind: SourceKind, tmp_path: Path) -> None:
    """Read as written, with its secret files (paths on a real machine) made here."""
    text = (kind_folder(kind) / "sample.toml").read_text(encoding="utf-8")
    for secret in set(re.findall(r'"(/run/secrets/[^"]+)"', text)):
        made = tmp_path / Path(secret).name
        made.write_text("sample-pw\n", encoding="utf-8")
        text = text.replace(f'"{secret}"', f'"{made}"')
    sample = tmp_path / "sample.toml"
    sample.write_text(text, encoding="utf-8")
    config = load_config(need_sink=False, environ={"COLLECTOR_CONFIG": str(sample)}, cwd=tmp_path)
    assert config.instances, kind.name
    assert {instance.kind for instance in config.instances} == {kind.name}
    names = re.findall(r'^name = "([^"]+)"', text, re.M)
    assert sorted(instance.name for instance in config.instances) == sorted(names)
