"""A drug and procedure vocabulary that checks the model's reading of a request heading.

A 1.5B model put a plain classification right for about 2 in 3 items (it called Baclofen a therapy
and Oxycodone an injection); the DWC taxonomy is, for most headings, decided by one word a table can
hold. So the model proposes and this table decides where it knows the word (its span is the value's
evidence). Every rule is pinned by tests/test_vocabulary.py and measured on the dev letters (BENCHMARKS.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Python's `re` gives up its fast first-character scan when it ignores case (a table of 40 words
# costs 160 µs a heading instead of 3), so the text is folded and the lower-case patterns compiled
# case-sensitive. `fold` maps exactly the characters `re.IGNORECASE` equates with an ASCII letter
# (tests/test_vocabulary.py checks every code point), one to one, so spans index the text as given.
_FOLD = str.maketrans({**{chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)},
                       "\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def fold(text: str) -> str:
    return text.translate(_FOLD)


def folded(pattern: str) -> re.Pattern[str]:
    """A lower-case ASCII pattern compiled to run on `fold`ed text."""
    literal = re.sub(r"\\.|\(\?P[<=]", "", pattern)  # escapes (\S, \W) and named groups keep their case
    if not literal.isascii() or any("A" <= ch <= "Z" for ch in literal):
        raise ValueError(f"a folded pattern must be lower-case ASCII: {pattern[:40]!r}")
    return re.compile(pattern)


# -- drugs: name → DWC drug class -------------------------------------------------------------

_DRUGS: dict[str, tuple[str, ...]] = {
    "Opioids": (
        "norco", "hydrocodone", "vicodin", "lortab", "percocet", "oxycodone", "oxycontin", "roxicodone",
        "endocet", "tramadol", "ultram", "ultracet", "conzip", "nucynta", "tapentadol", "morphine", "ms contin",
        "kadian", "avinza", "methadone", "fentanyl", "duragesic", "hydromorphone", "dilaudid", "exalgo",
        "oxymorphone", "opana", "codeine", "tylenol #3", "tylenol with codeine", "buprenorphine", "butrans",
        "suboxone", "belbuca", "zohydro", "hysingla", "xtampza", "meperidine", "demerol", "levorphanol",
        "pentazocine", "talwin", "nalocet", "primlev", "xartemis", "trezix", "dvorah", "apadaz", "tylenol no. 3",
    ),
    "NSAID": (
        "ibuprofen", "motrin", "advil", "naproxen", "naprosyn", "anaprox", "aleve", "diclofenac", "voltaren",
        "arthrotec", "celecoxib", "celebrex", "meloxicam", "mobic", "etodolac", "lodine", "nabumetone",
        "relafen", "ketorolac", "toradol", "indomethacin", "indocin", "piroxicam", "feldene", "oxaprozin",
        "daypro", "fenoprofen", "nalfon", "sulindac", "diflunisal", "salsalate", "vimovo", "duexis",
        "tivorbex", "zorvolex", "zipsor", "cambia", "mefenamic", "ketoprofen", "flurbiprofen", "nsaid",
    ),
    "Muscle Relaxant": (
        "cyclobenzaprine", "flexeril", "fexmid", "amrix", "tizanidine", "zanaflex", "baclofen", "lioresal",
        "methocarbamol", "robaxin", "carisoprodol", "soma", "metaxalone", "skelaxin", "orphenadrine",
        "norflex", "norgesic", "chlorzoxazone", "parafon", "lorzone", "dantrolene", "tabradol",
        "muscle relaxant",
    ),
    "PPIs": (
        "omeprazole", "prilosec", "pantoprazole", "protonix", "esomeprazole", "nexium", "lansoprazole",
        "prevacid", "rabeprazole", "aciphex", "dexlansoprazole", "dexilant",
    ),
    "H2 Blockers": ("ranitidine", "zantac", "famotidine", "pepcid", "cimetidine", "tagamet", "nizatidine",
                    "deprizine"),
    "Antidepressant": (
        "amitriptyline", "elavil", "nortriptyline", "pamelor", "duloxetine", "cymbalta", "venlafaxine",
        "effexor", "desvenlafaxine", "pristiq", "sertraline", "zoloft", "fluoxetine", "prozac", "paroxetine",
        "paxil", "citalopram", "celexa", "escitalopram", "lexapro", "bupropion", "wellbutrin", "trazodone",
        "desyrel", "mirtazapine", "remeron", "doxepin", "imipramine", "desipramine", "savella", "milnacipran",
        "viibryd", "trintellix", "antidepressant",
    ),
    "AEDs": (
        "gabapentin", "neurontin", "gralise", "horizant", "pregabalin", "lyrica", "topiramate", "topamax",
        "carbamazepine", "tegretol", "oxcarbazepine", "trileptal", "lamotrigine", "lamictal", "levetiracetam",
        "keppra", "divalproex", "depakote", "valproic", "zonisamide", "zonegran", "phenytoin", "dilantin",
        "lacosamide", "vimpat", "fanatrex",
    ),
    "Benzodiazepines": ("alprazolam", "xanax", "lorazepam", "ativan", "clonazepam", "klonopin", "diazepam",
                        "valium", "temazepam", "restoril", "chlordiazepoxide", "librium", "benzodiazepine"),
    "Sleep Aids": ("zolpidem", "ambien", "eszopiclone", "lunesta", "zaleplon", "sonata", "suvorexant",
                   "belsomra", "ramelteon", "rozerem", "dicopanol", "doxylamine", "melatonin", "sentradine",
                   "sleep aid"),
    "Antiemetics": ("ondansetron", "zofran", "promethazine", "phenergan", "metoclopramide", "reglan",
                    "prochlorperazine", "compazine", "meclizine", "antivert", "trimethobenzamide", "scopolamine"),
    "Erectile Dysfunction": ("viagra", "sildenafil", "cialis", "tadalafil", "levitra", "vardenafil"),
    "Topical Analgesics/Compounds": (
        "lidoderm", "lidocaine", "terocin", "lidopro", "flector", "pennsaid", "capsaicin", "menthoderm",
        "salonpas", "biofreeze", "anecream", "medrox", "methoderm", "bengay", "ben-gay", "compound",
        "compounded", "synovacin", "thermacare",
    ),
    "Other": (
        "docusate", "colace", "senna", "senokot", "lactulose", "miralax", "amitiza", "movantik", "relistor",
        "theramine", "sentra", "trepadone", "gabadone", "acetaminophen", "tylenol", "prednisone", "medrol",
        "methylprednisolone", "keflex", "cephalexin", "lovenox", "xarelto", "aspirin", "provigil", "modafinil",
        "fioricet", "butalbital", "narcan", "naloxone", "vitamin", "laxative", "stool softener", "imitrex",
        "sumatriptan", "hydroxyzine", "vistaril",
    ),
}
_TOPICAL_FORMS = folded(r"\b(?:cream|gel|patch(?:es)?|ointment|lotion|topical|transdermal|compound(?:ed)?|rub|spray|roll[- ]on)\b")
_DRUG_RE = [(cls, folded(r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")(?![\w])"))
            for cls, names in _DRUGS.items()]

# -- procedures: first matching rule wins, so more specific rules come first -------------------

_RULES: list[tuple[str, str | None, str]] = [
    ("Transportation", None, r"transportation|transport\b|taxi|mileage"),
    ("Programs", "Functional Restoration", r"functional restoration|\bfrp\b|chronic pain program|pain management program|interdisciplinary pain|multidisciplinary pain"),
    ("Programs", "Inpatient/Skilled Nursing", r"inpatient rehab|acute inpatient|skilled nursing facility|\bsnf\b|nursing home|skilled nursing stay"),
    ("Programs", "Other", r"work hardening|work conditioning|weight loss program|gym membership|detox|detoxification|\bprogram\b"),
    ("Rehabilitation", "Acupuncture", r"acupuncture|electroacupuncture|acupressure"),
    ("Rehabilitation", "Chiropractic", r"chiropract|spinal manipulation|manipulative|\bcmt\b"),
    ("Injection", "Facet", r"facet|medial branch|rhizotomy|radiofrequency ablation|radio ?frequency neurotomy"),
    ("Injection", "Other", r"injection|injections|epidural|\besi\b|nerve block|\bblock\b|trigger point injection|\btpi\b|stellate|synvisc|euflexxa|orthovisc|supartz|hyaluron|platelet[- ]rich|\bprp\b|botox|cortisone shot|steroid shot"),
    ("Diagnostic Testing", "Other", r"impedance imaging|\bekg\b|\becg\b|electrocardiogra|functional capacity|\bfce\b|sleep study|polysomno|stress test|echocardiogra|pulmonary function|range of motion testing|computerized range|\bqfce\b|\bvng\b|audiogra"),
    ("Diagnostic Testing", "EMG/NCV/NCS", r"\bemg\b|\bncv\b|\bncs\b|electromyogra|nerve conduction|electrodiagnost|electro-diagnost|\bssep\b|\bnct\b"),
    ("Diagnostic Testing", "Imaging/Radiology", r"\bmri\b|\bmra\b|magnetic resonance|\bct\b|cat scan|compute(?:d|ri[sz]ed) (?:axial )?tomogra|x[- ]?rays?\b|radiograph|bone scan|ultrasound|sonogra|arthrogra|myelogra|discogra|\bdexa\b|\bpet\b|spect|imaging|fluoroscop|\bscan\b"),
    ("Diagnostic Testing", "Lab & Pathology", r"urine drug|drug screen|drug test|toxicology|\blabs?\b|laboratory|blood (?:test|work)|\bcbc\b|\bua\b|urinalysis|chem(?:istry)? panel|metabolic panel|\bcmp\b|\bbmp\b|pt/ptt|\binr\b|hemoglobin|\bhba1c\b|liver function|genetic|\bdna\b|pathology|biopsy|culture|\bpanel\b|vitamin d level"),
    # a test named in full words ("electroencephalography", "bone densitometry", "quantitative sensory
    # testing") is a diagnostic test, not a visit: before the consult and visit rules
    ("Diagnostic Testing", "Other", r"\b\w+(?:graphy|graphic|metry)\b|\b(?:electro\w*|echo|angio|arterio|veno|mammo|audio|myelo|arthro|disco)grams?\b|(?<!psychological )(?<!neuropsychological )\btesting\b|\bdiagnostic (?:tests?|stud(?:y|ies))\b|\btests?\b(?! results)"),
    ("Surgery", "Surgical Consult", r"(?:consult|consultation|evaluation|referral|visit)\b[^.;]{0,300}\b(?:surg|orthop|replacement|spine specialist)|(?:surg\w*|orthop\w*)\s+(?:consult|consultation|evaluation|referral|follow[- ]?up|visit)"),
    ("Psych Services", "Therapies", r"cognitive behavio|\bcbt\b|psychotherap|counseling|psych(?:ological|iatric)? (?:therapy|treatment|sessions?)|group therapy"),
    ("Psych Services", "E&M", r"psych\w*\s+(?:consult|consultation|evaluation|referral|visit|follow)|(?:consult|consultation|evaluation|referral)\w*\s+(?:with|to|for)\s+(?:a\s+)?psych|psychiatr|psycholog"),
    ("Surgery", "Spine", r"fusion|laminectomy|laminotomy|discectomy|diskectomy|foraminotomy|\bacdf\b|kyphoplasty|vertebroplasty|disc replacement|disc arthroplasty|spinal cord stimulator|decompression[^.;]{0,300}(?:lumbar|cervical|thoracic|spine|l\d|c\d)"),
    ("Surgery", "Arthroscopic", r"arthroscop|\bscope\b|menisc|\bslap\b|labral|chondroplasty|\bacl\b reconstruction|subacromial"),
    ("Evaluation & Management", "Dental", r"dental|dentist|\bteeth\b|\btooth\b"),
    ("Evaluation & Management", "Medical Specialties", r"consult|consultation|clearance|evaluation|office visit|follow[- ]up|referral|specialist|\bvisits? with\b"),
    ("Home Health", None, r"home health|home care|home nursing|\brn\b|nurse visits?|home attendant|caregiver|\baide\b|housekeeping|in-home|homemaker"),
    ("DMEPOS", "Electrical Stimulation", r"\btens\b|\bems\b|interferential|electrical stimulation|electric stimulation|e-stim|\bestim\b|h-wave|\bnmes\b|muscle stimulator|\bif unit\b|\bic unit\b|neuromuscular stim"),
    ("Therapies", None, r"shock ?wave|\beswt\b|infrared|biofeedback|neurostimulation|\blint\b|laser|paraffin|iontophoresis|phonophoresis|hyperbaric|magnetic therapy|whirlpool|hot packs?|cold packs?|therapeutic ultrasound|diathermy"),
    ("Rehabilitation", "PT/OT", r"physical therap|occupational therap|physiotherap|hand therap|manual therap|therapeutic exercise|aquatic|aqua therap|pool therap|\bpt\b|\bot\b|rehabilitation|rehab\b|work therap|home exercise program"),
    ("Rehabilitation", "Other", r"massage|myofascial|speech therap|vestibular|cognitive therap"),
    ("Surgery", "Adjunct", r"assistant surgeon|surgical assist|\bpa assist|co-surgeon|anesthesi|inpatient stay|hospital stay|length of stay|overnight stay|\bday stay\b|\bdays? inpatient"),
    ("Surgery", "Non-arthroscopic", r"surgery|surgical|release|arthroplasty|replacement|\borif\b|open reduction|hardware removal|excision|repair|reconstruction|tenotomy|fasciotomy|osteotomy|amputation|neurolysis|transposition|\b\w+ectomy\b"),
    ("DMEPOS", "Prosthetics/Orthotics", r"brace|orthotic|orthosis|splint|insoles?|\blso\b|\btlso\b|collar|prosthe|shoe inserts?|custom shoes?"),
    ("DMEPOS", "Supplies", r"electrodes?|batter(?:y|ies)|supplies|\bwraps?\b|\bpads?\b|dressings?|catheters?|compression (?:stockings?|garments?|sleeve)|gloves|kinesio|\btape\b"),
    ("DMEPOS", "DME", r"wheelchair|walker|\bcane\b|crutch|commode|shower chair|bath|hospital bed|\bbed\b|cold therapy|cryotherapy|vascutherm|game ready|polar care|ice (?:unit|machine)|\bcpm\b|continuous passive|sling|traction|mattress|pillow|cushion|scooter|lift chair|\btub\b|grab bar|toilet|reacher|heating pad|pneumatic compression|\bunit\b|rental|purchase|durable medical|\bdme\b|exercise kit|stationary bike|treadmill"),
    # a surgeon named as a person, with no procedure or visit word ("Appointment with spine surgeon")
    ("Surgery", "Surgical Consult", r"(?<!assistant )(?<!co-)\bsurgeons?\b|neurosurg\w*|orthopedist|orthopaedist|spine specialist"),
]
# The two rules that look for a second word later in the clause ("consultation ... surgeon",
# "decompression ... lumbar") look at most 300 characters ahead (a heading's clause is shorter):
# unbounded, every "consult" of a long clause without the second word read to the clause end.
_BEFORE_DRUGS = {"Transportation", "Programs", "Rehabilitation:Acupuncture", "Rehabilitation:Chiropractic", "Injection"}
_RULE_RE = {before: [(cat, sub, folded(pattern)) for cat, sub, pattern in _RULES
                     if (cat in _BEFORE_DRUGS or f"{cat}:{sub}" in _BEFORE_DRUGS) == before]
            for before in (True, False)}


@dataclass(frozen=True)
class Match:
    category: str
    subcategory: str | None
    start: int  # span of the deciding word(s) in the text given
    end: int


# Administrative words that are not the treatment: "Associated surgical service: Ultrasling" is a
# sling, not surgery. Blanked with spaces so spans still index the heading.
_ADMIN = folded(r"associated\s+surgical\s+services?\s*:|\bretrospective\b|\bprospective\b")


def blank_admin(text: str) -> str:
    for m in _ADMIN.finditer(fold(text)):  # over a folded copy: blanking keeps every offset
        text = text[:m.start()] + " " * (m.end() - m.start()) + text[m.end():]
    return text


def classify(text: str) -> Match | None:
    """The DWC category of a request heading, decided by the first vocabulary entry it contains.
    Programs, acupuncture, chiropractic and injections are checked before drug names ("Toradol
    injection" is an injection, "acupuncture with capsaicin patch" acupuncture); the rest after."""
    text = fold(blank_admin(text))
    match = _first_rule(text, before_drugs=True) or classify_drug(text) or _first_rule(text, before_drugs=False)
    return _in_context(text, match)


# The item's context (issue 16): a physical-agent modality given as a course of office sessions
# ("Ultrasound 1 times 8", "Electrical stimulation 1 times 8") is rehabilitation, not imaging or a
# device; the same modality as a unit to buy or rent is DMEPOS.
_MODALITY = folded(r"ultrasound|electric(?:al)? (?:muscle )?stimulation|e-stim|\bestim\b|\bems\b|interferential|"
                   r"infrared(?! acupuncture)|diathermy|hot packs?|cold packs?|\btens\b")
_COURSE = folded(r"\d+\s*(?:x|times)\s*\d+|\bsessions?\b|\bvisits?\b|\b(?:times|x)\s*(?:a|per|/)\s*(?:wk|week)|\bweekly\b")
_DEVICE = folded(r"\bunits?\b|\bdevices?\b|\bmachines?\b|purchase|rental|\brent\b|\bbuy\b|\bhome\b|supplies|electrodes?")
_E_STIM = folded(r"electric|e-stim|\bestim\b|\bems\b|interferential|\btens\b")


def course_of_sessions(text: str) -> bool:
    """Does a heading give its treatment as a course of sessions, not as a unit to buy or rent?"""
    text = fold(text)
    return _COURSE.search(text) is not None and _DEVICE.search(text) is None


def _in_context(text: str, match: Match | None) -> Match | None:  # `text` folded
    if match is not None and match.category not in ("Diagnostic Testing", "DMEPOS", "Therapies", "Rehabilitation"):
        return match
    modality = _MODALITY.search(text)
    if modality is None or (match is not None and match.subcategory in ("Acupuncture", "Chiropractic")):
        return match
    device = _DEVICE.search(text) is not None
    if not device and _COURSE.search(text) and (match is None or match.category != "Rehabilitation"):
        return Match("Rehabilitation", "PT/OT", modality.start(), modality.end())
    if device and (match is None or match.category != "DMEPOS"):
        sub = "Electrical Stimulation" if _E_STIM.search(text) else "DME"
        return Match("DMEPOS", sub, modality.start(), modality.end())
    return match


def _first_rule(text: str, *, before_drugs: bool) -> Match | None:
    return next((Match(cat, sub, *m.span()) for cat, sub, regex in _RULE_RE[before_drugs] if (m := regex.search(text))),
                None)


def classify_drug(text: str) -> Match | None:
    """The drug class of the first drug name in `text`, if it names one."""
    text = fold(text)
    found = [(m, cls) for cls, regex in _DRUG_RE if (m := regex.search(text))]
    if not found:
        return None
    m, cls = min(found, key=lambda hit: hit[0].start())  # the first name (on a tie, the earlier class)
    # An NSAID, lidocaine or other analgesic in a cream, gel or patch is a topical analgesic;
    # an opioid patch (Butrans, fentanyl) stays an opioid.
    if cls in ("NSAID", "Other", "Topical Analgesics/Compounds") and _TOPICAL_FORMS.search(text):
        cls = "Topical Analgesics/Compounds"
    return Match("Pharmaceuticals", cls, m.start(), m.end())


# -- body regions and sides --------------------------------------------------------------------

_REGION_WORDS: list[tuple[str, str]] = [
    ("neck", r"cervical|cervico|\bneck\b|c-spine|\bc\d-\d"),
    ("upper_back", r"thoracic|upper back|mid back|t-spine|dorsal spine|\bt\d{1,2}-\d"),
    ("low_back", r"lumbar|lumbo|low(?:er)? back|l-spine|\bl\d-\d|\bl\d-s1|sacroiliac|\bsi joint|\bsacral\b|sacrum|coccyx"),
    ("spine", r"\bspine\b(?!\s*(?:and|,)?\s*(?:specialist|surgeon))|\bspinal\b"),
    ("shoulder", r"shoulders?|rotator cuff|acromioclavicular|\bac joint|clavicle|scapula"),
    ("elbow", r"elbows?"),
    ("forearm_wrist_hand", r"forearms?|wrists?|hands?\b|fingers?|thumbs?|carpal|\bdigits?\b|\bpalms?\b"),
    ("upper_extremity", r"upper extremit(?:y|ies)|upper limbs?|\barms?\b|\brue\b|\blue\b|\bbue\b"),
    ("hip_pelvis", r"\bhips?\b|pelvi[sc]|groin|buttocks?|gluteal"),
    ("knee", r"knees?|patella"),
    ("lower_extremity", r"lower extremit(?:y|ies)|lower limbs?|\blegs?\b|\brle\b|\blle\b|\bble\b|\bthighs?\b|\bcalf\b|\bcalves\b|hamstring|femur"),
    ("ankle_foot", r"ankles?|\bfoot\b|\bfeet\b|\btoes?\b|\bheels?\b|achilles|plantar|metatars|calcane"),
    ("head", r"\bhead\b|brain|cranial|\bskull\b|\bface\b|facial|\bjaw\b|\btmj\b|temporomandibular"),
    ("trunk", r"chest|abdomen|abdominal|\bribs?\b|trunk"),
    ("eye", r"\beyes?\b|ocular|ophthalm"),
]
_REGION_RE = [(name, folded(pattern)) for name, pattern in _REGION_WORDS]
_SPECIFIC_SPINE = {"neck", "upper_back", "low_back"}

_SIDE_RE = folded(r"\b(?:(left|lt)|(right|rt)|(bilateral|bilaterally|both))\b|\b(rue|rle)\b|\b(lue|lle)\b|\b(bue|ble)\b")


def regions(text: str) -> list[tuple[str, int, int]]:
    """Body regions a heading names, in order of first mention, with the span of the word."""
    text = fold(text)
    found = {name: m.span() for name, regex in _REGION_RE if (m := regex.search(text))}
    if "spine" in found and found.keys() & _SPECIFIC_SPINE:
        del found["spine"]  # "lumbar spine" names the level: low_back, not an unspecified spine
    return sorted(((n, s, e) for n, (s, e) in found.items()), key=lambda x: x[1])


# A region a model names in general words that the heading names more exactly: the model's word is
# right, the heading's region is kept ("MRI of the cervical spine": the model's "spine" is the neck).
COVERS: dict[str, frozenset[str]] = {
    "spine": frozenset({"neck", "upper_back", "low_back"}),
    "upper_extremity": frozenset({"shoulder", "elbow", "forearm_wrist_hand"}),
    "lower_extremity": frozenset({"hip_pelvis", "knee", "ankle_foot"}),
}


def sides(text: str) -> tuple[str | None, int, int]:
    """The side a heading states: one side word → that side; bilateral, or both sides → bilateral."""
    seen: dict[str, tuple[int, int]] = {}
    for m in _SIDE_RE.finditer(fold(text)):
        side = ("left" if m.group(1) or m.group(5) else "right" if m.group(2) or m.group(4) else "bilateral")
        seen.setdefault(side, (m.start(), m.end()))
    if not seen:
        return None, 0, 0
    side = next(iter(seen)) if len(seen) == 1 else "bilateral"  # one side, or "bilateral" alone; else both sides
    return side, min(s for s, _ in seen.values()), max(e for _, e in seen.values())
