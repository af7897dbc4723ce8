"""Several captures analysed as one report (their analyzer states merged)."""
from __future__ import annotations

from .parallel import merge_in_processes, merge_info


def analyze_files(files: list[str], *, vxlan_ports=(), underlay_mtu=None, decoder="fast", jobs=1, flow_cap=None,
                  address_cap=None, progress=None):
    from .pipeline import Settings, analyze, analyze_range, build_report

    if len(files) == 1:
        return analyze(files[0], vxlan_ports=vxlan_ports, underlay_mtu=underlay_mtu, decoder=decoder, jobs=jobs,
                       flow_cap=flow_cap, address_cap=address_cap, progress=progress)
    from .capture import open_capture

    for path in files:  # fail fast, before any work, on a file that cannot be opened
        open_capture(path).close()
    settings = Settings.make(vxlan_ports, decoder, flow_cap, underlay_mtu, address_cap)
    if jobs > 1 and "-" not in files:
        tasks = [(path, settings, None, None, index > 0, False) for index, path in enumerate(files)]
        state, info = merge_in_processes(tasks, min(jobs, len(files)), settings.analyzers())
    else:
        state, infos = settings.analyzers(), []
        for index, path in enumerate(files):
            file_state, file_info = analyze_range(path, settings, progress=progress, continuation=index > 0)
            state.merge(file_state)
            infos.append(file_info)
        info = merge_info(infos)
    report = build_report(", ".join(files), state, info, underlay_mtu)
    report.file = ", ".join(f.rsplit("/", 1)[-1] for f in files)
    return report
