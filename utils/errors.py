"""The one exception type that means "the user's input is wrong": main.py turns it into one line and exit 2."""


class UserInputError(Exception):
    """Bad file, column, row or flag. The message must name the culprit; no traceback is shown."""


def listed(names, limit: int = 12, quote: bool = True) -> str:
    """The first ``limit`` names for a message, each in single quotes (``quote``), then how many more there are."""
    names = [str(n) for n in names]
    shown = ", ".join(f"'{n}'" if quote else n for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
