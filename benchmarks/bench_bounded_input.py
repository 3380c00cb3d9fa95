"""Bounded input (issue 22, item 4): time and peak memory of refusing the issue's hostile cohort files.

Each case runs ``watchwait predict`` in a fresh process (the refusal a user gets), timing it from the outside and
reading the process's peak resident memory (VmHWM); the baseline row is the same process refusing an
``--out`` that is a folder, before any file is read (the CLI's own imports). Run: ``python benchmarks/bench_bounded_input.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data" / "sample_patients.csv"
CHILD = ("import json, sys\n"
         "def peak_mb():  # this program's own peak (VmHWM): ru_maxrss would count the forked parent's pages too\n"
         "    line = next(x for x in open('/proc/self/status') if x.startswith('VmHWM:'))\n"
         "    return int(line.split()[1]) / 1024\n"
         "from watchwait.cli import main\ncode = main(sys.argv[1:])\n"
         "print(json.dumps({'code': code, 'rss_mb': peak_mb()}))\n")


def run(cohort: Path, out: Path) -> tuple[float, dict, str]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, "predict", "--cohort", str(cohort), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - t
    return took, json.loads(r.stdout.strip().splitlines()[-1]), r.stderr.strip()


def main() -> None:
    header = SAMPLES.read_text().splitlines()[0]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        cases = {}
        wide = "patient_id," + ",".join(f"c{i}" for i in range(100_000))
        (d / "wide.csv").write_text(wide + "\n" + ("P1" + ",0" * 100_000 + "\n") * 15)
        cases["15 rows x 100,000 columns (2.2 MB)"] = d / "wide.csv"
        with (d / "huge.csv").open("wb") as fh:
            fh.write(header.encode() + b"\nDEMO-01,")
            fh.truncate(1024 ** 3 + 100)
        cases["a 1 GB cell (1 GB file)"] = d / "huge.csv"
        (d / "line.csv").write_text(header + "\nDEMO-01," + "S" * 50_000_000 + "\n")
        cases["a 50 MB cell (one 50 MB line)"] = d / "line.csv"
        (d / "ok.csv").write_bytes(SAMPLES.read_bytes())
        (d / "folder").mkdir()
        print("| case | exit | wall time (s) | peak RSS (MB) | message |")
        print("|---|---|---|---|---|")
        took, got, err = run(d / "ok.csv", d / "folder")
        print(f"| baseline: `--out` is a folder (nothing read) | {got['code']} | {took:.2f} | {got['rss_mb']:.0f} | {err[:90]} |")
        for name, path in cases.items():
            took, got, err = run(path, d / "p.csv")
            print(f"| {name} | {got['code']} | {took:.2f} | {got['rss_mb']:.0f} | {err[:140]} |")


if __name__ == "__main__":
    main()
