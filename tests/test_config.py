"""The config schema: every shipped config is valid, and the table for a study is its own."""

from pathlib import Path

import pytest

from fem_fhn.config import DEFAULT_CONFIG, SECTIONS, ConfigError, load_config, parse_config
from fem_fhn.registry import check_tables, kind_of, scheme_of

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "demos").glob("*.toml")) + [DEFAULT_CONFIG]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    """Parsed, and its tables and time scheme belong to the model it chooses."""
    config = load_config(path)
    assert config.source == str(path)
    kind = kind_of(config)
    check_tables(config, kind)
    assert scheme_of(config, kind) in kind.schemes


def test_limit_study_configs_carry_a_kinetic_table():
    for path in SHIPPED:
        if path.name.startswith("limit_study"):
            config = load_config(path)
            assert config.kinetic is not None and config.solver.model == "kinetic", path.name


def test_registered_table_is_accepted_and_validated():
    from dataclasses import dataclass

    from fem_fhn.config import TABLES, register_table
    from fem_fhn.params import require

    @dataclass(frozen=True)
    class Extra:
        size: int = 3

        def __post_init__(self):
            require(self.size > 0, "size", self.size, "an integer > 0")

    register_table("extra_table", Extra)
    try:
        assert parse_config({"extra_table": {"size": 5}}).table("extra_table") == Extra(5)
        assert parse_config({}).table("extra_table") is None
        with pytest.raises(ConfigError, match="extra_table.size = 0 is not allowed"):
            parse_config({"extra_table": {"size": 0}})
        with pytest.raises(ConfigError, match="unknown key 'extra_table.colour'"):
            parse_config({"extra_table": {"colour": 1}})
        with pytest.raises(ValueError, match="built-in"):
            register_table("time", Extra)
    finally:
        TABLES.pop("extra_table")
    assert parse_config({}).table("time").scheme == "auto"


def test_unknown_table_and_key_are_named():
    with pytest.raises(ConfigError, match="unknown key 'limit_studdy'"):
        parse_config({"limit_studdy": {}})
    with pytest.raises(ConfigError, match="limit_study.perturbation_exponant"):
        parse_config({"limit_study": {"perturbation_exponant": 0.1}})
    assert "limit_study" in SECTIONS and "budget" in SECTIONS
