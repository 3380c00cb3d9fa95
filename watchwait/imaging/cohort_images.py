"""Synthetic MR imaging for a simulated cohort: a baseline and a restaging T2 series with a SEG each.

:func:`write_cohort_images` gives a random share of a cohort's patients a pair of small
synthetic T2-weighted axial series (:func:`watchwait.imaging.synthetic.synth_pair`) and a DICOM
SEG of the tumour on each, and returns the four ``mri_*`` path columns of the data dictionary,
relative to the folder of the cohort file.

How much the images know (the honesty of the evaluation)
--------------------------------------------------------
The simulator's hidden latent score ``s`` (complete response = ``s > 0``) has an SD of about
2.2. Fed straight into ``synth_pair`` (whose response curve is ``sigmoid(2.5 x)``) almost every
tumour would either vanish into a scar or not shrink at all, and tumour volume alone separates
responders almost perfectly (AUC about 0.99) - far better than MRI radiomics does in practice.
The published figure is a pooled validation AUC of 0.846 for MRI radiomics predicting pCR
(HSROC, 38 studies; ``../shared/clinical/calibration.md`` section 2, "Radiomics (MRI) pCR"; a
second meta-analysis gives 0.85 for radiomics alone). So each imaged patient's series are drawn
from an *imaging score*, not from ``s`` itself:

``x = (s + e) / LATENT_PER_SYNTH_UNIT`` with ``e ~ N(0, IMAGING_NOISE_SD)``

``e`` stands for everything the images do not show about the true response (microscopic
residual tumour under a scar, oedema, timing of the scan); with ``IMAGING_NOISE_SD`` the best
possible marker of ``s + e`` would reach an AUC of about 0.87 on the simulated cohort.
``LATENT_PER_SYNTH_UNIT`` maps the latent scale onto the range where ``synth_pair`` responds
gradually. On top of that, ``synth_pair`` draws its own volume and fibrosis noise, and the
reader's delineation varies (:func:`reader_delineation`: the drawn ROI is one voxel tighter or
looser in-plane than the true lesion for half of the visits), so the written SEG is not the
ground-truth mask. Measured with ``benchmarks/bench_imaging_signal.py`` (2,000 simulated
patients, share 0.3 = 600 imaged, 212 complete responders, full DICOM path) on the model
columns of :mod:`watchwait.imaging.model_features`: best single column AUC 0.856 (change in
mean T2 signal), restaging volume 0.764, baseline columns 0.52-0.54 (no signal before
treatment, as intended); logistic regression on the 15 columns, 5-fold CV AUC 0.847. Target
0.78-0.87; ``tests/imaging/test_model_features.py`` keeps the best column in 0.72-0.92 on 200
patients. (Before this noise, volume alone gave about 0.99.)

Series: ``SERIES_SHAPE`` (12 slices of 48 x 48) at ``SERIES_SPACING`` (3 mm slices, 1 mm pixels),
small enough for 1,500 patients in a minute or so on two cores. Each DICOM header carries only
the patient's pseudonym (``patient_id``) as Patient ID and Patient's Name; nothing else
identifying is written (see :func:`watchwait.imaging.synthetic.write_series`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = [
    "IMAGING_NOISE_SD",
    "LATENT_PER_SYNTH_UNIT",
    "MRI_COLUMNS",
    "SERIES_SHAPE",
    "SERIES_SPACING",
    "imaging_score",
    "reader_delineation",
    "synth_patient",
    "write_cohort_images",
]

#: SD of the part of the latent response that the images do not show (latent-score units).
IMAGING_NOISE_SD = 1.6
#: Latent-score units per unit of ``synth_pair``'s response score.
LATENT_PER_SYNTH_UNIT = 2.5
#: Probabilities that the reader draws the ROI one voxel tighter / as is / one voxel looser.
READER_MARGIN_P = (0.25, 0.5, 0.25)
SERIES_SHAPE = (12, 48, 48)
SERIES_SPACING = (3.0, 1.0, 1.0)
MRI_COLUMNS = ("mri_baseline_dir", "mri_baseline_roi", "mri_restaging_dir", "mri_restaging_roi")
VISITS = ("baseline", "restaging")

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_IN_PLANE = ndimage.generate_binary_structure(2, 1)[None]  # 4-connected, within each slice
_MIN_ERODED_VOXELS = 40


def imaging_score(latent_score: float, rng: np.random.Generator) -> float:
    """The response score the images are drawn from: ``(s + N(0, IMAGING_NOISE_SD)) / LATENT_PER_SYNTH_UNIT``."""
    return (float(latent_score) + rng.normal(0.0, IMAGING_NOISE_SD)) / LATENT_PER_SYNTH_UNIT


def reader_delineation(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The ROI a reader draws around the true lesion ``mask``: one voxel tighter, as is, or looser.

    The margin is chosen with :data:`READER_MARGIN_P`, in-plane only (readers contour slice by
    slice). A tighter outline that would keep fewer than 40 voxels or less than half the lesion
    is drawn as is instead (a reader does not lose a small scar).
    """
    mask = np.asarray(mask, dtype=bool)
    margin = rng.choice((-1, 0, 1), p=READER_MARGIN_P)
    if margin > 0:
        return ndimage.binary_dilation(mask, structure=_IN_PLANE)
    if margin < 0:
        eroded = ndimage.binary_erosion(mask, structure=_IN_PLANE)
        if eroded.sum() >= max(_MIN_ERODED_VOXELS, 0.5 * mask.sum()):
            return eroded
    return mask.copy()


