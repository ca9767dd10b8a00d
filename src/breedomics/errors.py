"""Exceptions shared by all commands."""


class UserError(Exception):
    """An error caused by the user's input (file, sheet, option).

    The CLI prints its message without a traceback and exits with status 1, so
    the message must name the file, row or sample at fault and say how to fix it.
    """
