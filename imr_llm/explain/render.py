"""Outputs for a `PatientExplanation`: plain text, Markdown, JSON, and one self-contained HTML page.

The HTML page is for the worker (large type, strong contrast, a print stylesheet, `lang` set, quotes
of the English letter marked English); below it, the letter with each point's evidence highlighted
and linked both ways. A page names no internal check (the guards' report is in the JSON), carries
no invisible characters, and without its letter (`source=None`, `--redact`) quotes no line of it."""

from __future__ import annotations

import json
import re
from html import escape
from importlib.resources import files

from ..reading import SourceText
from . import languages
from .model import Notice, PatientExplanation
from .text import clean, letter_text

FORMATS = ("text", "markdown", "json", "html")
EXTENSIONS = {"text": "txt", "markdown": "md", "json": "json", "html": "html"}


def render(expl: PatientExplanation, fmt: str, *, source: SourceText | str | None = None,
           source_name: str | None = None) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if source is None and any(n.quote for n in expl.notices):
        expl = expl.model_copy(update={"notices": [Notice() for _ in expl.notices]})
    pages = {"text": lambda: to_text(expl), "markdown": lambda: to_markdown(expl),
             "json": lambda: to_json(expl, source_name), "html": lambda: to_html(expl, source, source_name)}
    return clean(pages[fmt]())


def _groups(expl: PatientExplanation) -> list[tuple[str, list]]:
    labels = languages.get(expl.language).labels
    order = [("overturned", labels["for_overturned"]), ("upheld", labels["for_upheld"]), ("all", labels["for_all"])]
    return [(title, [s for s in expl.next_steps if s.applies_to == key]) for key, title in order
            if any(s.applies_to == key for s in expl.next_steps)]


def _about(expl: PatientExplanation) -> list[str]:
    lang = languages.get(expl.language)
    lines = [f"{lang.labels['facts']}: {expl.facts_version}"]
    r = expl.readability
    if r is not None and r.overall is not None:
        lines.append(f"{lang.labels['reading']}: {lang.reading['name']} {r.overall:.1f}")
    return lines


def check_report(expl: PatientExplanation) -> list[str]:
    """Who wrote the explanation and each guard's result: for JSON readers and `--verbose`, never a page."""
    by = "templates and rules" if expl.written_by.kind == "template" else f"model {expl.written_by.model or ''}".strip()
    lines = [f"written by {by}" + (f" (fallback: {expl.fallback.reason})" if expl.fallback.used else "")]
    lines += [f"{g.name} {'ok' if g.passed else 'FAILED'}: {g.detail}" for g in expl.guards]
    for n, item in enumerate(expl.items, 1):
        for part, points in (("why", item.why), ("what could help", item.what_could_help)):
            lines += [f"item {n} {part} {j}: {p.written_by}" + (f", {p.ref}" if p.ref else "")
                      + (f", grade {p.grade:.1f}" if p.grade is not None else "") for j, p in enumerate(points, 1)]
    return lines


def _warnings(expl: PatientExplanation) -> list[str]:
    """What the worker must know before the items: a page that failed its guards, lines of the letter to check.
    Which points fell back is no news for the worker (JSON and `--verbose` have it)."""
    labels = languages.get(expl.language).labels
    out = [languages.get(expl.language).facts["from_picture"]] if expl.from_picture else []
    out += [labels["checks_failed"]] if expl.guards and not expl.passed else []
    return out + [labels["notice"].format(quote=f": «{n.quote}»" if n.quote else "") for n in expl.notices]


def _letter_lines(item, labels: dict[str, str]) -> list[tuple[str, str | None]]:
    """(label, the letter's words) under an item; a heading with suspicious text: one plain line, no words."""
    if item.request_hidden:
        return [(labels["words_hidden"], None)]
    return [(labels["letter_words"], item.request)] * bool(item.request) + (  # none when redacted
        [(labels["already_approved"], item.already_approved)] if item.already_approved else [])


# -- text and Markdown -------------------------------------------------------------------------

def to_text(expl: PatientExplanation) -> str:
    labels = languages.get(expl.language).labels
    out = [labels["title"] + (f" ({labels['case']} {expl.case_number})" if expl.case_number else ""), "",
           expl.headline, ""]
    warnings = _warnings(expl)
    if warnings:
        out += [f"! {w}" for w in warnings] + [""]
    out.append(labels["requests"].upper())
    for n, item in enumerate(expl.items, 1):
        out += [f"{n}. {item.plain_request}", f"   {labels['decision']}: {item.status}"]
        out += [f"   {label}: {labels['quote_words'].format(words)}" if words else f"   {label}"
                for label, words in _letter_lines(item, labels)]
        for part, points in (("why", item.why), ("what_could_help", item.what_could_help)):
            out += ([f"   {labels[part]}:"] + [f"   - {p.text}" for p in points]) if points else []
        out.append("")
    out.append(labels["next_steps"].upper())
    for title, steps in _groups(expl):
        out += [f"{title}:", *(f"- {s.text} ({s.citation.label})" + (f"\n  {s.contact}" if s.contact else "")
                               for s in steps)]
    out.append("")
    if expl.glossary:
        out += [labels["glossary"].upper(), *(f"- {g.term}: {g.definition}" for g in expl.glossary), ""]
    out += [labels["about"].upper(), expl.disclaimer, *_about(expl)]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_").replace("#", "\\#") \
        .replace("<", "&lt;").replace("[", "\\[").replace("]", "\\]")


