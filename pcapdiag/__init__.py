"""pcapdiag: find out from a packet capture why pod traffic between Kubernetes nodes misbehaves.

Library first: ``pcapdiag.analyze(path, **options)`` returns a Report (``.to_dict()``,
``.flows_table`` as a pandas DataFrame, ``.findings``). Heavy imports (pandas, numpy)
happen on first use so that the CLI starts fast.
"""
__version__ = "0.1.0"


def analyze(path, **options):
    """Analyse one capture file ("-" for stdin); see pcapdiag.pipeline.analyze for the options."""
    from .pipeline import analyze as run

    return run(path, **options)


__all__ = ["analyze", "__version__"]
