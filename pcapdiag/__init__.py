"""pcapdiag: find out from a packet capture why pod traffic between Kubernetes nodes misbehaves.

Library first: ``pcapdiag.analyze(paths, **options)`` returns a Report (``.to_dict()``,
``.flows_table`` as a pandas DataFrame, ``.findings``). Heavy imports (pandas, numpy)
happen on first use so that the CLI starts fast.
"""
__version__ = "0.1.0"


def analyze(paths, **options):
    """Analyse one capture file ("-" for stdin), or several as one report; see pcapdiag.runner.analyze for
    the options."""
    from .runner import analyze as run

    return run(paths, **options)


__all__ = ["analyze", "__version__"]
