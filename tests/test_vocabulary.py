"""The vocabulary and quantity rules that check the model's reading of a request heading.
Each rule is pinned here by headings we wrote; the gold-label test measures them on every
labelled item (seeds always, the DWC dev letters' labels too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imr_llm.enrich.quantity import find_quantity, parse_quantity, trim_service
from imr_llm.enrich.vocabulary import classify, regions, sides
from imr_llm.taxonomy import SUBCATEGORIES

GOLD = Path(__file__).resolve().parent.parent / "evals" / "gold"

CASES = [
    ("Baclofen 10mg #90", "Pharmaceuticals", "Muscle Relaxant"),
    ("Oxycodone HCL 15mg #120", "Pharmaceuticals", "Opioids"),
    ("Butrans patch 10mcg #4", "Pharmaceuticals", "Opioids"),  # an opioid patch stays an opioid
    ("Voltaren gel 1% 100gm", "Pharmaceuticals", "Topical Analgesics/Compounds"),
    ("Voltaren XR 100mg #30", "Pharmaceuticals", "NSAID"),
    ("Lidocaine 5% patch #30", "Pharmaceuticals", "Topical Analgesics/Compounds"),
    ("Omeprazole 20mg #60", "Pharmaceuticals", "PPIs"),
    ("Ambien 10mg #30", "Pharmaceuticals", "Sleep Aids"),
    ("Lyrica 75mg #60", "Pharmaceuticals", "AEDs"),
    ("Toradol injection 60mg", "Injection", "Other"),
    ("Lumbar epidural steroid injection at L4-5", "Injection", "Other"),
    ("Bilateral L4-5 medial branch blocks", "Injection", "Facet"),
    ("Electroacupuncture 6 sessions", "Rehabilitation", "Acupuncture"),
    ("Acupuncture with infrared heat, 8 visits", "Rehabilitation", "Acupuncture"),
    ("Chiropractic manipulation 2 times a week for 3 weeks", "Rehabilitation", "Chiropractic"),
    ("Aquatic therapy 12 sessions", "Rehabilitation", "PT/OT"),
    ("Massage therapy x 6", "Rehabilitation", "Other"),
    ("MRI of the cervical spine without contrast", "Diagnostic Testing", "Imaging/Radiology"),
    ("EMG/NCV bilateral lower extremities", "Diagnostic Testing", "EMG/NCV/NCS"),
    ("Urine drug screen", "Diagnostic Testing", "Lab & Pathology"),
    ("Functional capacity evaluation", "Diagnostic Testing", "Other"),
    ("Associated surgical service: Cold therapy unit, 7 day rental", "DMEPOS", "DME"),
    ("Associated surgical service: Labs - CBC", "Diagnostic Testing", "Lab & Pathology"),
    ("Associated surgical service: Assistant surgeon", "Surgery", "Adjunct"),
    ("Associated surgical service: Medical clearance", "Evaluation & Management", "Medical Specialties"),
    ("TENS unit 30 day trial", "DMEPOS", "Electrical Stimulation"),
    ("Lumbar back brace", "DMEPOS", "Prosthetics/Orthotics"),
    ("Right knee arthroscopy with partial medial meniscectomy", "Surgery", "Arthroscopic"),
    ("L4-S1 posterior lumbar fusion", "Surgery", "Spine"),
    ("Right carpal tunnel release", "Surgery", "Non-arthroscopic"),
    ("Consultation with an orthopedic surgeon for the left shoulder", "Surgery", "Surgical Consult"),
    ("Pain management consultation", "Evaluation & Management", "Medical Specialties"),
    ("Psychological evaluation", "Psych Services", "E&M"),
    ("Cognitive behavioral therapy 6 sessions", "Psych Services", "Therapies"),
    ("Functional restoration program 80 hours", "Programs", "Functional Restoration"),
    ("Home health aide 4 hours a day", "Home Health", None),
    ("Extracorporeal shockwave therapy for the right heel", "Therapies", None),
    ("Transportation to and from medical appointments", "Transportation", None),
]


@pytest.mark.parametrize("heading,category,subcategory", CASES)
def test_vocabulary_classifies_headings(heading, category, subcategory):
    match = classify(heading)
    assert match is not None, heading
    assert (match.category, match.subcategory) == (category, subcategory)
    assert match.subcategory is None or match.subcategory in SUBCATEGORIES[match.category]
    assert heading[match.start:match.end].strip(), "the deciding words are the evidence span"


def test_unknown_treatments_are_left_to_the_model():
    assert classify("Zyxoprin 10mg #30") is None
    assert classify("Something entirely new") is None


@pytest.mark.parametrize("heading,expected", [
    ("MRI of the lumbar spine", ["low_back"]),
    ("Bone scan of the spine", ["spine"]),
    ("Physical therapy for the neck and right shoulder", ["neck", "shoulder"]),
    ("EMG of the bilateral upper extremities", ["upper_extremity"]),
    ("Standard wheelchair rental", []),  # "wheelchair" holds "heel" but names no heel
    ("MRI of the brain", ["head"]),
])
def test_regions_come_from_heading_words(heading, expected):
    found = regions(heading)
    assert [r for r, _, _ in found] == expected
    for _, start, end in found:
        assert heading[start:end].strip()


@pytest.mark.parametrize("heading,side", [
    ("MRI of the left knee", "left"),
    ("X-ray of the RT wrist", "right"),
    ("EMG of the bilateral hands", "bilateral"),
    ("PT for the left shoulder and right knee", "bilateral"),
    ("NCS RUE", "right"),
    ("EMG of the upper extremities", None),
])
def test_sides(heading, side):
    assert sides(heading)[0] == side


@pytest.mark.parametrize("heading,drug,expected", [
    ("Physical therapy 2 times a week for 6 weeks", False, dict(frequency_per_week=2, duration_weeks=6, total_sessions=12)),
    ("Acupuncture 2xwk x 4 wks lumbar", False, dict(frequency_per_week=2, duration_weeks=4, total_sessions=8)),
    ("THREE TIMES PER WEEK FOR FOUR WEEKS", False, dict(frequency_per_week=3, duration_weeks=4, total_sessions=12)),
    ("Additional physical therapy 2 times 4", False, dict(frequency_per_week=2, duration_weeks=4, total_sessions=8)),
    ("Twelve sessions of chiropractic", False, dict(count=12, total_sessions=12)),
    ("Physical therapy x 8 sessions", False, dict(count=8, total_sessions=8)),
    ("Acupuncture #6", False, dict(count=6, total_sessions=6)),
    ("One bone scan", False, dict(count=1, total_sessions=None)),
    ("Post-op physical therapy 12-18 sessions", False, dict(count=None, total_sessions=None)),  # a range
    ("Physical therapy 2-3 times a week for 6 weeks", False, dict(frequency_per_week=None, duration_weeks=6, total_sessions=None)),
    ("Cold therapy unit 14 days rental", False, dict(duration_weeks=2)),
    ("Cold therapy unit 10 days rental", False, dict(duration_weeks=None)),  # not whole weeks
    ("Wheelchair 3 month rental", False, dict(duration_weeks=None)),  # months are not converted
    ("Home nursing daily for 4 weeks", False, dict(frequency_per_week=7, duration_weeks=4, total_sessions=28)),
    ("Norco 10/325mg #60", True, dict(strength="10/325mg", dispense_qty=60, count=None)),
    ("Norflex 100mg #60", True, dict(strength="100mg", dispense_qty=60, count=None)),
    ("Lidopro 4%-27.5%-0.0325% 121gm #1", True, dict(strength="4%-27.5%-0.0325%", dispense_qty=1)),
    ("Voltaren 75mg #60 with 3 refills", True, dict(dispense_qty=60, count=None)),
])
def test_quantity_rules(heading, drug, expected):
    found = find_quantity(heading, drug=drug)
    assert found is not None
    quantity, start, end = found
    assert quantity.raw == heading[start:end]
    for key, value in expected.items():
        assert getattr(quantity, key) == value, key


def test_no_quantity_words_no_quantity():
    assert find_quantity("MRI of the lumbar spine") is None
    assert parse_quantity("2 times a week for 3 weeks").total_sessions == 6


def test_rules_on_every_labelled_item():
    """The rules against every gold label (seeds always; the dev labels are facts we wrote, so
    they are here even where the dev letters are not): at least 97% right per field."""
    items = [item for path in sorted(GOLD.rglob("*.json")) for item in json.loads(path.read_text())["items"]]
    assert len(items) >= 7
    right = {"category": 0, "regions": 0, "side": 0, "quantity": 0}
    for item in items:
        heading = item.get("disputed_portion") or item["request"]
        match = classify(heading)
        right["category"] += (match.category, match.subcategory) == (item["category"], item["subcategory"]) if match else 0
        right["regions"] += {r for r, _, _ in regions(heading)} == set(item["body_regions"])
        right["side"] += sides(heading)[0] == item["laterality"]
        found = find_quantity(heading, drug=bool(match and match.category == "Pharmaceuticals"))
        got = found[0].model_dump() if found else {}
        right["quantity"] += all(got.get(k) == v for k, v in item["quantity"].items() if k not in ("raw",))
    for field, n in right.items():
        assert n / len(items) >= 0.97, f"{field}: {n}/{len(items)}"


@pytest.mark.parametrize("heading,service,drug,expected", [
    ("Salonpas pad #60", "salonpas pad", True, "salonpas"),
    ("Nortriptyline HCL 25mg, #30", "nortriptyline hcl", True, "nortriptyline"),
    ("Diclofenac ER 100mg #60", "diclofenac er", True, "diclofenac er"),  # the release form is the drug
    ("Twelve infrared acupuncture visits, 2 times weekly", "twelve infrared acupuncture visits", False, "infrared acupuncture"),
    ("MRI (magnetic resonance imaging) of the cervical spine", "magnetic resonance imaging", False, "MRI"),
    ("Three phase bone scan to the left foot", "three phase bone scan", False, "three phase bone scan"),
    ("Acupuncture visits with Capsaicin patch", "acupuncture visits with capsaicin patch", False,
     "acupuncture visits with capsaicin patch"),
])
def test_service_words_are_trimmed_to_the_convention(heading, service, drug, expected):
    assert trim_service(heading, service, drug=drug) == expected
    assert expected.lower() in heading.lower()  # still words of the heading: grounded like the answer


def test_trimming_leaves_every_gold_service_alone():
    for path in sorted(GOLD.rglob("*.json")):
        for item in json.loads(path.read_text())["items"]:
            heading = item.get("disputed_portion") or item["request"]
            match = classify(heading)
            drug = bool(match and match.category == "Pharmaceuticals")
            assert trim_service(heading, item["service"], drug=drug).lower() == item["service"].lower(), path.name
