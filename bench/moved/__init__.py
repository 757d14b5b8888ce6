"""What moved a number: ``bench ab`` measures two commits of this repository in one job, interleaved,
and ``bench bisect`` searches the commits between a good and a bad one with ``ab`` as its test.

Read in this order: ``revisions`` (git: full shas, the first-parent commits between two), ``checkouts``
(a commit's files, extracted once per sha), ``runner`` (how one side runs: ``python -m bench profile``
and ``reproduce`` in a subprocess, or a runner a test injects), ``speed`` (paired per-round statistics:
Wilcoxon signed-rank, Holm, bootstrap interval of the ratio), ``accuracy`` (per-image comparison of the
two sides' predictions), ``ab`` (the rounds and the verdict lines), ``bisect`` (the search).
"""
