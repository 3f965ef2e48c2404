"""The settings models' own contract: a validator that reads another field needs that field
declared before it, and a model that breaks this fails when it is defined."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError, field_validator

from collector.settings import SourceSettings, https_ca
from collector.sources import load_kinds


def test_a_validator_reading_a_later_field_is_refused_when_the_model_is_defined() -> None:
    with pytest.raises(TypeError, match="'ca_file' reads 'url', which must be declared before"):

        class Backwards(SourceSettings):  # ca_file first: its check would never see url
            reads_before: ClassVar[dict[str, tuple[str, ...]]] = {"ca_file": ("url",)}

            measurement: str = "m"
            ca_file: Path | None = None
            url: str = "http://device"

            _https = field_validator("ca_file")(https_ca)


def test_a_subclass_keeps_its_bases_entries() -> None:
    class Base(SourceSettings):
        reads_before: ClassVar[dict[str, tuple[str, ...]]] = {"ca_file": ("url",)}

        measurement: str = "m"

    with pytest.raises(TypeError, match="'ca_file' reads 'url'"):

        class Sub(Base):  # its own entry adds to the base's, which it breaks
            reads_before: ClassVar[dict[str, tuple[str, ...]]] = {"timeout": ("interval",)}

            interval: float = 5.0
            timeout: float | None = None
            ca_file: Path | None = None
            url: str = "http://device"


def test_in_order_the_check_sees_the_other_field(tmp_path: Path) -> None:
    class InOrder(SourceSettings):
        reads_before: ClassVar[dict[str, tuple[str, ...]]] = {"ca_file": ("url",)}

        measurement: str = "m"
        url: str = "http://device"
        ca_file: Path | None = None

        _https = field_validator("ca_file")(https_ca)

    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ValidationError, match="only makes sense with an https:// URL"):
        InOrder(url="http://device", ca_file=ca)
    assert InOrder(url="https://device", ca_file=ca).ca_file == ca


def test_every_registered_kind_keeps_the_contract() -> None:
    for kind in load_kinds().values():
        declared = list(kind.settings.model_fields)
        for klass in kind.settings.__mro__:
            for name, earlier in vars(klass).get("reads_before", {}).items():
                for other in earlier:
                    assert declared.index(other) < declared.index(name), (kind.name, name)