def to_markdown(expl: PatientExplanation) -> str:
    labels = languages.get(expl.language).labels
    out = [f"# {labels['title']}", ""]
    if expl.case_number:
        out += [f"{labels['case']} {_md(expl.case_number)}", ""]
    out += [f"**{_md(expl.headline)}**", ""]
    for w in _warnings(expl):
        out += [f"> {_md(w)}", ""]
    out += [f"## {labels['requests']}", ""]
    for n, item in enumerate(expl.items, 1):
        out += [f"### {n}. {_md(item.plain_request)}", "", f"**{labels['decision']}: {_md(item.status)}**", ""]
        for label, words in _letter_lines(item, labels):
            out += [f"{_md(label)}: {labels['quote'].format(_md(words))}" if words else _md(label), ""]
        for part, points in (("why", item.why), ("what_could_help", item.what_could_help)):
            out += ([f"**{labels[part]}**", ""] + [f"- {_md(p.text)}" for p in points] + [""]) if points else []
    out += [f"## {labels['next_steps']}", ""]
    for title, steps in _groups(expl):
        out += [f"### {title}", ""]
        for s in steps:
            cite = f"[{_md(s.citation.label)}]({s.citation.url})" if s.citation.url else _md(s.citation.label)
            out.append(f"- {_md(s.text)} ({cite})" + (f"  \n  {_md(s.contact)}" if s.contact else ""))
        out.append("")
    if expl.glossary:
        out += [f"## {labels['glossary']}", "", *(f"- **{_md(g.term)}**: {_md(g.definition)}" for g in expl.glossary),
                ""]
    out += [f"## {labels['about']}", "", _md(expl.disclaimer), ""] + [f"{_md(line)}  " for line in _about(expl)]
    return "\n".join(out).rstrip() + "\n"


def to_json(expl: PatientExplanation, source_name: str | None = None) -> str:
    return json.dumps({"source": source_name, **expl.model_dump(mode="json")}, ensure_ascii=False)


# -- HTML ----------------------------------------------------------------------------------------

_CSS = files(__package__).joinpath("page.css").read_text(encoding="utf-8")  # the page's stylesheet


_ENGLISH_QUOTE = re.compile(r"«[^«»]*»")
_BACKREF = '<a class="backref" href="#{0[3]}" aria-label="{1} {0[4]}">↑{0[4]}</a>'


def _ev_id(item_no: int, key: str) -> str:
    return f"ev-{item_no}-{key}"


def _evidence_spans(expl: PatientExplanation) -> list[tuple[int, int, str, str, str]]:
    """(start, end, anchor id, point id to link back to, label) for every evidence span."""
    spans = []
    for n, item in enumerate(expl.items, 1):
        if (ev := item.decision_evidence) is not None:
            spans.append((ev.start, ev.end, _ev_id(n, "decision"), f"item-{n}-status", f"{n}"))
        for j, point in enumerate(item.why, 1):
            if point.evidence is not None:
                spans.append((point.evidence.start, point.evidence.end, _ev_id(n, str(j)), f"pt-{n}-{j}", f"{n}.{j}"))
    return spans


def _letter_html(raw: str, spans: list[tuple[int, int, str, str, str]], withheld: list[tuple[int, int]],
                 lang: str) -> str:
    """The letter with the evidence spans highlighted and linked; each `withheld` stretch (suspicious
    text) left out, a plain placeholder in its place."""
    spans = [s for s in spans if 0 <= s[0] < s[1] <= len(raw)]
    withheld = [(s, e) for s, e in withheld if 0 <= s < e <= len(raw)]
    cuts = sorted({0, len(raw), *(s for s, *_ in spans), *(e for _, e, *_ in spans), *(p for w in withheld for p in w)})
    labels = languages.get(lang).labels
    back = escape(labels["back_to_point"])
    out: list[str] = []
    for a, b in zip(cuts, cuts[1:]):
        out += [_BACKREF.format(span, back) for span in spans if span[1] == a]
        out += [f'<span class="anchor" id="{span[2]}"></span>' for span in spans if span[0] == a]
        hidden = [w for w in withheld if w[0] <= a and b <= w[1]]
        if hidden:
            if any(w[0] == a for w in hidden) and not any(w[0] < a for w in hidden):
                out.append(f'<span class="withheld" lang="{lang}">[{escape(labels["withheld"])}]</span>')
            continue
        covering = [s for s in spans if s[0] <= a and b <= s[1]]
        chunk = escape(raw[a:b])
        out.append(f'<mark data-points="{" ".join(s[4] for s in covering)}">{chunk}</mark>' if covering else chunk)
    return "".join(out + [_BACKREF.format(span, back) for span in spans if span[1] == len(raw)])


