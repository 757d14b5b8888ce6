"""What moved a number: ``bench ab`` measures two commits of this repository, or two environments, in
one job, interleaved, and ``bench bisect`` searches the commits (or the released versions of one
dependency) between a good and a bad one with ``ab`` as its test.

Read in this order: ``revisions`` (git: full shas, the first-parent commits between two), ``checkouts``
(a commit's files, extracted once per sha), ``runner`` (how one side runs, a source tree and an
interpreter: ``python -m bench profile`` and ``reproduce`` in a subprocess, or a runner a test
injects), ``environments`` (a virtual environment per requirements file, built once), ``sides`` (what
a REF names and the side it makes), ``speed`` (paired per-round statistics: Wilcoxon signed-rank, Holm,
bootstrap interval of the ratio), ``accuracy`` (per-image comparison of the two sides' predictions),
``ab`` (the rounds and the verdict lines), ``bisection`` (the search, over commits or versions),
``package_index`` and ``versions`` (the versions of a dependency that ``bisect --package`` searches).
"""
