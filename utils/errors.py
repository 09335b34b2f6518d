"""The one exception type that means "the user's input is wrong": main.py turns it into one line and exit 2."""


class UserInputError(Exception):
    """Bad file, column, row or flag. The message must name the culprit; no traceback is shown."""
