"""watchwait: decision support for watch-and-wait, local excision or TME in pMMR/MSS rectal cancer.

The pure domain package: it never imports streamlit. The public entry point is :func:`assess`.
"""

from watchwait.errors import (  # noqa: F401
    CohortFileError,
    FieldIssue,
    ImagingError,
    ModelArtifactError,
    RecordError,
    WatchwaitError,
)

__version__ = "0.1.0"


def assess(record, model=None):
    """Assess one patient record; see :func:`watchwait.engine.assess`."""
    from watchwait.engine import assess as _assess

    return _assess(record, model=model)
