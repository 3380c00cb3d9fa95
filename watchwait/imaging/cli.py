"""The ``radiomics`` subcommand: series + ROI files in, features as JSON out.

The main CLI calls :func:`register` with its subparsers object::

    watchwait radiomics --series DIR_OR_ZIP --roi FILE [--params FILE]

Exit status 0 with ``{"features": {...}, "provenance": {...}, "warnings": [...], "series_check": {...}}`` on
stdout, or 2 with one plain line on stderr when the input is unusable (any ImagingError). ``series_check`` says
whether the series is the model's kind of image (:func:`watchwait.imaging.series_check.check_series`:
``fit_for_model`` true, false or null = not settled by its headers, with the ``reasons``); the features are
printed either way, and only a fit series may give the model its radiomics.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from watchwait.errors import ImagingError

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``radiomics`` subcommand to an ``argparse`` subparsers object (sets ``func=run``)."""
    parser = subparsers.add_parser(
        "radiomics",
        help="radiomic features of a tumour ROI on a DICOM MR series (JSON)",
        description="Read a DICOM series (folder, file or .zip; de-identified on reading), a ROI "
                    "(DICOM SEG, RTSTRUCT or NIfTI mask on the same grid) and print pyradiomics "
                    "features with their provenance as JSON.",
    )
    parser.add_argument("--series", required=True, type=Path, metavar="DIR_OR_ZIP",
                        help="DICOM series: a folder (searched recursively), a .zip or one file")
    parser.add_argument("--roi", required=True, type=Path, metavar="FILE",
                        help="ROI: DICOM SEG, RTSTRUCT, or NIfTI mask (.nii/.nii.gz)")
    parser.add_argument("--params", type=Path, default=None, metavar="FILE",
                        help="pyradiomics parameter file (default: watchwait_mr_v1.yaml)")
    parser.add_argument("--series-uid", default=None, help="choose a series when there are several")
    parser.add_argument("--roi-name", default=None, help="choose a ROI of an RTSTRUCT by name")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Execute the subcommand; return the exit status (0 ok, 2 bad input)."""
    from .dicom_io import load_series
    from .radiomics import extract_features
    from .roi import load_roi
    from .series_check import check_series

    from .pacs import local_paths

    try:  # --series/--roi may be dicomweb:<Study UID>/<Series UID> (the PACS from WATCHWAIT_PACS_*): see pacs.py
        with local_paths(args.series, args.roi) as (series_path, roi_path, deid, terms):
            series = load_series(series_path, series_uid=getattr(args, "series_uid", None), deidentifier=deid)
            roi = load_roi(roi_path, series, roi_name=getattr(args, "roi_name", None), deidentifier=deid)
            result = extract_features(series, roi, args.params)
    except ImagingError as exc:
        print(f"watchwait radiomics: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    payload = result.to_dict()
    payload["warnings"] = list(series.warnings + roi.warnings)
    payload["series_check"] = check_series(series, terms=terms.get(series.series_instance_uid, ())).to_dict()
    try:
        json.dump(payload, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # piped into a reader that stopped early (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
