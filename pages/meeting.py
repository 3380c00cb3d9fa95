"""Meeting: the MDT steps through its cases (Presentation mode on the shared screen), records a decision per
case, ends with a summary, and exports the case PDF and the meeting's FHIR Bundle (components/meeting.py)."""

from components import meeting

meeting.meeting_screen()
