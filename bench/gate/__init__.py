"""Gates a CPU runner can afford: a golden file recorded from a full reproduce run, and a gate that reruns
a stratified random subset of its images and compares them image by image.

``golden`` (what a golden holds, made from a report) and ``golden_file`` (its compressed, self-checking
file) load no torch; ``check`` runs the subset and compares it, ``estimate`` puts a changed subset's
numbers on the full set, ``summary`` says what came out, ``record`` writes it as JSON, and
``simulation`` measures the gate on a generated set (``bench gate --power`` and ``--coverage``).
"""