def synth_patient(latent_score: float, rng: np.random.Generator) -> dict[str, Any]:
    """One imaged patient: :func:`synth_pair` from :func:`imaging_score`, with reader ROIs.

    Returns ``synth_pair``'s dict plus ``imaging_score`` and ``baseline_roi`` /
    ``restaging_roi`` (the delineated masks that are written as SEGs).
    """
    from .synthetic import synth_pair

    score = imaging_score(latent_score, rng)
    pair = synth_pair(score, rng, shape=SERIES_SHAPE, spacing=SERIES_SPACING)
    pair["imaging_score"] = score
    for visit in VISITS:
        pair[f"{visit}_roi"] = reader_delineation(pair[f"{visit}_mask"], rng)
    return pair


def write_cohort_images(truth: pd.DataFrame, out_dir: str | Path, share: float, seed: int,
                        base_dir: str | Path, *, n_jobs: int = 1) -> pd.DataFrame:
    """Write synthetic baseline and restaging MR series (with a SEG each) for a share of a cohort.

    ``truth``: one row per patient with ``patient_id`` (a pseudonym, also the folder name) and
    ``latent_score`` (the simulator's hidden truth). ``share`` (0-1): the fraction of patients
    that get imaging, drawn at random with ``seed`` (``round(share * n)`` patients). Files go to
    ``out_dir/<patient_id>/{baseline,restaging}/IM0001.dcm...`` and
    ``out_dir/<patient_id>/{baseline,restaging}_seg.dcm``; a patient folder that already exists
    is an error (nothing is overwritten). ``base_dir``: the folder of the cohort file; the
    returned paths are relative to it (with ``..`` when ``out_dir`` is not inside it), POSIX
    separators. ``n_jobs``: worker processes (joblib; -1 = one per core). The result does not
    depend on ``n_jobs``: each patient's images come from a generator seeded by ``seed`` and
    the patient's position in ``truth``.

    Returns a frame with the index of ``truth`` and the columns ``patient_id``,
    ``mri_baseline_dir``, ``mri_baseline_roi``, ``mri_restaging_dir``, ``mri_restaging_roi``
    (empty strings for patients without imaging).
    """
    missing = {"patient_id", "latent_score"} - set(truth.columns)
    if missing:
        raise ValueError(f"truth must have the columns patient_id and latent_score; missing {sorted(missing)} instead.")
    if not 0.0 <= float(share) <= 1.0:
        raise ValueError(f"share must be a fraction between 0 and 1; got {share!r} instead.")
    ids = truth["patient_id"].astype(str).tolist()
    bad = [p for p in ids if not _SAFE_ID.match(p)]
    if bad:
        raise ValueError("patient_id must be a folder-safe pseudonym (letters, digits, '.', '_', '-'); "
                         f"got {bad[:5]} instead.")
    if len(set(ids)) != len(ids):
        dup = sorted(pid for pid, k in Counter(ids).items() if k > 1)
        raise ValueError(f"patient_id must be unique; got duplicates {dup[:5]} instead.")
    scores = pd.to_numeric(truth["latent_score"], errors="coerce").to_numpy(dtype=float)

    n = len(ids)
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=int(round(float(share) * n)), replace=False))
    if not np.isfinite(scores[chosen]).all():
        raise ValueError("latent_score must be a finite number for every imaged patient; got blanks or NaN instead.")
    out = Path(out_dir).resolve()
    base = Path(base_dir).resolve()
    existing = [ids[i] for i in chosen if (out / ids[i]).exists()]
    if existing:
        raise ValueError(f"{out}: patient folders already exist for {existing[:5]}; write into an empty "
                         "folder (nothing is overwritten).")
    out.mkdir(parents=True, exist_ok=True)

    jobs = [(ids[i], float(scores[i]), (int(seed), int(i)), str(out)) for i in chosen]
    if n_jobs == 1 or len(jobs) <= 1:
        written = [_write_patient(*job) for job in jobs]
    else:
        from joblib import Parallel, delayed

        written = Parallel(n_jobs=n_jobs, backend="loky", batch_size=8)(delayed(_write_patient)(*job) for job in jobs)

    frame = pd.DataFrame({"patient_id": ids, **{c: [""] * n for c in MRI_COLUMNS}}, index=truth.index)
    for i, paths in zip(chosen, written):
        for column, path in paths.items():
            frame.iat[i, frame.columns.get_loc(column)] = Path(os.path.relpath(path, base)).as_posix()
    return frame


def _write_patient(patient_id: str, latent_score: float, entropy: Sequence[int], out_dir: str) -> dict[str, str]:
    """Draw and write one patient's two series and two SEGs; return the absolute paths by column."""
    from .synthetic import write_seg, write_series

    rng = np.random.default_rng([*entropy, 7])  # 7: this generator's stream, apart from the cohort draw
    pair = synth_patient(latent_score, rng)
    folder = Path(out_dir) / patient_id
    paths: dict[str, str] = {}
    for number, visit in enumerate(VISITS, start=1):
        series_dir = folder / visit
        write_series(pair[f"{visit}_image"], pair["spacing"], series_dir, f"T2 TSE AX {visit}", rng,
                     patient_pseudonym=patient_id, series_number=number)
        seg = write_seg(pair[f"{visit}_roi"], series_dir, folder / f"{visit}_seg.dcm")
        paths[f"mri_{visit}_dir"] = str(series_dir)
        paths[f"mri_{visit}_roi"] = str(seg)
    return paths
