"""The DWC request taxonomy (from the DWC IMR decision search tool; the list in evals/README.md):
which subcategories each `schema.Category` allows, which a type cannot say. A category with no
subcategories (an empty tuple) takes a null one; for `Pharmaceuticals` the subcategory is the drug class."""

from __future__ import annotations

SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "Diagnostic Testing": ("Imaging/Radiology", "EMG/NCV/NCS", "Lab & Pathology", "Other"),
    "DMEPOS": ("DME", "Electrical Stimulation", "Prosthetics/Orthotics", "Supplies"),
    "Evaluation & Management": ("Medical Specialties", "Dental"),
    "Home Health": (),
    "Injection": ("Facet", "Other"),
    "Pharmaceuticals": (
        "Opioids", "NSAID", "Muscle Relaxant", "Topical Analgesics/Compounds", "PPIs", "Antidepressant", "AEDs",
        "Benzodiazepines", "Sleep Aids", "Antiemetics", "H2 Blockers", "Erectile Dysfunction", "Other",
    ),
    "Programs": ("Functional Restoration", "Inpatient/Skilled Nursing", "Other"),
    "Psych Services": ("E&M", "Therapies"),
    "Rehabilitation": ("Acupuncture", "Chiropractic", "PT/OT", "Other"),
    "Surgery": ("Spine", "Arthroscopic", "Non-arthroscopic", "Adjunct", "Surgical Consult"),
    "Therapies": (),
    "Transportation": (),
}


def subcategory_problem(category: str | None, subcategory: str | None) -> str | None:
    """Why `subcategory` cannot go with `category` (None when it can). `category` is a `schema.Category`
    (its callers validate it first; tests/test_evaluation.py pins that every one has a row here)."""
    if category is None:
        return None if subcategory is None else f"subcategory {subcategory!r} given without a category"
    allowed = SUBCATEGORIES[category]
    if not allowed:
        return None if subcategory is None else f"category {category!r} has no subcategories (subcategory must be null)"
    if subcategory is None or subcategory in allowed:
        return None
    return f"subcategory {subcategory!r} is not one of {category!r}'s: {', '.join(allowed)}"
