"""The per-image prediction cache: resume, torn writes, damaged lines, content digests, key invalidation,
the writers' lock."""

from __future__ import annotations

import json
import threading

import pytest

from bench.accuracy.cache import PredictionCache, _locked, cache_key, image_digests, reference_code_version

PEOPLE = [{"keypoints": [0.1 + 1e-17, 2.0 / 3.0, 0.5] * 14, "score": 0.123456789012345678}]
DIGESTS = {1: "d1", 2: "d2", 3: "d3"}


def entries(*image_ids: int) -> list:
    return [(image_id, DIGESTS[image_id], PEOPLE) for image_id in image_ids]


def test_round_trip_is_exact_and_spans_shards(tmp_path):
    fields = {"checkpoint": "abc", "scales": [1]}
    PredictionCache(tmp_path, fields, "rank0").append([(1, "d1", PEOPLE), (2, "d2", [])])
    PredictionCache(tmp_path, fields, "rank1").append(entries(3))
    cached = PredictionCache(tmp_path, fields).load(DIGESTS)
    assert cached == {1: PEOPLE, 2: [], 3: PEOPLE}
    assert cached[1][0]["score"] == PEOPLE[0]["score"]


def test_torn_last_line_is_dropped_and_appending_continues(tmp_path):
    cache = PredictionCache(tmp_path, {"k": 1})
    cache.append(entries(1))
    with open(cache.shard_path, "a") as handle:
        handle.write('{"image_id": 2, "peo')
    assert set(cache.load(DIGESTS)) == {1}
    cache.append(entries(2))
    assert set(PredictionCache(tmp_path, {"k": 1}).load(DIGESTS)) == {1, 2}


def test_a_replaced_image_is_not_taken_from_the_cache(tmp_path):
    cache = PredictionCache(tmp_path, {"k": 1})
    cache.append(entries(1, 2))
    assert set(cache.load({**DIGESTS, 2: "replaced"})) == {1}
    cache.append([(2, "replaced", [])])
    assert cache.load({**DIGESTS, 2: "replaced"}) == {1: PEOPLE, 2: []}


@pytest.mark.parametrize("damage", [
    lambda record: {**record, "people": []},  # valid JSON, wrong content: fails its checksum
    lambda record: {key: value for key, value in record.items() if key != "check"},
    lambda record: {**record, "image_id": "1"},
])
def test_a_damaged_line_is_dropped_with_a_warning_and_costs_only_its_image(tmp_path, damage):
    cache = PredictionCache(tmp_path, {"k": 2})
    cache.append(entries(1, 2, 3))
    lines = cache.shard_path.read_text().splitlines()
    lines[1] = json.dumps(damage(json.loads(lines[1])))
    cache.shard_path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"1 damaged prediction cache line\(s\) dropped \(predictions-rank0"):
        assert set(cache.load(DIGESTS)) == {1, 3}


def test_a_line_copied_from_another_cache_is_not_used(tmp_path):
    theirs, ours = PredictionCache(tmp_path, {"k": "a"}), PredictionCache(tmp_path, {"k": "b"})
    theirs.append(entries(1))
    ours.shard_path.write_text(theirs.shard_path.read_text())
    with pytest.warns(UserWarning, match="1 damaged prediction cache line"):
        assert ours.load(DIGESTS) == {}


def test_changed_key_starts_empty(tmp_path):
    PredictionCache(tmp_path, {"checkpoint": "a"}).append(entries(1))
    assert PredictionCache(tmp_path, {"checkpoint": "b"}).load(DIGESTS) == {}
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})
    assert len(reference_code_version()) == 64


def test_image_digests_are_of_the_bytes_and_skip_unreadable_files(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"abc")
    digests = image_digests({1: tmp_path / "a.jpg", 2: tmp_path / "missing.jpg"})
    assert digests == {1: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}


def test_an_append_waits_for_the_lock_another_writer_holds(tmp_path):
    """Appends and repairs take an exclusive lock on the shard, so writers sharing a cache folder
    (two runs, or a run and a resumed one) never interleave or truncate each other's lines."""
    cache = PredictionCache(tmp_path, {"k": 3})
    cache.append(entries(1))
    with _locked(cache.shard_path):
        writer = threading.Thread(target=cache.append, args=(entries(2),))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and len(cache.shard_path.read_text().splitlines()) == 1
    writer.join(timeout=30)
    assert set(cache.load(DIGESTS)) == {1, 2}
