"""pcapdiag: find out from a packet capture why pod traffic between Kubernetes nodes misbehaves.

Library first: ``pcapdiag.analyze(paths, **options)`` returns a Report (``.to_dict()``,
``.flows_table`` as a pandas DataFrame, ``.findings``). numpy is imported on first use, so
that the CLI starts fast, and pandas only where a DataFrame is handed out (``.flows_table``, CSV).
"""
__version__ = "0.1.0"


def analyze(paths, *, client=None, chunk_bytes=None, **options):
    """Analyse one capture file ("-" for stdin), or several (globs, directories) as one report; see
    pcapdiag.runner.analyze for the options.

    client: a distributed.Client: the analysis runs on its Dask cluster (pcapdiag.dask_engine), the paths
        read as its workers see them; chunk_bytes: there, the size of a task's byte range of a large file."""
    from .runner import analyze as run

    if client is not None:
        from .dask_engine import cluster_engine

        options["engine"] = cluster_engine(client, chunk_bytes)
    return run(paths, **options)


__all__ = ["analyze", "__version__"]
