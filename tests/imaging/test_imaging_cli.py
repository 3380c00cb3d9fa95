"""The ``radiomics`` subcommand, on a parser built here (the main CLI only calls register)."""

from __future__ import annotations

import argparse
import json

import pytest
from imaging_testdata import MALFORMED, SEG_DIR, STS_IMAGES, STS_NIFTI_MASK, STS_RTSTRUCT, needs_testdata

from watchwait.imaging.cli import register, run

pytestmark = needs_testdata


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="watchwait")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_features_and_provenance_as_json(capsys):
    args = _parse("radiomics", "--series", str(STS_IMAGES), "--roi", str(STS_RTSTRUCT))
    assert args.func is run
    assert run(args) == 0
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert len(payload["features"]) == 107
    assert payload["features"]["original_shape_VoxelVolume"] > 0
    assert payload["provenance"]["mask_voxels"] == 9655
    assert payload["provenance"]["params_file"] == "watchwait_mr_v1.yaml"
    assert err == ""
    check = payload["series_check"]  # a T1 limb series: measured, and said not to be the model's kind of image
    assert check["fit_for_model"] is False and check["decision"] == "not fit for the model"
    assert check["reasons"] == ["T1-weighted (its description says T1, no TR or TE recorded), not T2",
                                "body part EXTREMITY, not pelvis"]


def test_nifti_roi_gives_the_same_features(capsys):
    assert run(_parse("radiomics", "--series", str(STS_IMAGES), "--roi", str(STS_RTSTRUCT))) == 0
    from_rtstruct = json.loads(capsys.readouterr().out)["features"]
    assert run(_parse("radiomics", "--series", str(STS_IMAGES), "--roi", str(STS_NIFTI_MASK))) == 0
    assert json.loads(capsys.readouterr().out)["features"] == from_rtstruct


@pytest.mark.parametrize("series, roi, message", [
    (MALFORMED / "pydicom" / "MR_truncated.dcm", STS_RTSTRUCT,
     "MR_truncated.dcm: pixel data is truncated (expected 8192 bytes, found 8130)"),
    (STS_IMAGES, SEG_DIR / "seg_image_ct_binary.dcm",
     "seg_image_ct_binary.dcm: geometry does not match the series: frame of reference differs"),
    (MALFORMED / "pydicom" / "no_meta.dcm", STS_RTSTRUCT, "no_meta.dcm: not a DICOM file"),
])
def test_bad_input_exits_2_with_one_plain_line(capsys, series, roi, message):
    assert run(_parse("radiomics", "--series", str(series), "--roi", str(roi))) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_bad_parameter_file_exits_2(capsys, tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("setting: [not, a, map]\n")
    args = _parse("radiomics", "--series", str(STS_IMAGES), "--roi", str(STS_RTSTRUCT), "--params", str(bad))
    assert run(args) == 2
    assert "p.yaml: invalid pyradiomics parameter file" in capsys.readouterr().err


def test_missing_required_arguments_are_argparse_errors():
    with pytest.raises(SystemExit) as exc:
        _parse("radiomics", "--series", str(STS_IMAGES))
    assert exc.value.code == 2