def to_html(expl: PatientExplanation, source: SourceText | str | None = None, source_name: str | None = None) -> str:
    lang = expl.language
    labels = languages.get(lang).labels
    raw = letter_text(source)
    e = _escaper(lang)
    title = labels["title"] + (f" — {expl.case_number}" if expl.case_number else "")
    parts = [
        "<!DOCTYPE html>", f'<html lang="{lang}">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>", f"<style>\n{_CSS}</style>", "</head>", "<body>",
        f'<a class="skip" href="#main">{e(labels["skip"])}</a>',
        '<main id="main">', "<header>", f"<h1>{e(labels['title'])}</h1>",
    ]
    if expl.case_number:
        parts.append(f'<p class="case">{e(labels["case"])} {e(expl.case_number)}</p>')
    parts += [f'<p class="headline" id="headline">{e(expl.headline)}</p>', "</header>",
              *(f'<p class="note" role="note">{e(w)}</p>' for w in _warnings(expl)),
              f'<section aria-labelledby="requests"><h2 id="requests">{e(labels["requests"])}</h2>']
    for n, item in enumerate(expl.items, 1):
        parts += _html_item(n, item, lang, linked=raw is not None)
    parts += ["</section>", f'<section aria-labelledby="next"><h2 id="next">{e(labels["next_steps"])}</h2>']
    for title, steps in _groups(expl):
        parts.append(f"<h3>{e(title)}</h3><ul>")
        for s in steps:
            cite = (f'<a href="{e(s.citation.url)}">{e(s.citation.label)}</a>' if s.citation.url
                    else e(s.citation.label))
            contact = f'<br><span class="contact">{e(s.contact)}</span>' if s.contact else ""
            parts.append(f"<li>{e(s.text)} <cite>({cite})</cite>{contact}</li>")
        parts.append("</ul>")
    parts.append("</section>")
    if expl.glossary:
        parts += [f'<section aria-labelledby="glossary"><h2 id="glossary">{e(labels["glossary"])}</h2><dl>',
                  *(f"<dt>{e(g.term)}</dt><dd>{e(g.definition)}</dd>" for g in expl.glossary), "</dl></section>"]
    parts += [f'<section aria-labelledby="about"><h2 id="about">{e(labels["about"])}</h2>',
              f"<p>{e(expl.disclaimer)}</p>", *(f'<p class="about">{e(line)}</p>' for line in _about(expl)),
              "</section>"]
    if raw is not None:
        name = f" ({e(source_name)})" if source_name else ""
        withheld = [(m.start, m.end) for m in expl.suspicious]
        parts += [f'<section class="letter-section" aria-labelledby="letter">'
                  f'<h2 id="letter">{e(labels["letter"])}{name}</h2>', f"<p>{e(labels['letter_note'])}</p>",
                  f'<pre class="letter" lang="en">{_letter_html(raw, _evidence_spans(expl), withheld, lang)}'
                  "</pre></section>"]
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _escaper(lang: str):
    """HTML escaping for the page's language: on a Spanish page, a «quote» of the letter is English
    (the language's `quoted_letter` attribute marks it)."""
    mark = languages.get(lang).labels["quoted_letter"]

    def e(text: str) -> str:
        return _ENGLISH_QUOTE.sub(rf"<span{mark}>\g<0></span>", escape(text)) if mark else escape(text)
    return e


def _html_item(n: int, item, lang: str, *, linked: bool) -> list[str]:
    """One decided item: its title, decision (linked to the letter's words), the letter's lines,
    why, and what could help."""
    e, labels = _escaper(lang), languages.get(lang).labels
    q = f'<q{labels["quoted_letter"]}>'
    icon = "✓" if item.decision == "overturned" else "✗"

    def see(evidence, key: str) -> str:
        linked_here = evidence is not None and linked
        return f' <a class="see" href="#{_ev_id(n, key)}">({e(labels["see_letter"])})</a>' if linked_here else ""
    parts = [f'<article class="item {item.decision}" id="item-{n}" aria-labelledby="item-{n}-title">',
             f'<h3 id="item-{n}-title">{n}. {e(item.plain_request)}</h3>',
             f'<p class="status" id="item-{n}-status" data-decision="{item.decision}">'
             f'<span class="icon" aria-hidden="true">{icon}</span>'
             f'<span class="label">{e(labels["decision"])}:</span> {e(item.status)}{see(item.decision_evidence, "decision")}</p>']
    parts += [f'<p class="letter-words">{e(label)}' + (f": {q}{escape(words)}</q>" if words else "") + "</p>"
              for label, words in _letter_lines(item, labels)]
    if item.why:
        parts += [f'<h4>{e(labels["why"])}</h4><ul class="why">',
                  *(f'<li id="pt-{n}-{j}">{e(p.text)}{see(p.evidence, str(j))}</li>'
                    for j, p in enumerate(item.why, 1)),
                  "</ul>"]
    if item.what_could_help:
        parts += [f'<h4>{e(labels["what_could_help"])}</h4><ul>',
                  *(f"<li>{e(h.text)}</li>" for h in item.what_could_help), "</ul>"]
    return parts + ["</article>"]

