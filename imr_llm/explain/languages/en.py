"""English: the explanation's fixed sentences, vetted facts, labels, guard words, readability formula and grammar."""

from __future__ import annotations

import re

from ..text import fmt_number, join_words, tidy

TEMPLATES: dict = {  # vetted sentences: planted text may copy them
    'headlines': {
        ('all_upheld', True):
            'The treatment your doctor asked for is still not approved.',
        ('all_upheld', False):
            'None of the treatments your doctor asked for were approved.',
        ('all_upheld_modified', True):
            'The review did not approve the part of the request that was still in dispute. The part already approved stays approved.',
        ('all_upheld_modified', False):
            'The review did not approve any of the requests that were still in dispute. Any part already approved stays approved.',
        ('all_overturned', True):
            'Good news: the treatment your doctor asked for is now approved.',
        ('all_overturned', False):
            'Good news: all the treatments your doctor asked for are now approved.',
        ('mixed', False):
            'Some of the treatments your doctor asked for are now approved, and some are not.',
    },
    'why_verdict': {
        'upheld':
            'The reviewer decided this treatment is not medically necessary for you now.',
        'overturned':
            'The reviewer decided this treatment is medically necessary for you.',
    },
    'why_decision': {
        'upheld':
            'The letter marks this request as not approved (upheld).',
        'overturned':
            'The letter marks this request as approved (overturned).',
    },
    'why_guidelines': {
        'upheld':
            'The reviewer checked the medical treatment guidelines ({families}). The request did not meet them.',
        'overturned':
            'The reviewer checked the medical treatment guidelines ({families}). The request met them.',
    },
    'why_other_sources': {
        'upheld':
            'The reviewer used other medical sources. The request did not meet them.',
        'overturned':
            'The reviewer used other medical sources. The request met them.',
    },
    'why_no_guideline': 'The letter does not name a guideline for this decision.',
    'other_sources': 'other sources',
    'help_generic': 'Your doctor could send a new request with notes that show what has changed. For example: new exam results, new test results, or how past care helped you.',
    'planted_request': 'the treatment in this request',
    'disputed_part': 'the part of the request that was still in dispute',
    'unknown_quantity': ' (unknown quantity)',
    'purchase': 'buying {core}',
}
WORDS = {"and": " and ", "for_time": "for", "after_surgery": " after surgery", "for_surgery": " for the surgery",
         "letter_says": " (the letter says: \"{raw}\")"}

REGIONS = {"neck": "neck", "upper_back": "upper back", "low_back": "lower back", "spine": "spine", "head": "head",
           "psych": "mental health", "other": "body"}
