"""Write the synthetic MR samples of sample_data/imaging/ (run from the repository root):

    .venv/bin/python sample_data/make_sample_imaging.py

For each sample patient below: a baseline and a restaging T2-weighted axial series drawn by
``watchwait.imaging.synthetic.synth_pair`` from a seeded generator and a chosen response score
(> 0 = the tumour responds: it shrinks to a small dark homogeneous scar; < 0 = it stays
intermediate and heterogeneous), written one DICOM file per slice with the DEMO pseudonym as the
only identifier, and the ground-truth tumour mask of each visit as a DICOM SEG. Layout (as
``watchwait.imaging.cohort_images.write_cohort_images`` writes a cohort):

    imaging/<patient_id>/baseline/IM0001.dcm ...   imaging/<patient_id>/baseline_seg.dcm
    imaging/<patient_id>/restaging/IM0001.dcm ...  imaging/<patient_id>/restaging_seg.dcm

The pixel data are reproducible (same seed, same images); the SEG files get fresh UIDs on
every run (highdicom draws them), which changes nothing that is measured.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from watchwait.imaging.synthetic import synth_pair, write_seg, write_series

OUT = Path(__file__).resolve().parent / "imaging"
SHAPE = (12, 48, 48)  # slices, rows, columns: as the synthetic cohort (cohort_images.SERIES_SHAPE)
SPACING = (3.0, 1.0, 1.0)  # mm (z, y, x)
#: patient_id -> (response score given to synth_pair, seed, what it shows)
SAMPLES = {
    "DEMO-01": (1.5, 101, "responder: the tumour shrinks to a small dark fibrotic scar"),
    "DEMO-05": (-1.5, 105, "incomplete response: a residual intermediate, heterogeneous tumour"),
    "DEMO-09": (0.3, 109, "mixed: partial shrinkage, part scar, part residual signal"),
}
VISITS = ("baseline", "restaging")


def main() -> None:
    for patient_id, (score, seed, _) in SAMPLES.items():
        folder = OUT / patient_id
        if folder.exists():
            shutil.rmtree(folder)
        rng = np.random.default_rng(seed)
        pair = synth_pair(score, rng, shape=SHAPE, spacing=SPACING)
        for number, visit in enumerate(VISITS, start=1):
            series_dir = folder / visit
            write_series(pair[f"{visit}_image"], pair["spacing"], series_dir, f"T2 TSE AX {visit} (synthetic)",
                         rng, patient_pseudonym=patient_id, series_number=number)
            write_seg(pair[f"{visit}_mask"], series_dir, folder / f"{visit}_seg.dcm")
        print(f"{patient_id}: score {score:+.1f}, baseline {int(pair['baseline_mask'].sum())} voxels, "
              f"restaging {int(pair['restaging_mask'].sum())} voxels")


if __name__ == "__main__":
    main()
