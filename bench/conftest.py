"""After a pytest-benchmark run, print each group's medians as ratios to its anchor
(the benchmark whose ``extra_info['anchor']`` is true), so a run reads as 'gpugrad / hand-written'."""


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group, []).append(bench)
    lines = []
    for group, benches in sorted(groups.items(), key=lambda kv: str(kv[0])):
        anchors = [b for b in benches if b.extra_info.get("anchor")]
        if not anchors:
            continue
        base = anchors[0].stats.median
        for b in sorted(benches, key=lambda b: b.stats.median):
            lines.append(f"{str(group):<28} {b.name:<52} {b.stats.median * 1e3:9.3f} ms   "
                         f"{b.stats.median / base:5.2f}x {anchors[0].extra_info.get('impl', 'anchor')}")
    if lines:
        terminalreporter.write_sep("-", "median time as a ratio to each group's anchor")
        for line in lines:
            terminalreporter.write_line(line)
