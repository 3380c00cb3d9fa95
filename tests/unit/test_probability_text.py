"""A model's probability as a clinician should read it (issue 21): "> 99%" above 0.995, "< 1%" below 0.005, else
the whole percentage; never "100%" or "0%" for a model output. One writer (watchwait.probtext, re-exported by
watchwait.present) for the screens, the case PDF, the FHIR text and the command line."""

from __future__ import annotations

import pytest

from watchwait import present, probtext


@pytest.mark.parametrize("p, percent, count, about", [
    (0.0, "< 1%", "fewer than 1", "fewer than 1"),
    (0.004, "< 1%", "fewer than 1", "fewer than 1"),
    (0.0049999, "< 1%", "fewer than 1", "fewer than 1"),
    (0.005, "1%", "1", "about 1"),  # the edge itself is 1%: "below 0.005" is "< 1%"
    (0.0051, "1%", "1", "about 1"),
    (0.125, "13%", "13", "about 13"),  # half rounds up (Python's round and f"{12.5:.0f}" give 12)
    (0.365, "37%", "37", "about 37"),  # 100 * 0.365 is 36.4999... in binary: still 37
    (0.5, "50%", "50", "about 50"),
    (0.994, "99%", "99", "about 99"),
    (0.995, "99%", "99", "about 99"),  # the edge itself is 99%: "above 0.995" is "> 99%"
    (0.9951, "> 99%", "more than 99", "more than 99"),
    (0.996, "> 99%", "more than 99", "more than 99"),
    (0.9996, "> 99%", "more than 99", "more than 99"),
    (1.0, "> 99%", "more than 99", "more than 99"),
])
def test_a_model_probability_at_and_around_the_edges(p, percent, count, about):
    assert present.percent(p) == percent
    assert present.count(p) == count
    assert present.about(p) == about
    assert present.in_100(p) == f"{about} in 100"


@pytest.mark.parametrize("p, others", [(0.0, "more than 99"), (0.004, "more than 99"), (0.005, "99"), (0.375, "62"),
                                       (0.995, "1"), (0.996, "fewer than 1"), (1.0, "fewer than 1")])
def test_the_others_of_the_same_100(p, others):
    """'about 38 have no tumour left; about 62 have residual tumour': the two counts add up to 100, and the edges
    turn round ("more than 99" no tumour: "fewer than 1" residual)."""
    assert present.count(p, complement=True) == others


def test_counts_add_up_to_100_everywhere_between_the_edges():
    for i in range(5, 996):
        p = i / 1000
        n, rest = present.count(p), present.count(p, complement=True)
        assert int(n) + int(rest) == 100 and 1 <= int(n) <= 99, p


@pytest.mark.parametrize("lo, hi, text, counts", [
    (0.97, 0.9996, "97% to > 99%", "97 to more than 99"),
    (0.9726933, 1.0, "97% to > 99%", "97 to more than 99"),  # DEMO-01's interval (was "97% to 100%")
    (0.0, 0.0259, "< 1% to 3%", "fewer than 1 to 3"),  # DEMO-05's (was "0% to 3%")
    (0.208, 0.551, "21% to 55%", "21 to 55"),
    (0.996, 1.0, "> 99% (both ends)", "more than 99 (both ends)"),
    (0.0, 0.001, "< 1% (both ends)", "fewer than 1 (both ends)"),
])
def test_an_interval_says_each_end_the_same_way(lo, hi, text, counts):
    assert present.interval_text(lo, hi) == text
    assert present.count_range(lo, hi) == counts


def test_the_residual_counts_interval_turns_round():
    assert present.count_range(0.97, 0.9996, complement=True) == "fewer than 1 to 3"
    assert present.count_range(0.0, 0.0259, complement=True) == "97 to more than 99"


def test_icons_fill_as_the_words_count():
    """The icon array's filled icons: 0 or 100 only beyond the edges, where the words say "fewer than 1" / "more
    than 99"; in between the same whole number the words print."""
    assert [probtext.icons(p) for p in (0.0, 0.004, 0.005, 0.125, 0.995, 0.996, 1.0)] == [0, 0, 1, 13, 99, 100, 100]


def test_never_100_or_0_for_any_probability():
    import re

    for i in range(0, 100001):
        p = i / 100000
        assert not re.fullmatch(r"(100|0)%", present.percent(p)), p
        assert present.count(p) not in ("0", "100") and present.count(p, complement=True) not in ("0", "100"), p
