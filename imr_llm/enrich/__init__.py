"""The model step: fill each disputed item's interpretive fields (service, category, quantity,
body regions, reasons, missing documentation) from its parsed sections, every value grounded."""

from .enricher import Enricher

__all__ = ["Enricher"]