TRUNK = {"chest": "chest", "abdom": "belly", "rib": "ribs", "trunk": "trunk"}
# a service (wording.py's key): its name, the word before "visits" ("" when it is not counted in visits),
# and the word before a body part (None: no body part is said)
SERVICES = {
    "hand_therapy": ("hand therapy", "hand therapy", "for"),
    "physical_therapy": ("physical therapy", "physical therapy", "for"),
    "occupational_therapy": ("occupational therapy", "occupational therapy", "for"),
    "water_therapy": ("water therapy", "water therapy", "for"),
    "manual_therapy": ("manual therapy", "manual therapy", "for"),
    "exercise_therapy": ("exercise therapy", "exercise therapy", "for"),
    "myofascial_release": ("myofascial release (a kind of massage)", "myofascial release", "for"),
    "electro_acupuncture": ("electro-acupuncture", "electro-acupuncture", "for"),
    "acupuncture": ("acupuncture", "acupuncture", "for"),
    "chiropractic": ("chiropractic care", "chiropractic", "for"),
    "massage": ("massage therapy", "massage", "for"),
    "infrared_heat": ("infrared heat therapy", "infrared heat", "for"),
    "biofeedback": ("biofeedback", "biofeedback", "for"),
    "shockwave": ("shockwave therapy", "shockwave therapy", "for"),
    "electrical_stimulation": ("electrical stimulation", "electrical stimulation", "for"),
    "talk_therapy": ("talk therapy (counseling)", "talk therapy", "for"),
    "mri": ("an MRI scan", "", "of"),
    "x_rays": ("x-rays", "", "of"),
    "ct": ("a CT scan", "", "of"),
    "bone_scan": ("a bone scan", "", "of"),
    "emg_ncv": ("nerve and muscle tests (EMG and nerve conduction)", "", "of"),
    "emg": ("a muscle and nerve test (EMG)", "", "of"),
    "nerve_conduction": ("a nerve test (nerve conduction study)", "", "of"),
    "drug_test": ("a urine drug test", "", "of"),
    "ekg": ("a heart test (EKG)", "", None),
    "cbc": ("a blood count (CBC)", "", None),
    "clotting_test": ("a blood clotting test", "", None),
    "blood_chemistry": ("a blood chemistry test", "", None),
    "urinalysis": ("a urine test", "", None),
    "labs": ("lab tests", "", None),
    "epidural": ("an epidural injection", "", "in"),
    "facet": ("facet joint injections", "", "in"),
    "trigger_point": ("trigger point injections", "", "in"),
    "steroid": ("a steroid injection", "", "in"),
    "carpal_tunnel_release": ("carpal tunnel surgery", "", "on"),
    "assistant_surgeon": ("an assistant for the surgery", "", None),
    "clearance": ("a medical check-up", "", None),
    "specialist_visit": ("a visit with a specialist", "", "for"),
    "home_nurse": ("home nurse visits", "", None),
    "transportation": ("rides to your medical visits", "", None),
    "functional_restoration": ("a functional restoration program", "", None),
    "inpatient_rehab": ("a stay in an inpatient rehab center", "", None),
    "tens": ("a TENS unit", "", None),
    "wheelchair": ("a wheelchair", "", None),
    "walker": ("a walker", "", None),
    "commode": ("a bedside commode (a portable toilet)", "", None),
    "shower_chair": ("a shower chair", "", None),
    "cold_therapy": ("cold therapy", "", None),
    "sling": ("an arm sling", "", None),
}
# a paired body part (wording.py's key): singular, plural
BODY_PARTS = {
    "shoulder": ("shoulder", "shoulders"), "elbow": ("elbow", "elbows"), "forearm": ("forearm", "forearms"),
    "wrist": ("wrist", "wrists"), "hand": ("hand", "hands"), "finger": ("finger", "fingers"),
    "thumb": ("thumb", "thumbs"), "arm": ("arm", "arms"), "hip": ("hip", "hips"), "pelvis": ("pelvis", "pelvis"),
    "knee": ("knee", "knees"), "leg": ("leg", "legs"), "ankle": ("ankle", "ankles"), "foot": ("foot", "feet"),
    "toe": ("toe", "toes"), "heel": ("heel", "heels"), "eye": ("eye", "eyes"),
}


def times(n: float) -> str:
    return f"{fmt_number(n)} time{'s' if n != 1 else ''} a week"


def weeks(n: float) -> str:
    return f"{fmt_number(n)} week{'s' if n != 1 else ''}"


def body_part(part: tuple, side: str | None, plural: bool) -> str:
    """A paired body part (a `BODY_PARTS` entry) with its side, without "your"."""
    one, many = part
    noun = many if plural else one
    if side == "bilateral":
        return f"both {many}"
    return f"{side} {noun}" if side in ("left", "right") else noun


def request_core(service: tuple, count: float | None, more: bool, visits: bool, places: list[str]) -> str:
    """A known service (a `SERVICES` entry) in words: "8 more physical therapy visits for your lower back"."""
    name, visit, join = service
    if visits and count is not None:
        core = f"{fmt_number(count)} {'more ' if more else ''}{visit} visit{'s' if count != 1 else ''}"
    else:
        core = f"{'more ' if more and visits else ''}{name}"
    if places:
        joined = join_words(places, WORDS["and"])
        core += f" {join} " + ("both your " + joined[5:] if joined.startswith("both ") else "your " + joined)
    return core


def medicine(text: str, match, suffix: str) -> str:
    return "the medicine " + tidy(text) + suffix


def as_printed(text: str, suffix: str = "") -> str:
    """The heading as printed, in lower case except short acronyms (EKG, TENS), unless it is all capitals."""
    tokens = text.split()
    letters = [t for t in tokens if re.search(r"[A-Za-z]", t)]
    shouting = letters and sum(t.isupper() for t in letters) / len(letters) > 0.6 and len(letters) >= 3
    out = [t if not shouting and (core := re.sub(r"[^A-Za-z]", "", t)).isupper() and 1 < len(core) <= 5 else t.lower()
           for t in tokens]
    return tidy(" ".join(out)) + suffix


