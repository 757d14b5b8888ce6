"""Our own HigherHRNet-W32 + Associative Embedding: network, test-time pipeline and grouping.

Pure computation: no file or network I/O, no timing, and never an import of ``bench``.
"""
