"""``--config FILE.toml``: one table per command, every key checked where the file enters."""

from __future__ import annotations

import pytest

from bench.commands import config_file
from bench.commands.config_file import read_config
from bench.errors import BenchError

SCHEMA = {"workers": int, "ratio": float, "name": str, "on": bool, "ids": list, "pipeline": dict,
          "bootstrap": {"resamples": int, "seed": int}}


def written(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_table_is_read_and_recorded_with_the_file(tmp_path):
    path = written(tmp_path, '[reproduce]\nworkers = 0\nratio = 2\nname = "x"\non = true\nids = [1, 2]\n'
                             '[reproduce.pipeline]\nstage_aggregation = "2020"\n'
                             '[reproduce.bootstrap]\nresamples = 10\n[profile]\niters = 3\n')
    table, record = read_config(path, "reproduce", SCHEMA)
    assert table == {"workers": 0, "ratio": 2, "name": "x", "on": True, "ids": [1, 2],
                     "pipeline": {"stage_aggregation": "2020"}, "bootstrap": {"resamples": 10}}
    assert record.path == str(path) and len(record.sha256) == 64 and record.table == table
    assert read_config(path, "diff", SCHEMA) == ({}, config_file.ConfigFile(str(path), record.sha256, {}))
    assert read_config(None, "reproduce", SCHEMA) == ({}, None)


@pytest.mark.parametrize(("text", "message"), [
    ("[reproduc]\nworkers = 1\n", r"unknown table\(s\) \['reproduc'\]"),
    ("[reproduce]\nworker = 1\n", r"\[reproduce\]: unknown key\(s\) \['worker'\]; known: bootstrap"),
    ('[reproduce]\nworkers = "2"\n', r"\[reproduce\]: workers must be int, got '2'"),
    ("[reproduce]\nworkers = true\n", r"workers must be int, got True"),
    ("[reproduce]\non = 1\n", r"on must be bool, got 1"),
    ("[reproduce]\nratio = 'a'\n", r"ratio must be float, got 'a'"),
    ("[reproduce.bootstrap]\nseed = 1.5\n", r"\[reproduce\].bootstrap: seed must be int, got 1.5"),
    ("[reproduce]\nbootstrap = 3\n", r"\[reproduce\].bootstrap must be a table, got 3"),
    ("[reproduce\n", "not valid TOML"),
])
def test_a_bad_file_is_refused_naming_the_file_the_table_and_the_key(tmp_path, text, message):
    path = written(tmp_path, text)
    with pytest.raises(BenchError, match=message) as raised:
        read_config(path, "reproduce", SCHEMA)
    assert str(path) in str(raised.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(BenchError, match="config file .*none.toml does not exist"):
        read_config(tmp_path / "none.toml", "reproduce", SCHEMA)
