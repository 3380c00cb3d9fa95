"""Fuzzers of what parses untrusted input. Each is bounded (``WATCHWAIT_FUZZ_EXAMPLES`` cases per
fuzzer, default small enough for CI) and prints its case count; raise the variable for a campaign:

    WATCHWAIT_FUZZ_EXAMPLES=20000 python -m pytest tests/fuzz -q -s -p no:cacheprovider
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))  # imaging_testdata

EXAMPLES = int(os.environ.get("WATCHWAIT_FUZZ_EXAMPLES", "150"))
