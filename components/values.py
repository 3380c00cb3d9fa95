"""Raw form values, without importing pandas (the first screen renders before the heavy imports).

:func:`is_blank` follows :func:`watchwait.validation.is_blank` exactly for the values a form holds
(tests/app/test_structure.py checks they agree).
"""

from __future__ import annotations

import math


def is_blank(value: object) -> bool:
    """None, NaN, or an empty/whitespace string: not available."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""
