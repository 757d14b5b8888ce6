"""Record the numbers of the official crowdposetools and of xtcocotools on the generated parity cases
(``test_evaluation_parity.CASES``) into ``tests/data/oracle_numbers.json``.

Neither is on PyPI for Python 3.11 (see ``oracles.INSTALL``), so a fresh clone cannot run them; their
numbers, recorded here with a digest of each case's inputs, let every run hold ``bench.evaluation`` to
them. ``test_evaluation_parity`` checks the recorded numbers against the oracles wherever they are
installed. Run from the repository root: ``python tests/record_oracle_numbers.py``.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from oracles import crowdposetools, xtcocotools  # noqa: E402
from test_evaluation_parity import CASES, ORACLE_NUMBERS, case_digest, generated  # noqa: E402

CROWDPOSE_COMMIT = "86fe5e11e570cad02d553db52ec72545578cd1c8"
"""The CrowdPose repository's commit the installed crowdposetools was built from (patched for numpy 2 as
``oracles.INSTALL`` says)."""


def main() -> None:
    cases = {}
    for name in CASES:
        gt, detections = generated(name)
        cases[name] = {"inputs_sha256": case_digest(gt, detections),
                       "crowdposetools": crowdposetools(gt, detections),
                       "xtcocotools": xtcocotools(gt, detections)}
    record = {"oracles": {"crowdposetools": f"{importlib.metadata.version('crowdposetools')} from "
                                            f"github.com/Jeff-sjtu/CrowdPose at {CROWDPOSE_COMMIT}",
                          "xtcocotools": importlib.metadata.version("xtcocotools")},
              "numpy": importlib.metadata.version("numpy"), "cases": cases}
    ORACLE_NUMBERS.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {ORACLE_NUMBERS} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
