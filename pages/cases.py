"""Cases: every case in the store, searched and paged; opening one opens that patient on every screen;
follow-up for the open case (components/meeting.py)."""

from components import meeting

meeting.cases_screen()
