"""The section headings every DWC letter prints, which the parser and the safety scanner both
place text by (one definition, and no import of the parser from the scanner)."""

from __future__ import annotations

import re

SUMMARY_START = re.compile(r"CLINICAL\s+CASE\s+SUMMARY", re.IGNORECASE)
ISSUES_START = re.compile(r"IMR\s+ISSUES,?\s+DECISIONS?\s+AND\s+RATIONALES?|IMR\s+DECISION\(S\)\s+AND\s+RATIONALE\(S\)",
                          re.IGNORECASE)
MADE_START = re.compile(r"HOW\s+THE\s+IMR\s+FINAL\s+DETERMINATION\s+WAS\s+MADE", re.IGNORECASE)
