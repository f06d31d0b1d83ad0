"""The config schema: every shipped config is valid, and the table for a study is its own."""

from pathlib import Path

import pytest

from fem_fhn.config import DEFAULT_CONFIG, SECTIONS, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "demos").glob("*.toml")) + [DEFAULT_CONFIG]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    config = load_config(path)
    assert config.source == str(path)


def test_limit_study_configs_carry_a_kinetic_table():
    for path in SHIPPED:
        if path.name.startswith("limit_study"):
            assert load_config(path).kinetic is not None, path.name


def test_unknown_table_and_key_are_named():
    with pytest.raises(ConfigError, match="unknown key 'limit_studdy'"):
        parse_config({"limit_studdy": {}})
    with pytest.raises(ConfigError, match="limit_study.perturbation_exponant"):
        parse_config({"limit_study": {"perturbation_exponant": 0.1}})
    assert "limit_study" in SECTIONS and "budget" in SECTIONS