def quantity(words: str) -> str:
    """How much, how often, how long: the letter's own words."""
    return words

NAME = "English"  # in the model writer's prompt
FACTS = {  # vetted facts (facts.py: their keys, sources and outcomes); change with the source checked
    "status_upheld": "Not approved — the reviewer agreed with the earlier denial.",
    "status_overturned": "Approved — the earlier denial was reversed.",
    "status_upheld_modified": "Not approved — the reviewer agreed with the earlier decision. The part already approved stays approved.",
    "status_overturned_modified": "Approved — the earlier decision was reversed. The part already approved stays approved.",
    "authorize_5_working_days": "The claims administrator must authorize this treatment within 5 working days after it gets this decision.",
    "reimburse_20_days": "If you already had the treatment, they must pay for it within 20 days.",
    "new_request_change_in_facts": "Your doctor can ask again with a new request. The new request must show a change in your health that is written in your medical records.",
    "same_request_12_months": "Without such a change, the denial stays in place for 12 months when the same doctor or office asks for the same treatment.",
    "appeal_30_days": "You can appeal this decision to the WCAB. You must file the appeal within 30 days from the date this letter was served (sent) to you.",
    "appeal_five_grounds": "An appeal can only win for five narrow reasons, such as fraud, bias, a conflict of interest, or a plain mistake about the facts. Not agreeing with the doctor's opinion is not enough.",
    "appeal_gets_new_review": "If you win the appeal, you get a new review by a different reviewer. The judge does not order the treatment.",
    "free_help": "For free help, call a DWC Information & Assistance officer. You can also talk to a lawyer.",
    "free_help_contact": "Information & Assistance line: 1-800-736-7401 (free call, recorded information). Local offices: dir.ca.gov/dwc/IandA.html",
    "disclaimer": "A computer program made this summary from your letter. It is not legal advice. If this summary and the letter differ, the letter is what counts. For help with your case, ask an Information & Assistance officer or a lawyer.",
    "from_picture": "This letter was read from a picture. Check each decision against your paper copy.",
    "source_ccr_9792_10_7": "8 CCR 9792.10.7(a)", "source_lc_4610_k": "Labor Code 4610(k)",
    "source_lc_4610_6_h": "Labor Code 4610.6(h); 8 CCR 10575", "source_lc_4610_6_grounds": "Labor Code 4610.6(h)",
    "source_lc_4610_6_i": "Labor Code 4610.6(i)", "source_dwc_ia": "DWC, Information & Assistance Unit",
    "source_dwc_imr_glossary": "DWC, IMR glossary (LC 4610.6)",
}
GLOSSARY = {  # term, the words that show it is used (lower case), definition
    "imr": ("Independent Medical Review (IMR)", ("imr", "independent medical review", "review", "reviewer"),
        "A review of your case by an outside doctor. This doctor checks if the treatment is medically necessary."),
    "ur": ("utilization review (UR)", ("earlier denial", "earlier decision", "utilization review"),
        "The first check of your doctor's request. The claims administrator had it done. It denied or changed the request."),
    "claims_administrator": ("claims administrator", ("claims administrator",),
        "The insurance company or group that handles your workers' comp claim."),
    "medically_necessary": ("medically necessary", ("medically necessary",),
        "Needed to treat your work injury, based on the guidelines and your records."),
    "guidelines": ("medical treatment guidelines", ("guideline",),
        "Written rules that say which care helps which health problems, and how much."),
    "mtus": ("MTUS", ("mtus",),
        "The Medical Treatment Utilization Schedule. These are the care rules California uses for workers' comp."),
    "odg": ("ODG", ("odg",), "The Official Disability Guidelines, another set of care rules."),
    "acoem": ("ACOEM", ("acoem",), "Care rules from a group of doctors who treat work injuries."),
    "wcab": ("WCAB", ("wcab",), "The Workers' Compensation Appeals Board. It is the court for workers' comp cases."),
    "served": ("served", ("served",), "When the letter was officially sent to you."),
    "ia_officer": ("Information & Assistance officer", ("information & assistance",),
        "A state worker who answers workers' comp questions for free."),
}
GLOSSARY_TERMS = (  # words that stay as they are, left out of reading-level scores
    "Independent Medical Review", "IMR", "utilization review", "UR", "claims administrator", "medically necessary",
    "medical treatment guidelines", "guidelines", "MTUS", "ODG", "ACOEM", "WCAB", "Information & Assistance officer",
    "DWC", "workers' comp", "reviewer", "administrator",
)
LABELS = {  # section titles and labels the renderers print
    "title": "What your IMR letter means", "case": "IMR case", "requests": "Your doctor's requests",
    "decision": "Decision", "why": "Why", "what_could_help": "What could help",
    "already_approved": "Already approved before this review", "letter_words": "The letter's words",
    "next_steps": "What happens next", "for_overturned": "For the treatment that was approved",
    "for_upheld": "For the treatment that was not approved", "for_all": "Help", "glossary": "Words to know",
    "about": "About this summary", "source": "Source", "letter": "Your letter",
    "letter_note": "The highlighted words are the ones each point above rests on.", "see_letter": "see the letter",
    "reading": "Reading level", "facts": "Vetted facts",
    "notice": "This letter has a line we could not check{quote}. Compare it with your paper letter before you act.",
    "words_hidden": "The letter's words for this request are not shown here: they hold text we could not check.",
    "checks_failed": "Parts of this summary may not match your letter. Read the letter itself before you act.",
    "withheld": "a line we could not check is left out here: see your paper letter", "back_to_point": "back to point",
    "skip": "Skip to the explanation", "treatment": "Treatment",
}
_MORE = "Your doctor could explain why you need more than the guidelines suggest."  # the help of the "exceeds" reasons
POINTS = {  # the rules' sentences (points.py reads the letter for when to say them)
    "supported": "The reviewer found that your records and the guidelines support this care.",
    "allowance": "The guidelines suggest {qual}{count} visits over {span} {unit}.",
    "count": "The guidelines suggest {qual}{count} visits.",
    "limit": "The guidelines suggest it for no more than {count} {unit}.",
    "range": " to ",
    "quals": {  # the letter's words -> this language's
        "up to": "up to ", "about": "about ", "approximately": "about ", "a maximum of": "up to ",
        "a total of": "up to ", "a total of up to": "up to ",
    },
    "units": {"day": ("day", "days"), "week": ("week", "weeks"), "month": ("month", "months")},
    "findings": {
        "functional_improvement": ("The records did not show that past care helped you do more.",
            "Your doctor could send notes that show how past care helped you do more."),
        "pain_relief": ("The records did not show that past care eased your pain.",
            "Your doctor could send notes that show how much past care eased your pain."),
        "conservative_care": ("The records did not show that simpler care, like rest or therapy, was tried first and did not help.",
            "Your doctor could send notes about the simpler care you tried first and how it went."),
        "tried_first": ("The records did not show that other treatments were tried first and did not work.",
            "Your doctor could send notes about other treatments you tried first and how they went."),
        "red_flags": ("The records did not show signs of a serious problem.",
            "Your doctor could send exam notes that show any signs of a serious problem."),
        "nerve_damage": ("The records did not show signs of nerve damage.",
            "Your doctor could send exam notes that show any signs of nerve damage."),
        "exam_findings": ("The records did not show exam findings that back up this request.",
            "Your doctor could send exam notes that show why you need this."),
        "home_program": ("The records did not show why exercises at home are not enough.",
            "Your doctor could explain why exercises at home are not enough."),
        "exercise_program": ("The records did not show that this would be used with an exercise program.",
            "Your doctor could send notes about the exercise program you follow."),
        "trial_first": ("The records did not show a trial period with this first.",
            "Your doctor could send notes from a trial period with it."),
        "mental_health_check": ("The records did not show a mental health check that is needed first.",
            "Your doctor could send the results of a mental health check."),
        "drug_checks": ("The records did not show safety checks, like drug tests, for this medicine.",
            "Your doctor could send notes on safety checks, like drug tests."),
        "condition_changed": ("The records did not show that your health changed.",
            "Your doctor could send notes on how your health has changed."),
        "surgery_planned": ("The records did not show that surgery is being considered.",
            "Your doctor could send notes that say if surgery is being considered."),
        "goals": ("The records did not show clear goals for this care.",
            "Your doctor could send a plan with goals for this care."),
        "symptoms": ("The records did not show the symptoms this treatment is for.",
            "Your doctor could send notes about your symptoms."),
        "diagnosis": ("The records did not show a health problem that this treatment is for.",
            "Your doctor could send notes on the health problem this treatment is for."),
        "past_help": ("The records did not show that past care helped you.",
            "Your doctor could send notes that show how past care helped you."),
        "reason_for_request": ("The records did not explain why you need this treatment.",
            "Your doctor could send a note that explains why you need this treatment."),
    },
    "reasons": {  # why, what could help
        "exceeds": ("The request is for more than the guidelines suggest.", _MORE),
        "exceeds_longer": ("The request is for longer than the guidelines suggest.", _MORE),
        "exceeds_already": ("You already had more visits than the guidelines suggest.", _MORE),
        "not_routine": ("The guidelines do not suggest this as a routine step.", None),
        "not_repeat": ("The guidelines do not suggest doing this test again in most cases.", None),
        "not_recommended": ("The guidelines do not suggest this treatment for a case like yours.", None),
        "unspecified": ("The request did not say how much or for how long.",
            "Your doctor could send a new request that says how much and for how long."),
        "depends_on_response": ("More care depends on how you did with the care you already had.",
            "Your doctor could send notes on how you did with the care you already had."),
        "only_for": ("The guidelines suggest this only for certain health problems.", None),
        "short_term": ("The guidelines suggest it only for a short time.",
            "Your doctor could explain why you need it for longer."),
        "with_surgery": ("This goes with a surgery that was not approved.",
            "Your doctor could ask for this again with a new surgery request."),
        "with_other": ("This goes with another treatment that was not approved.",
            "Your doctor could ask for this again with a new request for that treatment."),
    },
}
LABELS.update(quote="“{}”", quote_words='"{}"', quoted_letter="")  # quoted_letter: how a quote of the letter is marked
GUARDS = {  # how the page guards read this language: a status sentence, a claim of a decision, a headline
    "dates": (),  # the ways it writes a date beyond the letter's own (text.find_dates reads those in every text)
    "status": ((re.compile(r"^\W*not\s+approved\b", re.I), "upheld"), (re.compile(r"^\W*approved\b", re.I), "overturned")),
    "upheld": re.compile(r"\bnot\s+(?:been\s+)?approved\b|\bdenial\s+(?:stands|was\s+upheld)\b|\bupheld\b|"
                         r"\bagreed\s+with\s+the\s+(?:earlier|previous|first)\s+denial\b", re.I),
    "overturned": re.compile(r"(?<!not\s)(?<!never\s)\b(?:is|was|are|were|now|been)\s+(?:approved|authorized)\b|"
                             r"\breversed\b|\boverturned\b", re.I),
    "neg": re.compile(r"\bnot\s+approved\b|\bnone\s+of\b|\bsome\s+are\s+not\b|\bnot\s+all\b|\bdenied\b|"
                      r"\bdid\s+not\s+approve\b", re.I),
    "pos": re.compile(r"(?<!not\s)\bapproved\b|\bgood\s+news\b", re.I),
    "good": re.compile(r"\bgood\s+news\b", re.I),
    "none": re.compile(r"\bnone\s+of\b|\bstill\s+not\b", re.I),  # with "neg" and "pos": all upheld, not mixed
    "stays_approved": re.compile(r"[^.]*\balready\s+approved\s+stays?\s+approved\b[^.]*\.?", re.I),
    # the model writer's prompt labels its note ("Why the request was not approved: ..."); a
    # sentence that opens with that label, copied or translated, is the sentence after it
    "point_label": re.compile(r"^\W*(?:why\b[^:]{0,60}|(?:what\s+(?:is|was)\s+)?missing\b[^:]{0,40}):\s*", re.I),
}
READING = {"textstat": "en_US", "metric": "flesch_kincaid_grade", "name": "Flesch-Kincaid grade",
           "target": 6.0, "limit": 8.0, "point_limit": 8.0, "lower_is_easier": True}
