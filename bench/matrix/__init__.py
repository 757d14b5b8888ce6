"""The environment matrix (``nox -s matrix``): the bundled sample (or a subset of the test set) run under
several sets of library versions, each compared with the pinned environment's run image by image.

``declared`` reads the matrix (``environments.toml``: per environment the versions that differ from
constraints.txt); ``environment`` builds an environment's interpreter on top of the shared one;
``measure`` runs inside it (stage goldens and ``reproduce``) and writes its entry; ``table`` reads the
entries and writes ``results/matrix.md`` and ``results/matrix.csv``.
"""
