"""`python -m imr_llm …` and the `imr-llm` command. A Ctrl-C while the command is still loading ends
as one does later: "interrupted" and status 130, never a traceback."""

import sys


def main() -> int:
    try:
        from .cli import main as command  # deferred: the command's imports are where a Ctrl-C can land first
    except KeyboardInterrupt:
        print("imr-llm: interrupted", file=sys.stderr)
        return 130
    return command()


if __name__ == "__main__":
    raise SystemExit(main())
