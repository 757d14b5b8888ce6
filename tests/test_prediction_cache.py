"""The per-image prediction cache: resume, torn writes, key invalidation."""

from __future__ import annotations

import pytest

from bench.accuracy.cache import PredictionCache, cache_key, reference_code_version
from bench.errors import BenchError

PEOPLE = [{"keypoints": [0.1 + 1e-17, 2.0 / 3.0, 0.5] * 14, "score": 0.123456789012345678}]


def test_round_trip_is_exact_and_spans_shards(tmp_path):
    fields = {"checkpoint": "abc", "scales": [1]}
    PredictionCache(tmp_path, fields, "rank0").append([(1, PEOPLE), (2, [])])
    PredictionCache(tmp_path, fields, "rank1").append([(3, PEOPLE)])
    cached = PredictionCache(tmp_path, fields).load()
    assert cached == {1: PEOPLE, 2: [], 3: PEOPLE}
    assert cached[1][0]["score"] == PEOPLE[0]["score"]


def test_torn_last_line_is_dropped_and_appending_continues(tmp_path):
    cache = PredictionCache(tmp_path, {"k": 1})
    cache.append([(1, PEOPLE)])
    with open(cache.shard_path, "a") as handle:
        handle.write('{"image_id": 2, "peo')
    assert set(cache.load()) == {1}
    cache.append([(2, PEOPLE)])
    assert set(PredictionCache(tmp_path, {"k": 1}).load()) == {1, 2}


def test_changed_key_starts_empty(tmp_path):
    PredictionCache(tmp_path, {"checkpoint": "a"}).append([(1, PEOPLE)])
    assert PredictionCache(tmp_path, {"checkpoint": "b"}).load() == {}
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})
    assert len(reference_code_version()) == 64


def test_corrupt_entry_names_the_file(tmp_path):
    cache = PredictionCache(tmp_path, {"k": 2})
    cache.shard_path.write_text('{"image_id": 1}\n')
    with pytest.raises(BenchError, match="predictions-rank0.jsonl:1"):
        cache.load()

