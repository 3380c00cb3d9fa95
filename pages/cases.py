"""Cases: every case in the store, searched and paged; opening one opens that patient on every screen;
follow-up for the open case (components/cases.py)."""

from components import cases

cases.cases_screen()
