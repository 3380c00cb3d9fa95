"""Bounded input (issue 22, item 4): a cohort file has limits a hospital never reaches by accident (size, columns,
rows, a cell, a line, the site's name), each refused early with a message naming the limit, and memory stays bounded
while refusing: the 100,000-column file and the 1 GB cell of the issue are refused by a real ``watchwait predict``
process whose peak resident memory stays under 200 MB."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from watchwait import validation
from watchwait.errors import CohortFileError, RecordError
from watchwait.validation import read_cohort, validate_record

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data" / "sample_patients.csv"

# The CLI in a process of its own, its peak resident memory (VmHWM of /proc/self/status) printed as the last line.
_CHILD = ("import json, sys\n"
          "def peak_mb():  # this program's own peak (VmHWM): ru_maxrss would count the forked parent's pages too\n"
          "    line = next(x for x in open('/proc/self/status') if x.startswith('VmHWM:'))\n"
          "    return int(line.split()[1]) / 1024\n"
          "from watchwait.cli import main\n"
          "code = main(sys.argv[1:])\n"
          "print(json.dumps({'code': code, 'rss_mb': peak_mb()}))\n")


def _predict(cohort: Path, out: Path) -> tuple[dict, str]:
    r = subprocess.run([sys.executable, "-c", _CHILD, "predict", "--cohort", str(cohort), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr.strip()


def _sample_text(rows: int = 2) -> tuple[list[str], list[list[str]]]:
    frame = pd.read_csv(SAMPLES, dtype=str, keep_default_na=False).head(rows)
    return list(frame.columns), frame.values.tolist()


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    pd.DataFrame(rows, columns=header).to_csv(buf, index=False)
    return buf.getvalue().encode()


def test_the_100000_column_file_is_refused_by_a_real_process_under_200_mb(tmp_path):
    header = "patient_id," + ",".join(f"c{i}" for i in range(100_000))  # 15 rows of 100,000 cells: 2.2 MB, as the issue's
    (tmp_path / "wide.csv").write_text(header + "\n" + ("P1" + ",0" * 100_000 + "\n") * 15)
    got, err = _predict(tmp_path / "wide.csv", tmp_path / "p.csv")
    assert got["code"] == 2
    assert err == ("watchwait predict: wide.csv: the header has 100,001 columns; a cohort file may have at most "
                   "1,000.")
    assert got["rss_mb"] < 200, got
    assert not (tmp_path / "p.csv").exists()


def test_a_header_beyond_the_line_limit_is_refused_from_its_first_million_characters():
    header = "patient_id," + ",".join(f"extra_column_{i}" for i in range(100_000))  # 1.9 million characters
    with pytest.raises(CohortFileError) as e:
        read_cohort(io.BytesIO(header.encode() + b"\nP1\n"), source="wide.csv")
    assert str(e.value) == ("wide.csv: the header has more than 53,217 columns in its first 1,000,000 characters; a "
                            "cohort file may have at most 1,000 columns.")


def test_a_1_gb_cell_is_refused_by_a_real_process_under_200_mb_without_reading_it(tmp_path):
    header, rows = _sample_text(1)
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:  # a row whose site cell runs to 1 GiB (sparse on disk: the test writes 1 KB)
        fh.write(",".join(header).encode() + b"\n" + b"DEMO-01,")
        fh.truncate(1024 ** 3 + 100)
    got, err = _predict(path, tmp_path / "p.csv")
    assert got["code"] == 2
    assert err == "watchwait predict: huge.csv: 1,024 MB, above the 256 MB a cohort file may have; split it into several files."
    assert got["rss_mb"] < 200, got


def test_a_line_beyond_its_limit_is_refused_after_reading_at_most_the_limit():
    header, rows = _sample_text(2)
    rows[1][header.index("site")] = "S" * 5_000_000  # 5 MB in one line, under the file's limit
    data = _csv(header, rows)
    tracemalloc.start()
    try:
        with pytest.raises(CohortFileError) as e:
            read_cohort(io.BytesIO(data), source="long.csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(e.value) == ("long.csv: row 3 is longer than 1,000,000 characters; a row may have at most 1,000 cells "
                            "of at most 4,096 characters each.")
    assert peak < 12 * 1024 ** 2, peak  # the line limit (1 MB) read a few times over, never the 5 MB line


def test_a_cell_beyond_its_limit_names_its_row_and_column():
    header, rows = _sample_text(2)
    rows[0][header.index("mri_baseline_dir") if "mri_baseline_dir" in header else 1] = "d" * 4_097
    with pytest.raises(CohortFileError) as e:
        read_cohort(io.BytesIO(_csv(header, rows)), source="cell.csv")
    column = "mri_baseline_dir" if "mri_baseline_dir" in header else header[1]
    assert str(e.value) == f"cell.csv: row 2, column '{column}': a cell of 4,097 characters; a cell may have at most 4,096."


def test_a_quoted_cell_over_many_lines_beyond_the_csv_limit_is_refused():
    header, rows = _sample_text(1)
    rows[0][header.index("site")] = "x\n" * 100_000  # 200,000 characters over 100,000 short lines
    with pytest.raises(CohortFileError) as e:
        read_cohort(io.BytesIO(_csv(header, rows)), source="lines.csv")
    assert str(e.value) == "lines.csv: row 2: a cell of more than 131,072 characters; a cell may have at most 4,096."


def test_more_rows_than_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr(validation, "MAX_ROWS", 3)
    header, rows = _sample_text(4)
    with pytest.raises(CohortFileError) as e:
        read_cohort(io.BytesIO(_csv(header, rows)), source="rows.csv")
    assert str(e.value) == "rows.csv: more than 3 patient rows; split the file."
    assert len(read_cohort(io.BytesIO(_csv(header, rows[:3])), source="rows.csv")) == 3


def test_the_site_name_has_a_limit_in_files_and_records():
    header, rows = _sample_text(1)
    rows[0][header.index("site")] = "S" * 201
    with pytest.raises(RecordError) as e:
        read_cohort(io.BytesIO(_csv(header, rows)), source="site.csv")
    assert str(e.value) == "site.csv: 1 invalid value:\n  - row 2, site must be at most 200 characters; got 201."
    record = validation.frame_to_records(read_cohort(SAMPLES))[0]
    with pytest.raises(RecordError, match=r"site must be at most 200 characters; got 10,000\."):
        validate_record({**record, "site": "S" * 10_000})
    assert validate_record({**record, "site": "S" * 200})["site"] == "S" * 200


def test_a_file_object_is_read_from_its_position_and_put_back():
    data = SAMPLES.read_bytes()
    buf = io.BytesIO(data)
    validation.check_bounds(buf, "samples")
    assert buf.tell() == 0 and not buf.closed
    assert len(read_cohort(buf, source="samples")) == len(pd.read_csv(SAMPLES))


def test_the_upload_limit_of_the_patient_screen_is_the_file_limit():
    import ast

    tree = ast.parse((ROOT / "pages" / "patient.py").read_text())
    values = [n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
              and any(getattr(t, "id", None) == "COHORT_UPLOAD_MB" for t in n.targets)]
    assert values == [validation.MAX_FILE_BYTES // 1024 ** 2]
