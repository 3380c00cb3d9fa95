"""The series checks' decisions on every image series of ``../shared/testdata``, the sample images and synthetic
series of the kinds a rectal MRI examination holds (T1, T2, diffusion, coronal, sagittal, post-contrast...).

    .venv/bin/python benchmarks/bench_series_checks.py [--markdown]

Prints one row per series: what it is, the decision (fit / not fit / not settled) and the reasons in the words the
Imaging screen shows. ``--markdown`` prints the table the README carries between the markers
``<!-- series-checks:begin -->`` and ``<!-- series-checks:end -->``; tests/imaging/test_series_check_table.py checks
the README's table is exactly what this prints (so a change of the checks that changes a decision changes the README).

Real series are grouped by Series Instance UID and read header-only (``stop_before_pixels``); a file that does not
parse is skipped (the malformed-file tests cover those). Synthetic series are header mappings built here from the
model's own training images (TR 4000 ms, TE 100 ms, 3 mm slices, 0.8 mm pixels) with one thing changed.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pydicom  # noqa: E402
from pydicom.errors import InvalidDicomError  # noqa: E402

from watchwait.imaging._reading import quiet_pydicom  # noqa: E402
from watchwait.imaging.series_check import check_series, description_terms  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
SAMPLES = ROOT / "sample_data" / "imaging"
BEGIN, END = "<!-- series-checks:begin -->", "<!-- series-checks:end -->"

AXIAL = [1, 0, 0, 0, 1, 0]
CORONAL = [1, 0, 0, 0, 0, -1]
SAGITTAL = [0, 1, 0, 0, 0, -1]


def _tilted(degrees: float) -> list[float]:
    a = math.radians(degrees)
    return [1, 0, 0, 0, math.cos(a), math.sin(a)]


def _t2(description: str = "t2_tse_tra", **changes) -> dict:
    """Headers of the model's own kind of series with ``changes``; ``description``: the Series Description, read
    through the same fixed vocabulary as a real file's (only its words of that vocabulary are kept)."""
    h = {"Modality": "MR", "RepetitionTime": 4000, "EchoTime": 100, "ScanningSequence": "SE",
         "ImageOrientationPatient": AXIAL, "SliceThickness": 3.0, "PixelSpacing": [0.8, 0.8],
         "BodyPartExamined": "PELVIS", "description_terms": list(description_terms(description))}
    h.update(changes)
    return {k: v for k, v in h.items() if v is not None}


#: (what it is, headers). Values are typical of a 1.5/3 T rectal protocol (conventional MR physics ranges).
SYNTHETIC: list[tuple[str, dict]] = [
    ("T2 TSE axial, the model's own kind (TR 4000, TE 100 ms, 3 mm)", _t2()),
    ("T2 TSE oblique axial, 20 degrees (perpendicular to the tumour)", _t2(ImageOrientationPatient=_tilted(20))),
    ("T2 TSE oblique axial, 40 degrees", _t2(ImageOrientationPatient=_tilted(40))),
    ("T2 TSE coronal", _t2("t2_tse_cor", ImageOrientationPatient=CORONAL)),
    ("T2 TSE sagittal", _t2("t2_tse_sag", ImageOrientationPatient=SAGITTAL)),
    ("T2 TSE axial, 6 mm slices", _t2(SliceThickness=6.0)),
    ("T2 TSE axial, 1.5 mm pixels", _t2(PixelSpacing=[1.5, 1.5])),
    ("T1 spin echo axial (TR 450, TE 15 ms)", _t2("t1_se_tra", RepetitionTime=450, EchoTime=15)),
    ("T1 gradient echo post-contrast (VIBE)", _t2("t1_vibe_tra_post", RepetitionTime=4.5, EchoTime=2.0,
                                                    ScanningSequence="GR", ContrastBolusAgent=True)),
    ("Diffusion, b 800 (echo planar)", _t2("ep2d_diff_b800_tra", RepetitionTime=5000, EchoTime=70,
                                           ScanningSequence="EP", DiffusionBValue=800)),
    ("ADC map", _t2("ep2d_diff_tra_ADC", RepetitionTime=None, EchoTime=None, ScanningSequence=None)),
    ("STIR (inversion recovery)", _t2("stir_tra", InversionTime=150, ScanningSequence="IR")),
    ("Proton density (TR 3000, TE 20 ms), no description", _t2("", RepetitionTime=3000, EchoTime=20)),
    ("T2, no orientation recorded", _t2(ImageOrientationPatient=None)),
    ("T2 axial of the brain", _t2("t2_tse_tra", BodyPartExamined="HEAD")),
    ("CT of the pelvis", {"Modality": "CT", "ImageOrientationPatient": AXIAL, "SliceThickness": 3.0,
                          "PixelSpacing": [0.8, 0.8], "BodyPartExamined": "PELVIS", "description_terms": []}),
]


def _real_series(root: Path, label_root: Path) -> list[tuple[str, list]]:
    """Every image series under ``root`` (not SEG/RTSTRUCT/RTPLAN): (label, header-only datasets)."""
    warnings.simplefilter("ignore", UserWarning)  # pydicom's notes on the malformed files' odd values
    groups: dict[tuple[str, str], list] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            with quiet_pydicom():
                ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, AttributeError, EOFError, KeyError, TypeError):
            continue
        modality = str(ds.get("Modality", "") or "")
        if modality in ("SEG", "RTSTRUCT", "RTPLAN", "") or "PixelData" not in ds and "Rows" not in ds:
            continue
        key = (str(path.parent.relative_to(label_root)), str(ds.get("SeriesInstanceUID", path.name)))
        groups.setdefault(key, []).append((path, ds))
    out = []
    for (folder, _), items in sorted(groups.items()):
        files = items[0][0].name if len(items) == 1 else f"{items[0][0].name} and {len(items) - 1} more files"
        out.append((f"{folder}/ ({files})", [ds for _, ds in items]))
    return out


def rows() -> list[tuple[str, str, str, str]]:
    """(source, series, decision, reasons or notes) for every series, in a fixed order."""
    out = []
    if TESTDATA.is_dir():
        for label, datasets in _real_series(TESTDATA, TESTDATA):
            out.append(("shared testdata", label, *_said(check_series(datasets))))
    for label, datasets in _real_series(SAMPLES, SAMPLES):
        out.append(("sample images", label, *_said(check_series(datasets))))
    for label, headers in SYNTHETIC:
        out.append(("synthetic headers", label, *_said(check_series(headers))))
    return out


def _said(check) -> tuple[str, str]:
    words = check.reasons if check.fit_for_model is not True else check.notes
    return check.decision, "; ".join(words) or "-"


def markdown() -> str:
    lines = ["| source | series | decision | reasons (notes when fit) |", "|---|---|---|---|"]
    for source, series, decision, reasons in rows():
        cell = series.replace("|", "/")
        lines.append(f"| {source} | {cell} | {decision} | {reasons.replace('|', '/')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    args = parser.parse_args()
    if args.markdown:
        print(markdown())
        return
    for source, series, decision, reasons in rows():
        print(f"{source:18s} {series[:70]:70s} {decision:27s} {reasons}")


if __name__ == "__main__":
    main()
