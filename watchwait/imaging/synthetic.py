"""Synthetic T2-weighted axial rectal MR: a baseline / restaging pair driven by a latent response.

The model (all lengths in mm, intensities in arbitrary MR units):

* Anatomy, identical at both visits: muscle background (350), mesorectal fat (900, bright on
  T2), rectal wall (300, dark muscularis) around a dark lumen (150).
* Baseline tumour: a lumpy ellipsoid in the rectal wall, intermediate T2 signal (600) with a
  heterogeneous texture (smoothed noise, SD 70).
* Restaging: ``p = sigmoid(2.5 * response_score)`` (``response_score > 0`` = complete response).
  The residual lesion keeps ``f_vol ~ 0.92 - 0.8 p`` of the volume and a fibrotic fraction
  ``f_fib ~ 1.3 p - 0.1`` of it is dark (260) and homogeneous (SD 15); the rest stays intermediate and
  heterogeneous. Both fractions carry noise, so responders and non-responders overlap.
  A responder shows a small dark homogeneous scar; a non-responder a larger intermediate,
  heterogeneous residual tumour.
* Acquisition: smooth multiplicative bias field, a visit-specific gain (0.8-1.25, so the two
  visits are on different intensity scales, as on real MR), Rician noise (sigma 20).

Writers: :func:`write_series` (one MR Image Storage file per slice, synthetic header, no real
identifier) and :func:`write_seg` (a DICOM SEG, via highdicom, referencing such a series).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from watchwait.atomic import atomic_path

__all__ = ["synth_pair", "write_series", "write_seg"]

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_FAT, _MUSCLE, _WALL, _LUMEN = 900.0, 350.0, 300.0, 150.0
_TUMOUR, _TUMOUR_SD, _SCAR, _SCAR_SD = 600.0, 70.0, 260.0, 15.0
_NOISE_SIGMA = 20.0
# Per-patient noise on the residual volume fraction and the fibrotic fraction (SDs of the two fractions). Tuned so
# that a radiomics-only model among imaged patients has an AUC for complete response of about 0.80 (published: radiomics
# pooled validation AUC 0.846, 38 studies; radiomics 0.85 in a 21-study meta-analysis called likely optimistic;
# calibration.md section 2). Measured with the real pipeline (cohort_images.synth_patient -> pyradiomics) by
# /work/data/radiomics_auc.py; see the README's simulator-targets table.
_VOLUME_NOISE_SD, _FIBROSIS_NOISE_SD = 0.30, 0.30


def synth_pair(response_score: float, rng: np.random.Generator,
               shape: tuple[int, int, int] = (16, 64, 64),
               spacing: tuple[float, float, float] = (3.0, 0.8, 0.8)) -> dict[str, Any]:
    """A baseline and a restaging volume with tumour masks, for one latent response.

    Returns a dict with ``baseline_image``, ``restaging_image`` (float32, (z, y, x)),
    ``baseline_mask``, ``restaging_mask`` (bool), ``spacing`` (z, y, x mm),
    ``response_score`` and ``truth`` (``p_response``, ``volume_fraction``,
    ``fibrosis_fraction``, ``complete_response``).
    """
    shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
    if len(shape) != 3 or min(shape) < 4:
        raise ValueError(f"shape must be 3 sizes of at least 4 voxels; got {shape}")
    zz, yy, xx = _grid_mm(shape, spacing)
    anatomy, lumen_r, wall_r = _anatomy(yy, xx, rng)
    p = 1.0 / (1.0 + np.exp(-2.5 * float(response_score)))

    angle = rng.uniform(0, 2 * np.pi)
    radial = 0.5 * (lumen_r + wall_r) + rng.uniform(0.5, 2.5)
    centre = np.array([rng.uniform(-0.15, 0.15) * np.ptp(zz), radial * np.sin(angle), radial * np.cos(angle)])
    radii = np.array([rng.uniform(0.22, 0.32) * (np.ptp(zz) + spacing[0]), rng.uniform(6.5, 9.5),
                      rng.uniform(6.5, 9.5)])
    base_mask = _lumpy_ellipsoid(zz, yy, xx, centre, radii, rng, spacing)

    f_vol = float(np.clip(0.92 - 0.8 * p + rng.normal(0, _VOLUME_NOISE_SD), 0.06, 1.0))
    f_fib = float(np.clip(1.3 * p - 0.1 + rng.normal(0, _FIBROSIS_NOISE_SD), 0.0, 1.0))
    shift = rng.normal(0, 0.15, 3) * radii
    rest_mask = _lumpy_ellipsoid(zz, yy, xx, centre + shift * (1 - f_vol), radii * f_vol ** (1 / 3), rng,
                                 spacing) & base_mask
    if rest_mask.sum() < 30:  # keep a measurable scar
        rest_mask = ndimage.binary_dilation(rest_mask | _centre_voxel(base_mask), iterations=2) & base_mask

    base = anatomy.copy()
    base[base_mask] = (_TUMOUR + _texture(shape, rng, _TUMOUR_SD, 1.2))[base_mask]
    rest = anatomy.copy()
    treated = base_mask & ~rest_mask
    rest[treated] = _WALL + 40 * p  # treated wall: dark, a little oedema
    fibrosis = _texture(shape, rng, 1.0, 1.5)
    threshold = np.quantile(fibrosis[rest_mask], 1 - f_fib) if f_fib > 0 else np.inf
    scar = rest_mask & (fibrosis >= threshold)
    residual = rest_mask & ~scar
    rest[scar] = (_SCAR + _texture(shape, rng, _SCAR_SD, 0.8))[scar]
    rest[residual] = (_TUMOUR - 40 + _texture(shape, rng, _TUMOUR_SD, 1.0))[residual]

    return {
        "baseline_image": _acquire(base, rng, zz, yy, xx),
        "restaging_image": _acquire(rest, rng, zz, yy, xx),
        "baseline_mask": base_mask,
        "restaging_mask": rest_mask,
        "spacing": tuple(float(s) for s in spacing),
        "response_score": float(response_score),
        "truth": {"p_response": float(p), "volume_fraction": f_vol, "fibrosis_fraction": f_fib,
                  "complete_response": bool(response_score > 0)},
    }


def _grid_mm(shape: Sequence[int], spacing: Sequence[float]) -> tuple[np.ndarray, ...]:
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)]
    return tuple(np.meshgrid(*axes, indexing="ij"))


def _anatomy(yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
    r = np.hypot(yy / rng.uniform(0.9, 1.1), xx)
    lumen_r, wall_r, fat_r = rng.uniform(4.0, 6.0), rng.uniform(8.5, 10.5), rng.uniform(19.0, 23.0)
    image = np.full(r.shape, _MUSCLE)
    image[r < fat_r] = _FAT
    image[r < wall_r] = _WALL
    image[r < lumen_r] = _LUMEN
    return image, lumen_r, wall_r


def _lumpy_ellipsoid(zz: np.ndarray, yy: np.ndarray, xx: np.ndarray, centre: np.ndarray, radii: np.ndarray,
                     rng: np.random.Generator, spacing: Sequence[float]) -> np.ndarray:
    d = np.sqrt(((zz - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2
                + ((xx - centre[2]) / radii[2]) ** 2)
    lumps = ndimage.gaussian_filter(rng.normal(size=zz.shape), sigma=(1.0, 4.0, 4.0))
    lumps /= lumps.std() + 1e-12
    return d < 1.0 + 0.12 * lumps


def _centre_voxel(mask: np.ndarray) -> np.ndarray:
    out = np.zeros_like(mask)
    idx = np.argwhere(mask)
    out[tuple(idx[len(idx) // 2])] = True
    return out


def _texture(shape: Sequence[int], rng: np.random.Generator, sd: float, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(0.5, sigma, sigma))
    return field / (field.std() + 1e-12) * sd


def _acquire(image: np.ndarray, rng: np.random.Generator, zz: np.ndarray, yy: np.ndarray,
             xx: np.ndarray) -> np.ndarray:
    scale = max(np.abs(yy).max(), 1.0)
    a, b, c = rng.normal(0, 0.06, 3)
    bias = 1.0 + a * yy / scale + b * xx / scale + c * (yy * xx) / scale**2
    gain = rng.uniform(0.8, 1.25)
    signal = image * bias * gain
    noisy = np.hypot(signal + rng.normal(0, _NOISE_SIGMA, image.shape), rng.normal(0, _NOISE_SIGMA, image.shape))
    return noisy.astype(np.float32)


# --------------------------------------------------------------------------- writers


def _new_uid(rng: np.random.Generator) -> str:
    return "2.25." + str(int.from_bytes(rng.bytes(16), "big"))


def _uids(rng_or_uids: np.random.Generator | Mapping[str, Any], n: int) -> dict[str, Any]:
    if isinstance(rng_or_uids, np.random.Generator):
        rng = rng_or_uids
        return {"study": _new_uid(rng), "series": _new_uid(rng), "frame_of_reference": _new_uid(rng),
                "sop": [_new_uid(rng) for _ in range(n)]}
    uids = dict(rng_or_uids)
    missing = {"study", "series", "frame_of_reference", "sop"} - set(uids)
    if missing or len(uids["sop"]) != n:
        raise ValueError(f"rng_or_uids needs study, series, frame_of_reference and {n} sop UIDs; "
                         f"missing {sorted(missing)}")
    return uids


def write_series(volume: np.ndarray, spacing: Sequence[float], out_dir: str | Path, series_description: str,
                 rng_or_uids: np.random.Generator | Mapping[str, Any], *,
                 patient_pseudonym: str = "WW-SYNTHETIC", series_number: int = 1,
                 rescale: tuple[float, float] = (1.0, 0.0)) -> list[Path]:
    """Write ``volume`` (z, y, x) as an axial MR series, one file per slice; return the paths.

    Stored values are ``round((value - intercept) / slope)`` with ``rescale = (slope,
    intercept)``, so reading back gives the volume quantised to the slope. The header is
    synthetic: Patient's Name and Patient ID are ``patient_pseudonym``, no date, no institution,
    Patient Identity Removed = YES. UIDs come from ``rng_or_uids`` (a Generator, or a mapping
    with ``study``, ``series``, ``frame_of_reference`` and a ``sop`` list).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    volume = np.asarray(volume, dtype=float)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D (z, y, x); got shape {volume.shape}")
    slope, intercept = (float(v) for v in rescale)
    stored = np.round((volume - intercept) / slope)
    if stored.min() >= 0 and stored.max() <= 65535:
        dtype, signed = np.uint16, 0
    elif stored.min() >= -32768 and stored.max() <= 32767:
        dtype, signed = np.int16, 1
    else:
        raise ValueError("volume does not fit 16 bits with this rescale; choose a larger slope")
    nz, ny, nx = volume.shape
    dz, dy, dx = (float(s) for s in spacing)
    uids = _uids(rng_or_uids, nz)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x0, y0, z0 = -(nx - 1) / 2 * dx, -(ny - 1) / 2 * dy, -(nz - 1) / 2 * dz
    paths = []
    for k in range(nz):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = uids["sop"][k]
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.ImageType = ["DERIVED", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = uids["sop"][k]
        ds.StudyDate = ds.StudyTime = ds.AccessionNumber = ds.ReferringPhysicianName = ds.StudyID = ""
        ds.Modality = "MR"
        ds.Manufacturer = "watchwait synthetic"
        ds.SeriesDescription = series_description
        ds.PatientName = f"{patient_pseudonym}^"  # one-component person name
        ds.PatientID = patient_pseudonym
        ds.PatientBirthDate = ds.PatientSex = ""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "synthetic image: no real patient"
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
        code.CodeMeaning = "Basic Application Confidentiality Profile"
        ds.DeidentificationMethodCodeSequence = [code]
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "SK", ""
        ds.MRAcquisitionType = "2D"
        ds.SliceThickness = f"{dz:.6g}"
        ds.SpacingBetweenSlices = f"{dz:.6g}"
        ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = "4000", "100", "16"
        ds.MagneticFieldStrength, ds.ImagedNucleus = "1.5", "1H"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = uids["study"]
        ds.SeriesInstanceUID = uids["series"]
        ds.SeriesNumber = series_number
        ds.InstanceNumber = k + 1
        ds.FrameOfReferenceUID = uids["frame_of_reference"]
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [f"{x0:.6f}", f"{y0:.6f}", f"{z0 + k * dz:.6f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = f"{z0 + k * dz:.6f}"
        ds.PixelSpacing = [f"{dy:.6g}", f"{dx:.6g}"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = signed
        if (slope, intercept) != (1.0, 0.0):
            ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{intercept:.10g}"
        ds.BurnedInAnnotation = "NO"
        ds.PixelData = stored[k].astype(dtype).tobytes()
        path = out / f"IM{k + 1:04d}.dcm"
        with atomic_path(path, fsync=False) as tmp:  # a failure or a concurrent writer never leaves a partial slice
            ds.save_as(tmp, enforce_file_format=True)
        paths.append(path)
    return paths


def write_seg(mask: np.ndarray, series_dir: str | Path, out_file: str | Path, *,
              segment_label: str = "tumour") -> Path:
    """Write ``mask`` (z, y, x, in slice-position order) as a binary DICOM SEG on the series.

    The source images are the series files in ``series_dir`` (not de-identified: the SEG
    must reference their real UIDs), sorted along the slice normal like the reader does.
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    files = sorted(p for p in Path(series_dir).iterdir() if p.is_file())
    sources = [pydicom.dcmread(p) for p in files]

    def along_normal(ds: Any) -> float:
        iop = np.array(ds.ImageOrientationPatient, dtype=float)
        return float(np.array(ds.ImagePositionPatient, dtype=float) @ np.cross(iop[:3], iop[3:]))

    sources.sort(key=along_normal)
    mask = np.asarray(mask, dtype=bool)
    expected = (len(sources), int(sources[0].Rows), int(sources[0].Columns))
    if mask.shape != expected:
        raise ValueError(f"mask shape {mask.shape} does not match the series {expected}")
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=segment_label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=mask.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="watchwait synthetic",
        manufacturer_model_name="watchwait.imaging.synthetic",
        software_versions="1",
        device_serial_number="0",
        content_description="synthetic ground-truth tumour mask",
    )
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, fsync=False) as tmp:
        seg.save_as(tmp)
    return out
