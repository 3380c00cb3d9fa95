"""Generate ``watchwait/data/ps315_table_e1_1.json`` (DICOM PS3.15 Table E.1-1) from a source derived from the standard.

The source is ``standard/confidentiality_profile_attributes.json`` of the innolitics ``dicom-standard``
repository (https://github.com/innolitics/dicom-standard), which its parser scrapes from the standard's HTML
(Table E.1-1 "Application Level Confidentiality Profile Attributes"). Nothing in the output is typed by hand:
each row is copied (tag, name, Basic Profile action, option columns); the keyword is pydicom's for the tag.

Usage (the repository mirrored as a bare git directory, or the JSON file itself)::

    python scripts/make_deid_table.py --git-dir /work/.mirror/innolitics+dicom-standard/repo
    python scripts/make_deid_table.py --json confidentiality_profile_attributes.json --commit <sha> --revision 2024b

The revision of the standard is read from the message of the last commit that changed the file
("Update standard to rev2024b") when ``--git-dir`` is given.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

from pydicom.datadict import keyword_for_tag

SOURCE_PATH = "standard/confidentiality_profile_attributes.json"
OUT = Path(__file__).resolve().parents[1] / "watchwait" / "data" / "ps315_table_e1_1.json"
#: innolitics column name -> the option's name in PS3.15 (and its code in CID 7050, DCM)
OPTIONS = {
    "cleanDescOpt": "Clean Descriptors Option (113105)",
    "cleanStructContOpt": "Clean Structured Content Option (113104)",
    "cleanGraphOpt": "Clean Graphics Option (113103)",
    "rtnLongFullDatesOpt": "Retain Longitudinal Temporal Information Full Dates Option (113106)",
    "rtnLongModifDatesOpt": "Retain Longitudinal Temporal Information Modified Dates Option (113107)",
    "rtnPatCharsOpt": "Retain Patient Characteristics Option (113108)",
    "rtnDevIdOpt": "Retain Device Identity Option (113109)",
    "rtnUIDsOpt": "Retain UIDs Option (113110)",
    "rtnSafePrivOpt": "Retain Safe Private Option (113111)",
    "rtnInstIdOpt": "Retain Institution Identity Option (113112)",
}


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True, text=True).stdout


def build(rows: list[dict], source: dict) -> dict:
    out = []
    for row in rows:
        tag = row["tag"].upper().replace("X", "x")
        m = re.fullmatch(r"\(([0-9A-Fx]{4}),([0-9A-Fx]{4})\)", tag)
        keyword = ""
        if m and "x" not in tag:
            keyword = keyword_for_tag(int(m.group(1) + m.group(2), 16)) or ""
        entry = {"tag": tag if m else row["tag"], "name": row["name"], "keyword": keyword,
                 "basic": row["basicProfile"], "in_std_composite_iod": row.get("stdCompIOD") == "Y"}
        options = {key: row[key] for key in OPTIONS if row.get(key)}
        if options:
            entry["options"] = options
        out.append(entry)
    out.sort(key=lambda e: e["tag"])
    return {
        "title": "DICOM PS3.15 Table E.1-1 Application Level Confidentiality Profile Attributes",
        "source": source,
        "generated_by": "scripts/make_deid_table.py",
        "option_columns": OPTIONS,
        "actions": "D dummy value, Z zero length, X remove, K keep, C clean, U replace UID; "
                   "combined (X/Z, X/D, X/Z/D, Z/D, X/Z/U*): see watchwait/imaging/deid.py",
        "attributes": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git-dir")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--commit", default="")
    parser.add_argument("--revision", default="")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.git_dir:
        text = _git(args.git_dir, "show", f"HEAD:{SOURCE_PATH}")
        head = _git(args.git_dir, "rev-parse", "HEAD").strip()
        last = _git(args.git_dir, "log", "-1", "--format=%H%n%cI%n%s", "HEAD", "--", SOURCE_PATH).splitlines()
        revision = (re.search(r"rev(\d{4}[a-e])", last[2]) or [None, args.revision])[1]
        source = {"repository": "https://github.com/innolitics/dicom-standard", "path": SOURCE_PATH,
                  "snapshot_commit": head, "file_commit": last[0], "file_commit_date": last[1],
                  "file_commit_message": last[2], "standard_revision": revision}
    else:
        text = args.json.read_text()
        source = {"repository": "https://github.com/innolitics/dicom-standard", "path": SOURCE_PATH,
                  "file_commit": args.commit, "standard_revision": args.revision}
    data = build(json.loads(text), source)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(data['attributes'])} attributes (PS3.15 {source.get('standard_revision')})")


if __name__ == "__main__":
    main()
