"""What `bench gate` prints: how the golden and the rerun ran (a reduced-precision golden with a warning),
per row how many images are identical, within tolerance or changed; on a pass the exact binomial bound
on the share of the set that changes; on a failure the changed images (people, the largest joint move,
the matches) and every published metric's estimated full-set change with its 95% interval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.evaluation import metric_text
from bench.evaluation.bootstrap import INTERVAL_METRICS
from bench.evaluation.image_diff import PoseChange
from bench.gate.check import FULL_PRECISION, GateOutcome, RowOutcome
from bench.gate.estimate import changed_fraction_bound, differing_counts
from bench.reports.markdown import markdown_table
from reference.crowdpose import JOINT_NAMES

MAX_LISTED = 20
"""Most changed images listed (then a count)."""
CONFIDENCE = 0.95


def gate_text(outcome: GateOutcome) -> str:
    """The gate's summary (see the module docstring), ending with the line that says why it exits so."""
    images = len(outcome.image_ids)
    total = outcome.header.data.num_images
    header = outcome.header
    lines = [f"gate: {outcome.draw.describe()} of golden {outcome.golden} (content sha256 "
             f"{outcome.golden_sha256[:12]}..., {total} images), rerun: {outcome.rerun.report}",
             f"golden recorded on {header.device} with {header.runtime} {header.precision} (environment "
             f"{header.environment_fingerprint}), rerun on {outcome.rerun.describe()}"]
    if header.precision != FULL_PRECISION:
        lines.append(f"a {header.precision} golden: reduced-precision reruns round otherwise on another "
                     "device or runtime, so an image may differ beyond the tolerances by that rounding "
                     "noise alone; read a changed image with that in mind")
    tolerance = f"within {outcome.tolerance_px:g} px and {outcome.tolerance_score:g} in score"
    lines += [f"{row.name}: {row.count('identical')} identical, {row.count('within tolerance')} {tolerance}, "
              f"{row.count('changed')} changed" for row in outcome.rows]
    changed = outcome.changed_images
    if not changed:
        bound = changed_fraction_bound(0, images, CONFIDENCE)
        lines.append(f"0 of {images} images changed: with {CONFIDENCE:.0%} confidence at most {bound:.1%} of "
                     f"the test set changes (at most {int(bound * total)} of its {total} images; exact "
                     "binomial, Clopper-Pearson)")
        return "\n".join(lines)
    listed = [change_line(outcome, row, change) for row in outcome.rows
              for change, status in zip(row.changes, row.statuses, strict=True) if status == "changed"]
    lines += ["", "changed images:", *listed[:MAX_LISTED]]
    if len(listed) > MAX_LISTED:
        lines.append(f"... and {len(listed) - MAX_LISTED} more")
    lines += ["", f"estimated full-set change, rerun - golden ({CONFIDENCE:.0%} intervals: stratified "
                  f"bootstrap over the {images} images, widened where few of them differ; their coverage: "
                  "`bench gate --coverage`):",
              estimate_table(outcome), "",
              f"{len(changed)} of {images} images changed: the gate fails (an improvement too, until the "
              "golden is recorded again with `python -m bench golden record`)"]
    return "\n".join(lines)


def change_line(outcome: GateOutcome, row: RowOutcome, change: PoseChange) -> str:
    """One changed image: people before and after, the largest joint move, the largest score change and
    the people matched at OKS .5 with their mean OKS (golden -> rerun)."""
    before, after = change.people
    stratum = outcome.stratum(change.image_id)
    text = f"{row.name}: image {change.image_id} ({stratum}): {before} -> {after} people"
    largest = change.largest_move()
    if largest is not None:
        person, other = change.pairs[largest]
        joint = JOINT_NAMES[change.joints[largest]]
        text += (f"; largest joint move {change.moves_px[largest]:.3g} px ({joint} of person {person} -> "
                 f"{other}); largest score change {max(change.score_changes):.3g}")
    if row.matches is not None:
        match = row.matches.set_index("image_id").loc[change.image_id]
        oks = ["-" if np.isnan(match[column]) else f"{match[column]:.3f}"
               for column in ("mean_oks_a", "mean_oks_b")]
        text += (f"; matched at OKS .5 {int(match['matched_a'])} -> {int(match['matched_b'])}, mean OKS "
                 f"{oks[0]} -> {oks[1]}")
    return text


def estimate_table(outcome: GateOutcome) -> str:
    """Per row with a changed image and published metric: the golden's full-set value, the estimated
    change and its interval, the estimated new value, and the drawn images that differ among the
    metric's (the interval widens as they get fewer; with none, a split's interval is [0, 0] and says
    nothing about it)."""
    records = []
    for row in outcome.rows:
        counts = differing_counts(row.differing, outcome.strata)
        for name in INTERVAL_METRICS if row.estimate else ():
            delta = row.estimate[name]
            golden = row.golden_metrics.get(name)
            records.append({"row": row.name, "metric": name, "golden": metric_text(golden),
                            "change": "-" if delta.delta is None else f"{delta.delta:+.4f}",
                            "95% interval": "-" if delta.ci95 is None else
                            f"[{delta.ci95[0]:+.4f}, {delta.ci95[1]:+.4f}]",
                            "estimated": "-" if delta.delta is None or golden in (None, -1.0)
                            else metric_text(golden + delta.delta), "differing images": counts[name]})
    return markdown_table(pd.DataFrame.from_records(records))
