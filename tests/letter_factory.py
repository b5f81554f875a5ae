"""Build IMR letters we write ourselves, in every layout the parser claims to handle, together
with the facts each one states. Property tests draw thousands of them; the expected values
come from the spec, never from the parser.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from hypothesis import strategies as st

SERVICES = [
    "Physical therapy", "MRI of the lumbar spine", "Oxycodone HCL ER 20mg #60 day supply: 30",
    "Associated surgical service: Cold therapy unit", "EMG/NCV of the bilateral upper extremities",
    "Acupuncture 2xwk x 4 wks", "Norco 10/325mg #90", "Lidocaine ointment 5% 106.32gm",
    "Twelve sessions of chiropractic care for the neck", "Post-op Zofran", "Right knee arthroscopy (partial meniscectomy)",
    "Home health aide four hours a day, five days a week for six weeks", "Urine drug testing",
]
BODY = ["", " for the low back", " to the right shoulder", " of the cervical spine", " for the left knee and ankle"]

# (text of the guideline field, families it names)
BASES = [
    ("The Claims Administrator did not cite any medical evidence for its decision.", ["NONE"]),
    ("Decision based on MTUS Chronic Pain Medical Treatment 2016, Section(s): Physical medicine treatment.", ["MTUS"]),
    ("Decision based on MTUS Low Back Complaints 2004, Section(s): Special Studies, and Chronic Pain Medical "
     "Treatment 2016, Section(s): Opioids, criteria for use.", ["MTUS"]),
    ("Decision based on MTUS Knee Complaints 2004. Decision based on Non-MTUS Citation Official Disability "
     "Guidelines (ODG), Knee and Leg Chapter, MRI.", ["MTUS", "ODG"]),
    ("The Expert Reviewer based their decision on recommendation(s) outside of the MTUS Guidelines. Decision based "
     "on Non-MTUS Citation ACOEM Occupational Medicine Practice Guidelines, 3rd ed., Low Back Disorders, pg. 607.", ["ACOEM"]),
    ("The Claims Administrator based their decision on recommendation(s) outside of the MTUS Guidelines. Decision "
     "based on Non-MTUS Citation Sildenafil: Drug information, accessed from UpToDate.com.", ["OTHER"]),
    ("Decision based on MTUS Chronic Pain Treatment Guidelines Physical Medicine Page(s): 98-99 of 127. Decision "
     "based on Non-MTUS Citation Official Disability Guidelines (ODG) Low Back; UpToDate, Imaging.", ["MTUS", "ODG", "OTHER"]),
]
RATIONALE = [
    "The records do not document objective functional improvement from prior care.",
    "Guidelines recommend a short course only; this request exceeds it.",
    "There is no documentation of a failed home exercise program.",
    "The requested study is supported by a progressive neurologic deficit.",
    "Red flag findings were not described on examination.",
]


@dataclass
class ItemSpec:
    service: str
    decision: str
    ca: int
    rv: int
    modified: int = 0  # 0 no, 1 "remaining IMR eligible portion", 2 "leaving the original request IMR eligible"
    decision_on_next_line: bool = False

    @property
    def request(self) -> str:
        if self.modified == 1:
            return (f"{self.service} eight sessions was the original request. {self.service} six sessions was "
                    f"authorized by the Claims Administrator. The remaining IMR eligible portion of the original "
                    f"request, {self.service} two sessions is")
        if self.modified == 2:
            return (f"Purchase of {self.service} was the original request. The Claims Administrator authorized "
                    f"{self.service} for 1 month rental, leaving the original request IMR eligible. The original "
                    f"request, purchase of {self.service} is")
        return self.service

    @property
    def parts(self) -> tuple[str | None, str | None, str | None]:
        if self.modified == 1:
            return (f"{self.service} eight sessions", f"{self.service} six sessions", f"{self.service} two sessions")
        if self.modified == 2:
            return (f"Purchase of {self.service}", f"{self.service} for 1 month rental", f"purchase of {self.service}")
        return (None, None, None)


@dataclass
class LetterSpec:
    items: list[ItemSpec]
    header: str | None = "rows"  # None | "rows" | "columns" | "layout"
    credentials: str = "list"  # "list" | "sentence"
    age: int | None = 47
    sex: str | None = "female"
    double_spaced: bool = False
    width: int = 90
    states: list[str] = field(default_factory=lambda: ["California", "New York"])
    verdict_period: bool = True  # some rationales end "... is not medically necessary" with no period


def _header(kind: str) -> list[str]:
    if kind == "rows":
        return ["Case Number: CM17-0012345", "Date Assigned: 01/05/2017 Date of Injury: 10/22/2016",
                "Decision Date: 02/02/2017 UR Denial Date: 12/20/2016", "Priority: Standard Application",
                "Received:", "12/27/2016"]
    if kind == "columns":
        return ["Case Number:", "Date Assigned:", "Decision Date:", "Priority:", "", "CM17-0012345", "01/05/2017",
                "02/02/2017", "Standard", "", "Date of Injury:", "UR Denial Date:", "Application", "Received:", "",
                "10/22/2016", "12/20/2016", "12/27/2016", ""]
    return ["Case Number:          CM17-0012345",
            "Date Assigned:        01/05/2017                      Date of Injury:      10/22/2016",
            "Decision Date:        02/02/2017                      UR Denial Date:      12/20/2016",
            "Priority:             Standard                        Application          12/27/2016",
            "                                                      Received:", ""]


HEADER_FACTS = {
    "case_number": "CM17-0012345", "date_assigned": "2017-01-05", "decision_date": "2017-02-02",
    "date_of_injury": "2016-10-22", "ur_denial_date": "2016-12-20", "application_received": "2016-12-27",
    "priority": "standard",
}


def render(spec: LetterSpec) -> str:
    wrap = lambda s: textwrap.wrap(s, spec.width, break_long_words=False, break_on_hyphens=False)  # noqa: E731
    lines: list[str] = []
    if spec.header:
        lines += _header(spec.header)
    lines.append("HOW THE IMR FINAL DETERMINATION WAS MADE")
    lines += wrap("MAXIMUS Federal Services sent the complete case file to an expert reviewer. He/she has no "
                  "affiliation with the employer, employee, providers or the claims administrator.")
    if spec.credentials == "list":
        lines += ["The Expert Reviewer has the following credentials:",
                  "State(s) of Licensure: " + ",".join(spec.states),
                  "Certification(s)/Specialty: Family Practice, Sports Medicine"]
    else:
        lines += wrap("The expert reviewer is Board Certified in Family Practice, has a subspecialty in Sports "
                      f"Medicine and is licensed to practice in {' and '.join(spec.states)}.")
    lines.append("CLINICAL CASE SUMMARY")
    who = "This is a patient"
    if spec.age is not None:
        who = f"The injured worker is a {spec.age} year old {spec.sex or 'person'}"
    lines += wrap(f"{who} who sustained an industrial injury on 10-22-2016. A utilization review dated "
                  "12-20-2016 denied the requests.")
    lines.append("IMR ISSUES, DECISIONS AND RATIONALES")
    lines.append("The Final Determination was based on decisions for the disputed items/services set forth below:")
    for k, item in enumerate(spec.items):
        heading = wrap(item.request + ":")
        token = "Upheld" if item.decision == "upheld" else "Overturned"
        if item.decision_on_next_line:
            lines += heading + [token]
        else:
            lines += heading[:-1] + [heading[-1] + " " + token]
        lines += wrap("Claims Administrator guideline: " + BASES[item.ca][0])
        lines += wrap("MAXIMUS guideline: " + BASES[item.rv][0])
        verdict = "is not medically necessary" if item.decision == "upheld" else "is medically necessary"
        verdict += "." if spec.verdict_period else ""
        lines += wrap("Decision rationale: " + " ".join(RATIONALE[(k + j) % len(RATIONALE)] for j in range(2))
                      + f" Therefore, the request {verdict}")
    if spec.double_spaced:
        return "".join(f"{line} \n\n" for line in lines)
    return "\n".join(lines) + "\n"


def expected(spec: LetterSpec) -> dict:
    out: dict = {key: None for key in HEADER_FACTS}
    if spec.header:
        out.update(HEADER_FACTS)
    else:
        out["date_of_injury"], out["ur_denial_date"] = "2016-10-22", "2016-12-20"
    out["licensure_states"] = spec.states
    out["age"], out["sex"] = spec.age, (spec.sex if spec.age is not None else None)
    out["items"] = [
        {
            "request": item.request,
            "decision": item.decision,
            "modified_by_ur": bool(item.modified),
            "original_request": item.parts[0],
            "ur_authorized": item.parts[1],
            "disputed_portion": item.parts[2],
            "ca": BASES[item.ca][1],
            "rv": BASES[item.rv][1],
        }
        for item in spec.items
    ]
    return out


item_specs = st.builds(
    ItemSpec,
    service=st.builds(lambda s, b: s + b, st.sampled_from(SERVICES), st.sampled_from(BODY)),
    decision=st.sampled_from(["upheld", "overturned"]),
    ca=st.integers(0, len(BASES) - 1),
    rv=st.integers(0, len(BASES) - 1),
    modified=st.sampled_from([0, 0, 0, 1, 2]),
    decision_on_next_line=st.booleans(),
)
letter_specs = st.builds(
    LetterSpec,
    items=st.lists(item_specs, min_size=1, max_size=7),
    header=st.sampled_from([None, "rows", "columns", "layout"]),
    credentials=st.sampled_from(["list", "sentence"]),
    age=st.one_of(st.none(), st.integers(18, 80)),
    sex=st.sampled_from(["male", "female"]),
    double_spaced=st.booleans(),
    width=st.integers(40, 110),
    states=st.lists(st.sampled_from(["California", "Texas", "New York", "Ohio", "Florida"]), min_size=1, max_size=3, unique=True),
    verdict_period=st.booleans(),
)
