"""`python -m imr_llm …` is the `imr-llm` command."""

from .cli import main

raise SystemExit(main())
