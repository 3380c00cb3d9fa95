"""The patient record and cohort file contract (../shared/spec/data-dictionary.md), as data.

Every column of the data dictionary is one :class:`Field`: its type, domain, unit, the group a
clinician would look for it in, and the model modality it feeds. The validator, the form, the
simulator and the model all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass

# Model modalities (branch names flow into feature names, SHAP and the screen).
MODALITIES: dict[str, str] = {
    "clinical": "Baseline staging and treatment",
    "immune": "Immune biomarkers (PD-L1)",
    "blood": "Blood: CEA and ctDNA kinetics",
    "restaging": "Restaging assessment",
    "radiomics": "MRI radiomics",
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text | category | boolean | integer | number | path
    group: str  # form group
    label: str
    unit: str = ""
    categories: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    required: bool = False
    modality: str | None = None  # None = not a model input
    pattern: str | None = None
    help: str = ""

    def allowed(self) -> str:
        """Plain description of the domain, used in every error message."""
        if self.kind == "category":
            return "one of " + ", ".join(f"'{c}'" for c in self.categories)
        if self.kind == "boolean":
            return "true or false (also 1/0, yes/no)"
        if self.kind == "integer":
            return f"a whole number from {self.low:g} to {self.high:g}"
        if self.kind == "number":
            u = f" {self.unit}" if self.unit else ""
            return f"a number from {self.low:g} to {self.high:g}{u}"
        if self.name == "patient_id":
            return "1-64 characters: letters, digits, '-' or '_' (a pseudonym, never a name or hospital number)"
        return "text"


# Form groups, in the data dictionary's order and grouping (version 2).
G_ID, G_TUMOUR, G_BIO, G_BLOOD, G_TREAT, G_RESTAGE, G_CONTEXT, G_IMG, G_OUT, G_FOLLOW = (
    "Identification",
    "Patient and tumour at baseline",
    "Biomarkers",
    "ctDNA",
    "Neoadjuvant treatment",
    "Response assessment (restaging)",
    "Decision context",
    "Imaging",
    "Outcome",
    "Follow-up",
)
B = "boolean"

FIELDS: tuple[Field, ...] = (
    Field("patient_id", "text", G_ID, "Patient pseudonym", required=True, pattern=r"^[A-Za-z0-9_-]{1,64}$"),
    Field("site", "text", G_ID, "Site"),
    # baseline
    Field("age_years", "integer", G_TUMOUR, "Age", "years", low=18, high=100, modality="clinical"),
    Field("sex", "category", G_TUMOUR, "Sex", categories=("F", "M"), modality="clinical"),
    Field("ecog", "integer", G_TUMOUR, "ECOG performance status", low=0, high=4, modality="clinical"),
    Field("mmr_status", "category", G_TUMOUR, "MMR status", categories=("pMMR", "dMMR"), required=True,
          help="pMMR = MSS. dMMR is out of scope (immunotherapy-alone pathway)."),
    Field("ct_stage", "category", G_TUMOUR, "cT stage",
          categories=("T1", "T2", "T3", "T3a", "T3b", "T3c", "T3d", "T4a", "T4b"), modality="clinical",
          help="T3 = substage unknown"),
    Field("cn_stage", "category", G_TUMOUR, "cN stage", categories=("N0", "N1", "N2"), modality="clinical"),
    Field("cm_stage", "category", G_TUMOUR, "cM stage", categories=("M0", "M1"),
          help="M1 is outside the model's scope"),
    Field("mrf_involved", B, G_TUMOUR, "MRF involved or threatened (<= 1 mm)", modality="clinical"),
    Field("emvi", B, G_TUMOUR, "EMVI on MRI", modality="clinical"),
    Field("lateral_nodes", B, G_TUMOUR, "Suspicious lateral lymph nodes", modality="clinical"),
    Field("distance_from_anal_verge_cm", "number", G_TUMOUR, "Distal edge from anal verge", "cm", low=0, high=20,
          modality="clinical", help="The model's population is <= 10 cm"),
    Field("tumour_length_cm", "number", G_TUMOUR, "Tumour length (craniocaudal)", "cm", low=0.5, high=20,
          modality="clinical"),
    Field("circumferential_extent_pct", "number", G_TUMOUR, "Circumferential extent", "%", low=0, high=100,
          modality="clinical"),
    Field("multiple_primaries", B, G_TUMOUR, "Multiple primaries", help="Exclusion criterion"),
    # biomarkers
    Field("pdl1_cps", "number", G_BIO, "PD-L1 CPS", low=0, high=100, modality="immune"),
    Field("pdl1_tps_pct", "number", G_BIO, "PD-L1 TPS", "%", low=0, high=100, modality="immune"),
    Field("cea_baseline_ng_ml", "number", G_BIO, "CEA before treatment", "ng/mL", low=0, high=10000,
          modality="blood"),
    Field("cea_post_ng_ml", "number", G_BIO, "CEA at response assessment", "ng/mL", low=0, high=10000,
          modality="blood"),
    Field("ctdna_baseline_mtm_ml", "number", G_BLOOD, "ctDNA C1: before treatment", "MTM/mL", low=0,
          high=100000, modality="blood", help="0 = tested, not detected; blank = not tested"),
    Field("ctdna_post_rt_mtm_ml", "number", G_BLOOD, "ctDNA C2: after radiotherapy", "MTM/mL", low=0,
          high=100000, modality="blood", help="0 = tested, not detected; blank = not tested"),
    Field("ctdna_post_treatment_mtm_ml", "number", G_BLOOD, "ctDNA C3: at response assessment", "MTM/mL",
          low=0, high=100000, modality="blood", help="0 = tested, not detected; blank = not tested"),
    # treatment
    Field("rt_schedule", "category", G_TREAT, "Radiotherapy", categories=("SCRT", "LCRT", "none"),
          modality="clinical", help="SCRT = 25 Gy/5 fr; LCRT = 45-50.4 Gy/25-28 fr with fluoropyrimidine"),
    Field("sequence", "category", G_TREAT, "Sequence",
          categories=("consolidation", "induction", "concurrent", "none"), modality="clinical",
          help="consolidation = RT first, then systemic therapy"),
    Field("immunotherapy", "category", G_TREAT, "Immunotherapy",
          categories=("none", "anti_pd1", "anti_pdl1", "pd1_ctla4"), modality="clinical",
          help="pd1_ctla4 covers bispecifics (QL1706) and ipilimumab + nivolumab"),
    Field("chemotherapy", "category", G_TREAT, "Systemic chemotherapy",
          categories=("none", "CAPOX", "FOLFOX", "capecitabine"), modality="clinical",
          help="beyond radiosensitisation"),
    Field("systemic_cycles", "integer", G_TREAT, "Systemic cycles given", low=0, high=12, modality="clinical"),
    Field("regorafenib", B, G_TREAT, "Regorafenib", modality="clinical"),
    Field("weeks_rt_to_assessment", "number", G_TREAT, "Weeks from end of RT to assessment", "weeks", low=0,
          high=52, modality="clinical"),
    # restaging
    Field("mr_trg", "integer", G_RESTAGE, "MRI tumour regression grade (mrTRG)", low=1, high=5,
          modality="restaging", help="1 = complete"),
    Field("endoscopy", "category", G_RESTAGE, "Endoscopy",
          categories=("complete", "near_complete", "incomplete"), modality="restaging"),
    Field("dre", "category", G_RESTAGE, "Digital rectal examination",
          categories=("normal", "smooth_induration", "mass"), modality="restaging"),
    Field("dwi_restriction", B, G_RESTAGE, "Residual diffusion restriction", modality="restaging"),
    Field("new_distant_metastasis", B, G_RESTAGE, "New distant metastasis at restaging",
          help="outside the model's scope"),
    # restaging, added in version 2 (used by the response category, the rules and the model)
    Field("ymr_n_stage", "category", G_RESTAGE, "Restaging MRI nodes (ymrN)", categories=("N0", "N1", "N2"),
          help="persistent suspicious mesorectal nodes = N1/N2; a cCR needs no suspicious nodes", modality="restaging"),
    Field("ymr_emvi", B, G_RESTAGE, "EMVI still visible on restaging MRI", modality="restaging"),
    Field("residual_lesion_mm", "number", G_RESTAGE, "Residual lesion or scar, largest diameter", "mm", low=0,
          high=100, help="endoscopy or MRI; what local excision would remove", modality="restaging"),
    Field("restaging_biopsy", "category", G_RESTAGE, "Biopsy of the tumour bed at restaging",
          categories=("not_done", "negative", "positive"),
          help="positive = residual tumour; a negative biopsy does not rule out residual tumour", modality="restaging"),
    # decision context (version 2): shown and used by the rules; never a model input
    Field("sphincter_involved", B, G_CONTEXT, "Anal sphincter complex involved at baseline",
          help="TME would mean abdominoperineal resection with a permanent colostomy"),
    Field("fit_for_major_surgery", "category", G_CONTEXT, "Fit for major surgery (MDT judgement)",
          categories=("yes", "no", "uncertain")),
    Field("patient_preference", "category", G_CONTEXT, "Patient's informed preference",
          categories=("organ_preservation", "surgery", "undecided", "not_discussed"),
          help="recorded and shown; never used to compute a probability"),
    # imaging paths
    Field("mri_baseline_dir", "path", G_IMG, "Baseline MRI series folder"),
    Field("mri_baseline_roi", "path", G_IMG, "Baseline tumour mask (SEG or NIfTI)"),
    Field("mri_restaging_dir", "path", G_IMG, "Restaging MRI series folder"),
    Field("mri_restaging_roi", "path", G_IMG, "Restaging tumour mask (SEG or NIfTI)"),
    # outcome
    Field("complete_response", B, G_OUT, "Complete response (pCR, or cCR sustained >= 12 months)"),
    # follow-up (version 2): entered after the decision; exported to retrain
    Field("management", "category", G_FOLLOW, "Management actually given",
          categories=("watch_and_wait", "local_excision", "tme", "other")),
    Field("ypt_stage", "category", G_FOLLOW, "Pathology: ypT stage", categories=("T0", "Tis", "T1", "T2", "T3", "T4"),
          help="after local excision or TME"),
    Field("ypn_stage", "category", G_FOLLOW, "Pathology: ypN stage", categories=("N0", "N1", "N2"), help="after TME"),
    Field("local_regrowth", B, G_FOLLOW, "Local regrowth", help="under watch-and-wait or after local excision"),
    Field("months_to_regrowth", "number", G_FOLLOW, "Time to regrowth", "months", low=0, high=240),
    Field("months_followed", "number", G_FOLLOW, "Time followed", "months", low=0, high=240,
          help="since the decision, to the last visit"),
    Field("distant_metastasis_followup", B, G_FOLLOW, "Distant metastasis during follow-up"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)
REQUIRED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
OUTCOME = "complete_response"
# Version 2 columns; a version-1 file has none of them and stays valid (each may be absent or blank).
V2_COLUMNS: tuple[str, ...] = ("ymr_n_stage", "ymr_emvi", "residual_lesion_mm", "restaging_biopsy", "sphincter_involved",
                               "fit_for_major_surgery", "patient_preference", "management", "ypt_stage", "ypn_stage",
                               "local_regrowth", "months_to_regrowth", "months_followed", "distant_metastasis_followup")
FOLLOW_UP: tuple[str, ...] = tuple(f.name for f in FIELDS if f.group == G_FOLLOW)
PREDICTORS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.modality)
# Precomputed radiomic feature columns carry this prefix (see watchwait.features).
RADIOMICS_PREFIX = "radiomics_"

# Boolean cells accept these spellings (any case).
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})

# Assay detection limit used to mark the ctDNA plot and define "detected": > 0 = detected.
CTDNA_COLUMNS = ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml")

#: Characters in one cell of a cohort file or one typed value (a path: PATH_MAX is 4,096). Issue 22, item 4.
MAX_CELL_CHARS = 4_096
#: Free-text fields with a tighter limit than a cell's: the site's name.
TEXT_LIMITS = {"site": 200}
#: A number or whole number as typed (digits, sign, point, exponent): far more than any valid value needs.
MAX_NUMBER_CHARS = 32


def max_chars(field: Field) -> int:
    """The most characters a value of ``field`` may have: the validator refuses a longer text or path value with
    this limit in its message (numbers and the pseudonym are refused by their own rules first)."""
    if field.kind in ("integer", "number"):
        return MAX_NUMBER_CHARS
    if field.name == "patient_id":
        return 64
    return TEXT_LIMITS.get(field.name, MAX_CELL_CHARS)
