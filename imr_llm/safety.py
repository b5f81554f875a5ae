"""Prompt-injection scanner: text in a letter written for a machine (or the reader) rather than
being part of an IMR determination — a real letter is a fixed third-person template with no links,
JSON, talk of AI or instructions, each decision stated once on its heading line. Findings are
*reported*, never obeyed: `scan` (on `Determination.suspicious`), `findings_in` (any string),
`overlapping` (does a span rest on one). Measured on the 65 real dev letters: no findings
(tests/test_injection.py keeps it so). Labels never contain letter text; the evidence span does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .fields import of_kind
from .reading import SourceText, trim_span
from .schema import Determination, Evidence, SuspiciousText

# Who a planted note or instruction addresses.
_READER = r"(?:patient|claimant|injured\s+worker|worker|employee|applicant|reader|recipient|member|beneficiary)"
_MACHINE = (r"(?:AI|A\.I\.|LLM|GPT[\w.-]*|ChatGPT|chat\s?bot|bot|language\s+model|AI\s+model|model|assistant|"
            r"automated\s+(?:system|reader|reviewer|tool|parser|assistant)|parser|extractor|summari[sz]er|system|agent)")
_MACHINE_GATES = (" ai ", " ai:", " ai,", " ai.", " ai;", " ai)", "(ai ", " ai's", " ai-", "a.i.", "llm", "gpt", "chatbot",
                  "chat bot", "language model", "assistant", "automated", "model", "parser", "extractor", "summariz",
                  "summaris")
_NOTE_GATES = tuple(f"{w} {p}" for w in ("note", "notes", "message", "messages", "notice", "memo", "reminder", "update",
                                         "updates", "letter", "letters") for p in ("to", "for")) + (
    "announcement", "dear", "attention", "attn", "important", "urgent", "p.s", "ps:", "ps :", "p. s", "p s:") + tuple(
    f"{r}{c}" for r in ("patient", "claimant", "worker", "employee", "applicant", "reader", "recipient", "member",
                        "beneficiary") for c in (":", " :"))
_ORDER_GATES = ("you", "instead", "task:", "task :") + tuple(
    f"{w} {p}" for w in ("respond", "answer", "reply", "output") for p in ("with", "in", "only")) + tuple(
    f"do not {w}" for w in ("follow", "mention", "reveal", "disclose", "tell", "include", "report", "output", "show", "say"))
_CALL_GATES = ("toll-free", "toll free", "hotline") + tuple(
    f"{w} {p}" for w in ("call", "phone", "text", "contact", "email", "e-mail", "write to")
    for p in ("us", "our", "the number", "the hotline", "the office", "toll", "this", "now", "today", "immediately"))
YOU_NOTE = "speaks to the reader as 'you'"
_CITING = ("claims_administrator_basis", "reviewer_basis", "rationale")  # the fields that cite sources
_SAME_SENTENCE = r"(?:[^.\n]|\n(?!\n))"  # within one sentence: line breaks allowed, a blank line not
_DECISION_WORD = r"(?:overturned|overturn|upheld|uphold|approved|approve|reversed|granted|authori[sz]ed)"


@dataclass(frozen=True)
class Detector:
    kind: str
    note: str
    regex: re.Pattern
    sections: tuple[str, ...] | None = None  # None: anywhere; else the section fields it applies to
    skip_sections: tuple[str, ...] = ()  # section fields it never applies to
    # Speed only, all lower-case: `gates` — one is in every match (whitespace collapsed), else skip;
    # `starts` — every match begins with one: tried only there; `anchors` — inside every match: run
    # only in windows around them.
    gates: tuple[str, ...] | None = None
    starts: tuple[str, ...] | None = None
    anchors: tuple[str, ...] | None = None
    window: tuple[int, int] = (300, 300)  # characters before and after an anchor that a match can reach
    digit_anchors: tuple[str, ...] | None = None  # anchors in the text with every digit written as 0


def _d(kind: str, note: str, pattern: str, **kw) -> Detector:
    return Detector(kind, note, re.compile(pattern, re.IGNORECASE), **kw)


DETECTORS: list[Detector] = [
    # -- instructions ---------------------------------------------------------------------------
    _d("instruction", "ignore/disregard earlier instructions",
       r"\b(?:ignore|disregard|forget|override|bypass|overrule)\b" + _SAME_SENTENCE + r"{0,60}?\b(?:instructions?|previous|above|prior|"
       r"earlier|preceding|rules|prompts?|guardrails?|everything|all\s+(?:of\s+)?(?:the\s+)?(?:text|above))\b",
       gates=("ignor", "disregard", "forget", "overrid", "bypass", "overrul"),
       starts=("ignore", "disregard", "forget", "override", "bypass", "overrule")),
    _d("instruction", "ignore/disregard earlier instructions (Spanish)",
       r"\b(?:ignor[ae]\w*|olvid[ae]\w*|omit[ae]\w*)\b" + _SAME_SENTENCE + r"{0,60}\b(?:instrucci\w+|anterior\w*|reglas|indicaciones)\b",
       gates=("ignor", "olvid", "omit"), starts=("ignor", "olvid", "omit")),
    _d("instruction", "new or hidden instructions",
       r"\b(?:new|updated|real|actual|revised|hidden|secret|special|following|important)\s+instructions?\s*(?:[:\-]|for\b|to\b|are\b)|"
       r"\binstructions?\s+(?:to|for)\s+(?:the\s+|any\s+)?" + _MACHINE + r"\b|"
       r"\b(?:from\s+now\s+on|going\s+forward)\s*,?\s+(?:you|the\s+" + _MACHINE + r")\b",
       gates=("instruction", "from now on", "going forward"),
       starts=("new", "updated", "real", "actual", "revised", "hidden", "secret", "special", "following", "important",
               "instruction", "from", "going")),
    _d("instruction", "an order to the reader or a model",
       r"\byou\s+(?:must|should|shall|will|are\s+to|need\s+to|have\s+to)\s+(?:now\s+)?"
       r"(?:say|state|write|output|respond|answer|reply|report|mark|record|treat|classify|label|return|list|include|"
       r"tell|explain|ignore|change|set|call|contact|follow)\b|"
       r"\b(?:respond|answer|reply|output)\s+(?:only\s+)?(?:with|in)\s+(?:only\s+)?(?:json|the\s+following|this)\b|"
       r"\binstead\s*,?\s+(?:say|write|output|report|state|answer|tell|mark|record)\b|\bdo\s+not\s+follow\b|"
       r"\b(?:new|next|real|actual)\s+task\s*:|"
       r"\bdo\s+not\s+(?:mention|reveal|disclose|tell|include|report|output|show|say)\b" + _SAME_SENTENCE + r"{0,40}\b(?:this|these|"
       r"instructions?|note|patient|reader|upheld|denial)\b",
       gates=_ORDER_GATES,
       starts=("you", "respond", "answer", "reply", "output", "instead", "do", "new", "next", "real", "actual")),
    # -- addressed to a model -----------------------------------------------------------------
    _d("addressed_to_model", "addressed to an AI, model or assistant",
       r"\b(?:to|for|dear|attention|attn|hey|hi|hello|note\s+to|message\s+to|instructions?\s+for)\s*:?\s+(?:the\s+|any\s+|all\s+)?"
       r"(?:AI|A\.I\.|LLM|GPT[\w.-]*|ChatGPT|chat\s?bot|language\s+models?|AI\s+(?:models?|systems?|assistants?|tools?)|"
       r"assistants?|automated\s+(?:systems?|readers?|reviewers?|tools?|parsers?)|models?|parsers?|extractors?|"
       r"summari[sz]ers?)\b(?!\s+(?:of|for)\s+(?:care|treatment|rehab\w*|therapy))",
       gates=_MACHINE_GATES,
       starts=("to", "for", "dear", "attention", "attn", "hey", "hi", "hello", "note", "message", "instruction")),
    _d("addressed_to_model", "talks about an AI or language model",
       r"\b(?:as\s+an\s+AI|AI\s+(?:assistant|model|system|tool|agent|reader)|(?:large\s+)?language\s+model|LLM|ChatGPT|GPT-\d|"
       r"chat\s?bot|you\s+are\s+(?:now\s+)?(?:an?\s+|the\s+)?(?:AI|assistant|language\s+model|chat\s?bot|helpful\b))\b",
       gates=_MACHINE_GATES + ("you are",), starts=("as", "ai", "large", "language", "llm", "chat", "gpt-", "you")),
    _d("addressed_to_model", "addressed to whoever processes the letter",
       r"\b(?:any|the)\s+(?:system|software|program|tool|model|assistant|AI)\s+(?:that\s+is\s+|which\s+is\s+)?"
       r"(?:reading|processing|parsing|summari[sz]ing|analy[sz]ing|extracting)\s+(?:this|the)\s+(?:letter|document|text|file)\b",
       gates=("reading", "processing", "parsing", "summariz", "summaris", "analyz", "analys", "extracting"),
       starts=("any", "the")),
    # -- prompts and roles ----------------------------------------------------------------------
    _d("system_prompt", "mentions a system prompt or jailbreak",
       r"\bsystem\s+(?:prompt|message|instructions?|override|command)\b|\bdeveloper\s+(?:message|mode|instructions?)\b|"
       r"\bprompt\s+injection\b|\bjail\s?break\w*\b|\bDAN\s+mode\b|\bend\s+of\s+(?:the\s+)?(?:prompt|instructions?|system\s+message)\b",
       gates=("system", "developer", "prompt", "jail", "dan mode"),
       starts=("system", "developer", "prompt", "jail", "dan", "end")),
    _d("role_marker", "a chat role line",
       r"(?:^|\n)[ \t]*(?:#{1,6}\s*|\*\*)?(?:system|assistant|user|human|developer|AI|model|instruction|response)\s*(?:\*\*)?\s*:",
       gates=tuple(f"{w}{c}" for w in ("system", "assistant", "user", "human", "developer", "ai", "model", "instruction",
                                          "response") for c in (":", " :", "*")), starts=("\n",)),
    _d("role_marker", "a chat template token",
       r"<\|[a-z_]{2,30}\|>|\[/?INST\]|<</?SYS>>|</?s>|\[/?(?:system|admin|assistant|user|developer|instructions?)\]|^-{2,}\s*(?:system|user|assistant)\s*-{2,}|"
       r"\n-{2,}\s*(?:system|user|assistant)\s*-{2,}",
       gates=("<|", "inst]", "sys>>", "<s>", "</s>", "system]", "admin]", "assistant]", "user]", "developer]", "instruction]", "instructions]", "--"),
       starts=("<", "[", "\n")),
    # -- data and markup ------------------------------------------------------------------------
    _d("structured_data", "a JSON-like object",
       r"[{\[]\s*[\"'][^\"'\n{}]{1,40}[\"']\s*:|[\"'](?:decision|decisions|outcome|status|determination|approved|items?|"
       r"verdict|result|request|case_outcome)[\"']\s*:",
       gates=("{", "[", '":', "':", '" :', "' :"), starts=("{", "[", '"', "'")),
    _d("markup", "markup or a code fence",
       r"</?[a-z][a-z0-9]*(?:\s+[a-z-]+=[^<>\n]{0,80})?\s*/?>|```|\{\{|\}\}|\{%|%\}",
       gates=("<", "```", "{{", "}}", "{%", "%}"), starts=("<", "`", "{", "}", "%")),
    # -- notes to the reader ------------------------------------------------------------------
    _d("note_to_reader", "a note or message to the patient",
       r"\b(?:note|message|notice|memo|reminder|update|letter|announcement)\s+(?:to|for)\s+(?:the\s+)?" + _READER + r"s?\b|"
       r"\b(?:dear|attention|attn\.?)\s*:?\s+(?:the\s+)?(?:" + _READER + r"|sir|madam)\b|"
       r"\b(?:important|urgent)\s*(?:note|notice|message|information)?\s*(?:to|for)\s+(?:the\s+)?" + _READER + r"\b|"
       r"\bto\s+the\s+" + _READER + r"\s*:|\bdear\s+(?:mr|mrs|ms|miss|dr|sir|madam)\b\.?|(?:^|\n)\s*P\.?\s?S\.?\s*:",
       gates=_NOTE_GATES,
       starts=("note", "message", "notice", "memo", "reminder", "update", "letter", "announcement", "dear", "attention",
               "attn", "important", "urgent", "to", "\n")),
    _d("note_to_reader", YOU_NOTE,
       r"\b(?:you|your|you're|you've|you'll)\b",
       skip_sections=("claims_administrator_basis", "reviewer_basis"),
       gates=("you",), starts=("you",)),
    # -- decisions stated where no decision belongs ----------------------------------------------
    _d("decision_claim", "states a decision outside the item's decision line",
       r"\b(?:final\s+|actual\s+|correct\s+|true\s+|real\s+|new\s+|imr\s+)?(?:decision|determination|outcome|result|verdict|ruling)"
       r"(?:\s+(?:for|on|of)\s+(?:this|the|each|all)\s+(?:item|items|request|requests|treatment|case))?\s*"
       r"(?:is|was|has\s+been|have\s+been|should\s+be|must\s+be|shall\s+be|will\s+be|=|:|-)\s*(?:now\s+|hereby\s+|changed\s+to\s+|"
       r"in\s+fact\s+|actually\s+)?[\"'“]?" + _DECISION_WORD + r"\b",
       anchors=("overturn", "upheld", "uphold", "approv", "reversed", "granted", "authoriz", "authoris"), window=(200, 20),
       starts=("final", "actual", "correct", "true", "real", "new", "imr", "decision", "determination", "outcome", "result",
               "verdict", "ruling")),
    _d("decision_claim", "asks for a decision to be changed or recorded",
       r"\b(?:mark|treat|record|report|output|classify|label|change|set|flip|switch)\w*\b"
       + _SAME_SENTENCE + r"{0,60}?\b(?:as|to)\s+[\"'“]?(?:overturned|approved|upheld|reversed)\b",
       anchors=("overturned", "approved", "upheld", "reversed"), window=(200, 20),
       starts=("mark", "treat", "record", "report", "output", "classify", "label", "change", "set", "flip", "switch")),
    _d("decision_claim", "asks for a decision to be changed or recorded",
       r"\b(?:change|changing|flip|switch|update|correct|override|overrule)\w*\s+(?:the\s+|this\s+|all\s+)?"
       r"(?:decisions?|determinations?|outcomes?|verdicts?)\b",
       gates=("chang", "flip", "switch", "updat", "correct", "overrid", "overrul"),
       starts=("change", "changing", "flip", "switch", "update", "correct", "override", "overrule")),
    _d("decision_claim", "a decision word inside the text",
       r"(?:^|[\s(\"'“:])(?:overturned|upheld)(?=[\s.,;:!)\"'”]|$)",
       sections=("rationale", "case_summary", "claims_administrator_basis", "reviewer_basis"),
       anchors=("overturned", "upheld"), window=(10, 20)),
    _d("heading_in_text", "a numbered decision line (2013 form) inside the text",
       r"(?:^|\n)[ \t]*\d{1,2}[.)][ \t]+[^\n]{3,160}?\b(?:is|are)\s+(?:not\s*)?medically\s+necessary\s+and\s+appropriate\b",
       sections=("rationale", "case_summary", "claims_administrator_basis", "reviewer_basis"),
       gates=("medically necessary and appropriate",), starts=("\n",)),
    # -- contact details ------------------------------------------------------------------------
    _d("contact", "a phone number",
       r"(?<![\w/-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w/-])|"
       r"\b1[\s.-]?8(?:00|33|44|55|66|77|88)[\s.-]?[A-Z0-9]{3}[\s.-]?[A-Z0-9]{4}\b",
       digit_anchors=("000-000", "000 000", "000.000", "000) 000", "000)000", "0-000", "0 000", "0.000", "0000"),
       window=(40, 40)),
    # links and web addresses are how rationales and guideline fields cite their sources (ODG,
    # UpToDate, journals): only elsewhere (a heading, the case summary) is one out of place
    _d("contact", "a link", r"\bhttps?://\S+|\bwww\.[\w-]+\.\w+\S*", skip_sections=_CITING, gates=("http", "www."),
       starts=("http", "www.")),
    _d("contact", "an e-mail address", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", gates=("@",)),
    _d("contact", "a web address", r"\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|info|biz|io|app|online|site)\b(?:/\S*)?",
       skip_sections=_CITING,
       gates=(".com", ".net", ".info", ".biz", ".io", ".app", ".online", ".site")),
    _d("contact", "asks the reader to call or write",
       r"\b(?:please\s+)?(?:call|phone|text|contact|e-?mail|write\s+to)\s+(?:us|our\s+office|the\s+(?:number|hotline|office)|"
       r"toll[- ]free|this\s+number|now|today|immediately)\b|\btoll[- ]free\b|\bhotline\b",
       gates=_CALL_GATES,
       starts=("please", "call", "phone", "text", "contact", "email", "e-mail", "write", "toll", "hotline")),
]

def _trie_pattern(words: set[str]) -> str:
    """One regex for "any of these strings", as a trie (a flat alternation of 260 phrases costs 170 µs
    on a sentence, the trie about 20)."""
    if "" in words and len(words) == 1:
        return ""
    heads: dict[str, set[str]] = {}
    for w in words:
        if w:
            heads.setdefault(w[0], set()).add(w[1:])
    branches = [re.escape(ch) + _trie_pattern(rest) for ch, rest in sorted(heads.items())]
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in words else body


# Any detector's gate phrase at all, in one pass (the phrases are lower-case, like the gate text):
# most texts have none, and then no gated detector needs a look.
_GATE_PHRASES = {p for d in DETECTORS for p in d.gates or ()}
_ANY_GATE = re.compile(_trie_pattern(_GATE_PHRASES))
# Every gate phrase in a text: at each position the trie matches the longest phrase starting
# there, and the phrases starting there are that one's prefixes that are phrases.
_PREFIX_PHRASES = {p: frozenset(q for q in _GATE_PHRASES if p.startswith(q)) for p in _GATE_PHRASES}


def _gates_in(gate_text: str) -> set[str]:
    """The gate phrases in `gate_text`: the trie searched again one character past each match (faster
    than a lookahead at every position)."""
    found: set[str] = set()
    at = _ANY_GATE.search(gate_text)
    while at is not None:
        found |= _PREFIX_PHRASES[at.group(0)]
        at = _ANY_GATE.search(gate_text, at.start() + 1)
    return found

# How far a finding's evidence reaches: its sentence (a JSON object whole, a role marker's line).
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s|$)")
_FIELD_LABEL = re.compile(r"(?:guideline|rationale|below)\s*:[ \t]*", re.IGNORECASE)
_MAX_SENTENCE = 400
_MAX_BLOCK = 900  # the longest JSON-like object taken whole


# -- sections ----------------------------------------------------------------------------------

Sections = list[tuple[str, int, int]]  # (name, normalized start, end), most specific first: parsing.letter_sections


def section_at(sections: Sections, start: int, end: int) -> tuple[str, int, int]:
    """The most specific section holding normalized offset `start`: ("items[0].rationale", s, e), ...
    (the last, ("letter", 0, len(text)), holds every offset of the text)."""
    return next(section for section in sections if section[1] <= start < section[2])


def _applies(det_: Detector, section: str | None) -> bool:
    if section is None:  # text that is not the letter's (a model's answer): every detector
        return True
    field = section.rsplit(".", 1)[-1]
    if field in det_.skip_sections:
        return False
    return det_.sections is None or field in det_.sections or section in det_.sections


# -- extents ---------------------------------------------------------------------------------

def _extent(text: str, kind: str, start: int, end: int, lo: int, hi: int) -> tuple[int, int]:
    """The sentence around [start, end) within [lo, hi); a JSON-like object whole; a role marker's
    line; a note with the suspicious sentences that follow it."""
    left_limit = max(lo, start - _MAX_SENTENCE)
    left = left_limit
    for m in _SENTENCE_END.finditer(text, left_limit, start):
        left = m.end()
    para = text.rfind("\n\n", left_limit, start)
    if para >= 0:
        left = max(left, para + 2)
    # a field label ("Decision rationale:") is not part of what was planted after it
    for m in _FIELD_LABEL.finditer(text, left, start):
        left = max(left, m.end())
    if kind == "structured_data":
        # the outermost bracketed object around the match; else just the match's line
        for open_at in range(max(lo, start - _MAX_BLOCK), start + 1):
            if text[open_at] in "{[":
                close = _matching(text, open_at, min(hi, open_at + _MAX_BLOCK))
                if close is not None and close >= end:
                    return trim_span(text, open_at, close)
    if kind in ("structured_data", "role_marker"):  # no whole object; a chat role or template token: its line
        line_start = text.rfind("\n", lo, start) + 1
        line_end = text.find("\n", end, hi)
        return trim_span(text, max(lo, line_start), hi if line_end < 0 else line_end)
    right = _sentence_end(text, end, hi)
    if kind == "note_to_reader":
        # a note runs on while the sentences after it are suspicious too (a phone number, "your ...")
        for _ in range(3):
            nxt = _sentence_end(text, right, hi)
            if nxt <= right or not findings_in(text[right:nxt]):
                break
            right = nxt
    return trim_span(text, left, max(right, end))


def _sentence_end(text: str, pos: int, hi: int) -> int:
    """End of the sentence that runs on at `pos` (a blank line or `hi` ends it too)."""
    limit = min(hi, pos + _MAX_SENTENCE)
    m = _SENTENCE_END.search(text, pos, limit)
    right = m.end() if m else limit
    para = text.find("\n\n", pos, right)
    return para if para >= 0 else right


def _matching(text: str, start: int, limit: int) -> int | None:
    depth, quote = 0, None
    for pos in range(start, limit):
        ch = text[pos]
        if quote:
            if ch == quote and text[pos - 1] != "\\":
                quote = None
            continue
        if ch == '"':
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return pos + 1
    return None


# -- the scan ---------------------------------------------------------------------------------

_DIGITS_TO_0 = str.maketrans("123456789", "000000000")


def _occurrences(low: str, words: tuple[str, ...], start: int, end: int) -> Iterator[tuple[int, int]]:
    for word in words:
        pos = low.find(word, start, end)
        while pos >= 0:
            yield pos, pos + len(word)
            pos = low.find(word, pos + 1, end)


def word_starts(low: str, words: tuple[str, ...], start: int, end: int) -> list[int]:
    """Where each of `words` (lower-case) begins in low[start:end], sorted."""
    return sorted({pos for pos, _ in _occurrences(low, words, start, end)})


@functools.lru_cache(maxsize=4)  # a parse asks for its letter's many times
def searchable(text: str) -> str | None:
    """`text` lower-cased for `str.find`; None when `re` could match what `str.find` misses (ı and ſ
    match i and s; a character lower-casing to two shifts offsets)."""
    low = text.lower()
    return low if len(low) == len(text) and "ı" not in low and "ſ" not in low else None


def finditer_words(pattern: re.Pattern[str], text: str, words: tuple[str, ...] | None, start: int = 0,
                   end: int | None = None, lead: tuple[str, ...] = ()) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text, start, end)` for a case-blind pattern whose matches all begin at `start`,
    at one of `words` (lower-case; None: anywhere), or before one at the whitespace or a `lead` word
    ending there ("current diagnoses", "a medical"), tried only there."""
    end = len(text) if end is None else end
    low = searchable(text)
    if words is None or low is None:
        return pattern.finditer(text, start, end)
    starts = word_starts(low, words, start, end)
    if lead:
        starts = sorted({*starts, *(p for pos in starts for p in _before(text, low, pos, start, lead))})
    return finditer_at(pattern, text, [start, *starts], end)


