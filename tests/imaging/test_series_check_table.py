"""The README's table of series-check decisions (issue 18, Measured) is exactly what the checks decide today on every
image series of ../shared/testdata, the sample images and the synthetic headers of benchmarks/bench_series_checks.py:
a change of the checks that changes a decision or a reason must change the README too."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from imaging_testdata import needs_testdata

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_series_checks", ROOT / "benchmarks" / "bench_series_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_testdata
def test_the_readme_table_is_what_the_checks_decide():
    bench = _bench()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(bench.BEGIN) + len(bench.BEGIN), readme.index(bench.END)
    assert readme[start:end].strip() == bench.markdown().strip()


@needs_testdata
def test_the_table_covers_the_kinds_the_issue_names():
    decided = {series: (decision, reasons) for _, series, decision, reasons in _bench().rows()}
    t1 = decided["mr/sts_025_t1/dicom/image/ (000000.dcm and 24 more files)"]
    assert t1 == ("not fit for the model",
                  "T1-weighted (its description says T1, no TR or TE recorded), not T2; body part EXTREMITY, not pelvis")
    assert decided["T1 spin echo axial (TR 450, TE 15 ms)"] == ("not fit for the model",
                                                              "T1-weighted (TR 450 ms, TE 15 ms), not T2")
    assert decided["Diffusion, b 800 (echo planar)"][0] == "not fit for the model"
    assert decided["T2 TSE coronal"] == ("not fit for the model", "coronal, not axial")
    assert decided["T2 TSE axial, the model's own kind (TR 4000, TE 100 ms, 3 mm)"][0] == "fit for the model"
    samples = [d for s, d in decided.items() if s.startswith("DEMO-")]
    assert len(samples) == 6 and {d for d, _ in samples} == {"fit for the model"}
    # no series of another modality or body region is ever fit
    for series, (decision, reasons) in decided.items():
        if "CT" in reasons.split(",")[0] or "EXTREMITY" in reasons or "HEAD" in reasons:
            assert decision == "not fit for the model", series
