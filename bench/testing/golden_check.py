"""Judging a stage-golden record (``bench.testing.stage_goldens``) against the recorded one: which stages
differ, in pipeline order, and a message that explains the first of them before anything about later
ones, naming the library release that most likely moved it when its version differs from the recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bench.testing.stage_goldens import AGGREGATE, FORWARD, GROUP, NMS_TOPK, POSES, PREPROCESS, STAGES, Record
from bench.testing.summaries import Summary, Tolerance, summary_differences


@dataclass(frozen=True)
class StageExplanation:
    """How a message names a stage (``title``), the library (a ``versions()`` key) whose release most
    likely moves its numbers, and the likely cause with that library's version changed or as recorded."""

    title: str
    library: str
    new_release: str
    same_release: str


EXPLANATIONS = {
    PREPROCESS: StageExplanation("pre-processing", "OpenCV",
                                 "OpenCV's warpAffine output changed between releases",
                                 "the warp (resize) or the normalisation changed"),
    FORWARD: StageExplanation("the network", "torch", "torch's CPU convolutions changed between releases",
                              "the network or its synthetic weights changed"),
    AGGREGATE: StageExplanation("aggregation", "torch", "torch's bilinear resize changed between releases",
                                "the aggregation of the network outputs changed"),
    NMS_TOPK: StageExplanation("NMS/top-k", "torch", "torch's top-k changed between releases",
                               "the heatmap NMS or the top-k changed"),
    GROUP: StageExplanation("grouping", "torch", "torch's arithmetic in adjust or refine changed between "
                            "releases", "matching, adjust or refine changed"),
    POSES: StageExplanation("the final poses", "numpy", "numpy's float64 arithmetic changed between releases",
                            "the mapping back to image pixels changed"),
}


ENTRY_LINES_SHOWN = 4
"""Entries of the first differing stage a message lists in full under its first sentence."""


@dataclass(frozen=True)
class StageDifference:
    """One stage that differs: per entry that differs, where (image, scale or scale row, array) and what
    moved, e.g. ("103319.jpg x1 low", ("mean 0.25 -> 0.5", "max 1.0 -> 1.5"))."""

    stage: str
    entries: tuple[tuple[str, tuple[str, ...]], ...]

    def lines(self) -> list[str]:
        """One line per entry: "103319.jpg x1 low: mean 0.25 -> 0.5, max 1.0 -> 1.5"."""
        return [f"{where}: {', '.join(fields)}" for where, fields in self.entries]


def stage_differences(expected: Record, actual: Record) -> list[StageDifference]:
    """The stages whose entries differ beyond the ``expected`` record's tolerances, in pipeline order; an
    entry present on one side only differs too."""
    found = []
    for stage in STAGES:
        tolerance = _tolerance(expected, stage)
        entries = tuple((f"{label} {name}", tuple(fields))
                        for label, name, old, new in _entries(expected, actual, stage)
                        if (fields := _entry_problems(old, new, tolerance)))
        if entries:
            found.append(StageDifference(stage, entries))
    return found


def _tolerance(record: Record, stage: str) -> Tolerance | None:
    tolerance = record["tolerances"][stage]
    return None if tolerance is None else Tolerance(**tolerance)


def _entries(old: Record, new: Record, stage: str) -> Iterator[tuple[str, str, Summary, Summary]]:
    """(label, array name, old entry, new entry) of one stage, an entry missing on one side as {}."""
    recorded, produced = old.get("stages", {}).get(stage, {}), new["stages"][stage]
    for label in [*recorded, *(label for label in produced if label not in recorded)]:
        before, after = recorded.get(label, {}), produced.get(label, {})
        for name in [*before, *(name for name in after if name not in before)]:
            yield label, name, before.get(name, {}), after.get(name, {})


def _entry_problems(old: Summary, new: Summary, tolerance: Tolerance | None) -> list[str]:
    """`summary_differences`, or that the entry is missing on one side."""
    if not old or not new:
        return ["not recorded" if new else "not produced any more"] if old or new else []
    return summary_differences(old, new, tolerance)


def changed_versions(expected: Record, actual: Record) -> dict[str, tuple[str | None, str | None]]:
    """library -> (recorded version, version now), for the libraries whose versions differ."""
    old, new = expected["versions"], actual["versions"]
    return {name: (old.get(name), new.get(name)) for name in {**old, **new} if old.get(name) != new.get(name)}


def mismatch_message(expected: Record, actual: Record) -> str | None:
    """None when ``actual`` matches ``expected``; else the first differing stage explained in one
    sentence (and a few more of its entries), then the versions that differ from the recorded ones,
    then the later stages that differ. Records taken with other settings are not compared stage by stage."""
    versions = changed_versions(expected, actual)
    version_line = ("versions differ from the recorded ones: "
                    + ", ".join(f"{name} {old} -> {new}" for name, (old, new) in versions.items())
                    if versions else "")
    if expected["settings"] != actual["settings"]:
        return "\n".join(filter(None, [f"the goldens were taken with other settings: {expected['settings']}; "
                                       f"now {actual['settings']}", version_line]))
    differences = stage_differences(expected, actual)
    if not differences:
        return None
    first, *later = differences
    said_all = len(first.entries[0][1]) == 1  # the sentence names the first entry's only moved field
    detail = first.lines()[1:] if said_all else first.lines()
    shown = detail[:ENTRY_LINES_SHOWN]
    hidden = len(detail) - len(shown)
    lines = [_first_stage_sentence(first, expected["versions"], actual["versions"]),
             *(f"  {line}" for line in shown),
             f"  and {hidden} more {first.stage} entries" if hidden else "", version_line,
             f"later stages that also differ: {', '.join(item.stage for item in later)}" if later else ""]
    return "\n".join(filter(None, lines))


def _first_stage_sentence(difference: StageDifference, recorded: dict[str, str], now: dict[str, str]) -> str:
    """E.g. "pre-processing changed: 103319.jpg x2 input: digest differs (recorded with OpenCV 4.9.0, now
    4.10.0): OpenCV's warpAffine output changed between releases"; of an entry with several fields moved,
    the first and how many more."""
    explanation = EXPLANATIONS[difference.stage]
    where, fields = difference.entries[0]
    what = fields[0] + (f" and {len(fields) - 1} more fields" if len(fields) > 1 else "")
    library = explanation.library
    old, new = recorded.get(library), now.get(library)
    if old != new:
        return (f"{explanation.title} changed: {where}: {what} (recorded with {library} {old}, now {new}): "
                f"{explanation.new_release}")
    return (f"{explanation.title} changed: {where}: {what} ({library} {new}, as recorded): "
            f"{explanation.same_release}")


def record_changes(old: Record, new: Record) -> list[str]:
    """What accepting ``new`` over ``old`` changes: versions, settings, tolerances and every entry whose
    fields changed at all, stage by stage, marked where the change is beyond ``new``'s tolerance."""
    lines = [f"{key}: {old.get(key)} -> {new[key]}" for key in ("versions", "settings", "tolerances")
             if old.get(key) != new[key]]
    for stage in STAGES:
        tolerance = _tolerance(new, stage)
        for label, name, before, after in _entries(old, new, stage):
            fields = _entry_problems(before, after, None)
            beyond = " (beyond tolerance)" if _entry_problems(before, after, tolerance) else ""
            lines += [f"{stage} {label} {name}{beyond}: {', '.join(fields)}"] if fields else []
    return lines
