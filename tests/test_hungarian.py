"""reference.grouping.hungarian: the vectorized port returns munkres 1.1.4's pairs, order and ties included.

Seeded random matrices of 1 to 60 rows and columns (square, wide and tall) are solved by both; the kinds
are chosen so that ties and float rounding decide: the matcher's own costs (``round(distance) * 100 -
value`` with small distances, 1e10 padding columns), all-equal matrices, small integers with many zeros,
floats of mixed magnitude (0.1, 0.7, 1e10, ...), and tiny and huge values where step 6's ``(x + m) - m``
rounds to 0 (x = 7e-7, m = 2**33, whose ulp is 2**-19 above and 2**-20 below it: ``(x - m) + m`` does not).
Mutants of the port (the other step-6 order, exact step-6 arithmetic, another zero search) must fail on
the same samples, so the samples can tell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from munkres import Munkres

import reference.grouping.hungarian as hungarian
import reference.grouping.match as match
from reference.grouping.hungarian import munkres_assignment
from reference.grouping.match import PADDING_COST, solve_with_scipy

TIED_COST = np.array([[100.0, 100.0, 1e10]] * 3) - 0.5  # three candidates, two people, all equal
H, T = 2.0**33, 7e-7
ROUNDED = np.array([[2 * H] * 5, [H, 0, 0, 0, H], [H, 0, T, 0, 2 * H], [H] * 5, [0, H, H, H, 0],
                    [2 * H, H, H, T, H]])  # step 6 turns a 7e-7 into a zero that decides rows 3 and 4
ROUNDED_PAIRS = [(1, 2), (2, 1), (3, 0), (4, 4), (5, 3)]


def _size(rng: np.random.Generator, small: bool) -> int:
    return int(rng.integers(1, 13 if small else 61))


def _matcher_cost(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """As ``assignment_cost`` builds it: rounded small distances, float32 values in [0, 1), 1e10 padding."""
    distance = rng.uniform(0.0, 3.0, (rows, cols))
    cost = np.round(distance) * 100 - rng.uniform(0.0, 1.0, rows).astype(np.float32)[:, None]
    if rows > cols:
        cost = np.concatenate((cost, np.full((rows, rows - cols), PADDING_COST)), axis=1)
    return cost


def _mixed_floats(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.choice(np.array([0.1, 0.2, 0.3, 0.7, 1.0, 3.0, 1e10]), (rows, cols))


def _wide_magnitudes(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, (rows, cols)) * 10.0 ** rng.integers(-3, 11, (rows, cols))


def _rounding_at_2_33(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.choice(np.array([0.0, 7e-7, 2.0**33, 2.0**34]), (rows, cols), p=[0.2, 0.2, 0.4, 0.2])


KINDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "matcher costs": _matcher_cost,
    "matcher costs unpadded": lambda rng, rows, cols: np.round(rng.uniform(0, 3, (rows, cols))) * 100
    - rng.uniform(0, 1, rows)[:, None],
    "all equal": lambda rng, rows, cols: np.full((rows, cols), float(rng.choice([0.0, 0.1, 5.0, 1e10]))),
    "integers with zeros": lambda rng, rows, cols: rng.integers(0, 3, (rows, cols)).astype(np.float64),
    "mixed floats": _mixed_floats,
    "wide magnitudes": _wide_magnitudes,
    "rounding at 2**33": _rounding_at_2_33,
}
COUNT = 400  # matrices per kind; one in six of up to 60 rows and columns, the rest up to 12


def _matrices(kind: str, seed: int = 0) -> Iterator[np.ndarray]:
    rng = np.random.default_rng([seed, list(KINDS).index(kind)])
    for index in range(COUNT):
        small = index % 6 != 0
        yield KINDS[kind](rng, _size(rng, small), _size(rng, small))


def _munkres_pairs(cost: np.ndarray) -> list[tuple[int, int]]:
    """The package's pairs: on integers as Python ints (exact), else Python floats (a list of lists, so
    that tall matrices are padded too; a numpy matrix is solved in the same float64 arithmetic)."""
    integral = bool((cost == np.round(cost)).all() and np.abs(cost).max() < 2**53)
    matrix = cost.astype(np.int64).tolist() if integral else cost.tolist()
    return [(int(row), int(col)) for row, col in Munkres().compute(matrix)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_port_returns_munkres_pairs(kind):
    for cost in _matrices(kind):
        given = cost.copy()
        assert munkres_assignment(cost) == _munkres_pairs(cost), (kind, cost.shape)
        np.testing.assert_array_equal(cost, given)  # not written


def test_the_port_equals_munkres_on_a_numpy_matrix_as_mmpose_passes_it():
    rng = np.random.default_rng(7)
    for _ in range(50):
        rows = int(rng.integers(1, 40))
        cost = _matcher_cost(rng, rows, int(rng.integers(1, 40)))
        expected = [(int(row), int(col)) for row, col in Munkres().compute(cost.copy())]
        assert munkres_assignment(cost) == expected


def test_step_6_rounds_as_munkres():
    assert (T + H) - H == 0.0 and (T - H) + H != 0.0
    assert _munkres_pairs(ROUNDED) == ROUNDED_PAIRS
    assert munkres_assignment(ROUNDED) == ROUNDED_PAIRS


def test_the_port_breaks_the_documented_tie_as_munkres_not_as_scipy():
    assert munkres_assignment(TIED_COST) == [(0, 2), (1, 1), (2, 0)]
    assert solve_with_scipy(TIED_COST) == [(0, 0), (1, 1), (2, 2)]


def _subtract_then_add(work: np.ndarray, row_covered: np.ndarray, col_covered: np.ndarray) -> None:
    smallest = work[np.ix_(~row_covered, ~col_covered)].min()
    work[:, ~col_covered] -= smallest
    work[row_covered] += smallest


def _exactly(work: np.ndarray, row_covered: np.ndarray, col_covered: np.ndarray) -> None:
    smallest = work[np.ix_(~row_covered, ~col_covered)].min()
    work[np.ix_(~row_covered, ~col_covered)] -= smallest
    work[np.ix_(row_covered, col_covered)] += smallest


def _first_not_last(mask: np.ndarray, start: int) -> int:
    offset = int(mask[start:].argmax())
    return start + offset if mask[start + offset] else int(mask.argmax())


@pytest.mark.parametrize("mutant", [_subtract_then_add, _exactly])
def test_another_step_6_arithmetic_fails(monkeypatch, mutant):
    monkeypatch.setattr(hungarian, "_shift_by_smallest", mutant)
    assert munkres_assignment(ROUNDED) != ROUNDED_PAIRS
    assert any(munkres_assignment(cost) != _munkres_pairs(cost) for cost in _matrices("rounding at 2**33"))


@pytest.mark.parametrize(("name", "mutant"), [
    ("_last_from", _first_not_last),  # the first uncovered zero of the row instead of the last
    ("_first_from", lambda mask, start: int(mask.argmax())),  # the row search always from row 0
])
@pytest.mark.parametrize("kind", ["matcher costs", "integers with zeros"])
def test_another_zero_search_fails(monkeypatch, name, mutant, kind):
    monkeypatch.setattr(hungarian, name, mutant)
    assert any(munkres_assignment(cost) != _munkres_pairs(cost) for cost in _matrices(kind))


def test_the_fast_matcher_no_longer_calls_the_munkres_package(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the fast path called the munkres package")

    monkeypatch.setattr(match, "Munkres", refuse)
    assert match.solve_fast(TIED_COST.copy(), np.ones((3, 2), dtype=bool)) == [(0, 2), (1, 1), (2, 0)]