def _before(text: str, low: str, pos: int, start: int, lead: tuple[str, ...]) -> Iterator[int]:
    while pos > start and text[pos - 1].isspace():
        pos -= 1
    yield pos
    yield from (pos - len(w) for w in lead if low.endswith(w, start, pos))


def finditer_at(pattern: re.Pattern[str], text: str, starts: list[int], end: int) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text, starts[0], end)` for a pattern whose non-empty matches all begin at one
    of the sorted `starts`, tried only there (`str.find` costs far less than `re` per position)."""
    cursor = 0
    for pos in starts:
        if pos >= cursor:
            m = pattern.match(text, pos, end)
            if m:
                cursor = m.end()
                yield m


def _matches(det_: Detector, text: str, gate_text: str, low: str, gates: set[str] | None = None):
    """The detector's matches in `text`; `gate_text`, `low`, `gates`: as `_hits` makes them."""
    if det_.gates is not None and (_gates_in(gate_text) if gates is None else gates).isdisjoint(det_.gates):
        return
    if (det_.anchors is None and det_.digit_anchors is None) or len(low) != len(text):
        yield from finditer_words(det_.regex, text, det_.starts)
        return
    windows: list[list[int]] = []
    before, after = det_.window
    haystack = low if det_.digit_anchors is None else low.translate(_DIGITS_TO_0)
    for a_start, a_end in sorted(_occurrences(haystack, det_.digit_anchors or det_.anchors or (), 0, len(low))):
        lo, hi = max(0, a_start - before), min(len(text), a_end + after)
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], hi)
        else:
            windows.append([lo, hi])
    seen: set[tuple[int, int]] = set()
    for lo, hi in windows:
        for m in finditer_words(det_.regex, text, det_.starts, lo, hi):
            if m.span() not in seen:
                seen.add(m.span())
                yield m


def _gate_text(text: str) -> str:
    return " " + " ".join(text.lower().split()) + " "


def findings_in(text: str, *, section: str | None = "letter") -> list[tuple[str, str, int, int]]:
    """(kind, note, start, end) of every detector hit; `section` picks the detectors (None: all)."""
    hits = _hits(text, [det_ for det_ in DETECTORS if _applies(det_, section)])
    return sorted(((det_.kind, det_.note, m.start(), m.end()) for det_, m in hits), key=lambda h: (h[2], h[0]))


def _hits(text: str, detectors: list[Detector]) -> list[tuple[Detector, re.Match[str]]]:
    gate_text, low = _gate_text(text), text.lower()
    gates = _gates_in(gate_text)
    return [(det_, m) for det_ in detectors for m in _matches(det_, text, gate_text, low, gates)]


def scan(source: SourceText, sections: Sections, rejected=()) -> list[SuspiciousText]:
    """Every suspicious stretch of the letter, in letter order, placed by the parse's `sections`;
    `rejected`: the parser's `RejectedHeading`s."""
    text = source.text
    found: dict[tuple[str, int, int], SuspiciousText] = {}
    hits = _hits(text, DETECTORS)
    if not hits and not rejected:
        return []  # the usual case: a real letter

    def add(kind: str, note: str, section: str, start: int, end: int) -> None:
        raw_start, raw_end = source.raw_span(start, end)
        key = (kind, raw_start, raw_end)
        if key in found or raw_end <= raw_start:
            return
        found[key] = SuspiciousText(kind=kind, section=section, note=note,  # type: ignore[arg-type]
                                    evidence=Evidence(start=raw_start, end=raw_end, quote=source.raw[raw_start:raw_end],
                                                      origin="rules"))

    for r in rejected:
        section, _, _ = section_at(sections, r.start, r.d_end)
        add("heading_in_text", "a heading-and-decision line inside another item's text (not taken as an item)",
            section, r.start, r.d_end)
    for det_, m in hits:
        start, end = m.start(), m.end()
        while start < end and text[start] in " \t\n":
            start += 1
        section, lo, hi = section_at(sections, start, end)
        if (section == "header" and det_.kind in ("decision_claim", "note_to_reader")) or not _applies(det_, section):
            continue
        s, e = _extent(text, det_.kind, start, end, lo, hi)
        add(det_.kind, det_.note, section, s, e)
    return _merge(list(found.values()), source)


def _merge(findings: list[SuspiciousText], source: SourceText) -> list[SuspiciousText]:
    """One finding per kind per stretch: overlapping findings of the same kind become one."""
    out: list[SuspiciousText] = []
    for f in sorted(findings, key=lambda f: (f.kind, f.evidence.start, -f.evidence.end)):
        last = out[-1] if out else None
        if last is not None and last.kind == f.kind and f.evidence.start < last.evidence.end:
            if f.evidence.end > last.evidence.end:
                s, e = last.evidence.start, f.evidence.end
                last.evidence = Evidence(start=s, end=e, quote=source.raw[s:e], origin="rules")
            continue
        out.append(f)
    return sorted(out, key=lambda f: (f.evidence.start, f.kind))


def overlapping(ev: Evidence | None, findings: list[SuspiciousText]) -> SuspiciousText | None:
    """The first finding whose span overlaps `ev` (raw offsets), if any."""
    return None if ev is None else next((f for f in findings if ev.start < f.evidence.end and f.evidence.start < ev.end),
                                        None)


def model_text_problem(text: str) -> str | None:
    """Why a model-written value must not be used (it reads like an instruction, note, contact or
    decision claim), or None. A model may write "you": only a letter that does is suspicious."""
    return next((f"{kind}: {note}" for kind, note, _, _ in findings_in(text, section=None) if note != YOU_NOTE), None)


WORD = re.compile(r"[a-záéíóúñü]+(?:'[a-z]+)?", re.I)  # a word, wherever words are counted or compared


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """The runs of `n` words in `text`, lower-cased."""
    ws = [w.lower() for w in WORD.findall(text)]
    return {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}


RESTATE_NGRAM = 4  # a model point sharing this many words in a row with planted text restates it


def restated(text: str, letter: str, findings: list[SuspiciousText]) -> SuspiciousText | None:
    """The finding a model-written `text` restates: a run of RESTATE_NGRAM words the letter's
    suspicious text has and the rest of the letter does not."""
    grams = ngrams(text, RESTATE_NGRAM) if findings else set()
    if not grams:
        return None
    rest, last = [], 0
    for f in sorted(findings, key=lambda f: f.evidence.start):
        rest.append(letter[last:max(last, f.evidence.start)])
        last = max(last, f.evidence.end)
    rest.append(letter[last:])
    elsewhere = ngrams(" ".join(rest), RESTATE_NGRAM)
    return next((f for f in findings if (grams & ngrams(f.evidence.quote, RESTATE_NGRAM)) - elsewhere), None)


def without_planted(det: Determination, letter: str = "") -> Determination:
    """A copy of `det` without the model-filled points that rest on suspicious text (evidence) or
    restate it (words; needs the `letter`); `det` itself when none do. Covers a parse enriched elsewhere."""
    drop: dict[int, dict[str, set[int]]] = {}
    for item in det.items:
        for field in (f.name for f in of_kind("points")):
            for k, text in enumerate(getattr(item, field)):
                ev = item.evidence.get(f"{field}[{k}]")
                if overlapping(ev, det.suspicious) is not None or (letter and restated(text, letter, det.suspicious)):
                    drop.setdefault(item.index, {}).setdefault(field, set()).add(k)
    if not drop:
        return det
    clean = det.model_copy(deep=True)
    for item in clean.items:
        for field, gone in drop.get(item.index, {}).items():
            values = getattr(item, field)
            old = {k: item.evidence.pop(f"{field}[{k}]", None) for k in range(len(values))}
            kept = [(v, old[k]) for k, v in enumerate(values) if k not in gone]
            setattr(item, field, [v for v, _ in kept])
            for k, (_, ev) in enumerate(kept):
                if ev is not None:
                    item.evidence[f"{field}[{k}]"] = ev
    return clean
