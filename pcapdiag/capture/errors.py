"""The one exception capture/ raises."""


class CaptureError(Exception):
    """An input the tool cannot read, told in one user-facing line.

    The CLI prints ``str(error)`` on stderr and exits with code 2; it never
    shows a traceback. Damage *inside* a readable capture is not an error: it
    is counted in ``Capture.damage`` and described in ``Capture.warnings``.
    """
