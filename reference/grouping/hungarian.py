"""munkres 1.1.4's assignment (``Munkres().compute``), step for step, vectorized with numpy.

Why: the fast matcher lets munkres break deciding ties (`reference.grouping.match.solve_fast`), and the
pure-Python package costs milliseconds per call on a crowded joint (most of the match stage on the broad
speed case, where 10 of 13 joints tie). This port takes the same decisions on the same float64 values, so
it returns the same pairs for every input (ties included), at numpy speed. Loops run over the
algorithm's steps (and step 2's rows), never over matrix elements.

Shapes: R rows and C columns of the cost matrix, padded with zeros to the N x N square, N = max(R, C),
as munkres pads. What it reproduces, per step of munkres:

1. each row minus its minimum;
2. zeros starred row by row, each at the first zero whose column has no star yet;
3. columns with a star covered; done when all N are;
4. uncovered zeros primed one by one, each found by munkres' cyclic search: the first row at or after
   the start row (wrapping round) with an uncovered zero, and in it the LAST uncovered zero in the column
   order that starts at the start column and wraps round. The search starts at (0, 0) on entering step 4
   and at (primed row, its star's column) after a prime whose row has a star (that row is covered and
   the star's column uncovered); a prime without a star in its row goes to step 5, no uncovered zero
   to step 6;
5. the alternating path from that prime: the star in its column, the prime in the star's row, and so on;
   its primes become the stars, then covers and primes are cleared (back to step 3);
6. the smallest uncovered value added to every covered row, THEN subtracted from every uncovered column
   (an element in both gets ``(x + m) - m``, rounded twice as munkres rounds it); back to step 4.

Pairs come out row by row, without those in padding rows or columns. Costs must be finite and below 2**63
in magnitude, as the matcher's are (munkres starts its minimum search at ``sys.maxsize``); munkres' own
arithmetic on them, Python or numpy floats, is the same IEEE float64 arithmetic.
"""

from __future__ import annotations

import numpy as np


def _first_from(mask: np.ndarray, start: int) -> int:
    """Index of the first True of ``mask`` [N] (one exists) in the cyclic order start, ..., N-1, 0, ..."""
    offset = int(mask[start:].argmax())
    return start + offset if mask[start + offset] else int(mask.argmax())


def _last_from(mask: np.ndarray, start: int) -> int:
    """Index of the last True of ``mask`` [N] (one exists) in the cyclic order start, ..., N-1, 0, ...:
    the largest True before ``start`` if there is one, else the largest."""
    if start > 0:
        before = mask[start - 1::-1]
        offset = int(before.argmax())
        if before[offset]:
            return start - 1 - offset
    return len(mask) - 1 - int(mask[::-1].argmax())


def _star_rows_greedily(zero: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: row by row, a star at the first zero of a column that has none; [N] star column of each
    row and star row of each column, -1 for none."""
    size = len(zero)
    star_col = np.full(size, -1)
    star_row = np.full(size, -1)
    for row in range(size):
        free = zero[row] & (star_row < 0)
        col = int(free.argmax())
        if free[col]:
            star_col[row], star_row[col] = col, row
    return star_col, star_row


def _shift_by_smallest(work: np.ndarray, row_covered: np.ndarray, col_covered: np.ndarray) -> None:
    """Step 6 in place on ``work`` [N, N]: the smallest uncovered value added to the covered rows, then
    subtracted from the uncovered columns."""
    smallest = work[np.ix_(~row_covered, ~col_covered)].min()
    work[row_covered] += smallest
    work[:, ~col_covered] -= smallest


def munkres_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """The (row, column) pairs munkres 1.1.4's ``Munkres().compute(cost)`` returns for the [R, C] float64
    matrix ``cost``, in its order (rows ascending). ``cost`` is not written (munkres writes a numpy one);
    it is solved in float64 whatever its dtype (munkres would use a float32 matrix's own arithmetic)."""
    num_rows, num_cols = cost.shape
    size = max(num_rows, num_cols)
    work = np.zeros((size, size))
    work[:num_rows, :num_cols] = cost
    work -= work.min(axis=1, keepdims=True)  # step 1
    zero = work == 0
    star_col, star_row = _star_rows_greedily(zero)

    while True:
        col_covered = star_row >= 0  # step 3
        if col_covered.all():
            break
        row_covered = np.zeros(size, dtype=bool)
        prime_col = np.full(size, -1)
        uncovered = zero & ~col_covered  # [N, N] uncovered zeros, kept up to date with the covers
        has_uncovered = uncovered.any(axis=1)  # [N] rows holding one
        start_row = start_col = 0
        while True:  # step 4, with step 6 whenever no uncovered zero is left
            if not has_uncovered.any():  # step 6
                _shift_by_smallest(work, row_covered, col_covered)
                zero = work == 0
                uncovered = zero & ~row_covered[:, None] & ~col_covered
                has_uncovered = uncovered.any(axis=1)
                start_row = start_col = 0
                continue
            row = _first_from(has_uncovered, start_row)
            col = _last_from(uncovered[row], start_col)
            prime_col[row] = col
            if star_col[row] < 0:
                break
            start_row, start_col = row, int(star_col[row])
            row_covered[row] = True
            col_covered[start_col] = False
            uncovered[row] = has_uncovered[row] = False
            uncovered[:, start_col] = freed = zero[:, start_col] & ~row_covered
            has_uncovered |= freed

        while True:  # step 5: the primes of the path become its stars
            next_row = int(star_row[col])
            star_row[col], star_col[row] = row, col
            if next_row < 0:
                break
            row, col = next_row, int(prime_col[next_row])

    kept = np.flatnonzero((star_col[:num_rows] >= 0) & (star_col[:num_rows] < num_cols))
    return [(int(row), int(star_col[row])) for row in kept]
