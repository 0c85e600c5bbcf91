"""docs/results/summary.md: the tables of `make results`, made from its JSON files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BASELINES = ("most_clicked", "segment_popular", "coclick", "two_tower", "dlrm_order", "ease")


def write_summary(out: Path, names: Sequence[str], rows: int, seed: int) -> None:
    parts = [
        "# Results\n",
        "Made by `make results` (`python -m loadtests.results`): generators at "
        f"{rows:,} rows, seed {seed}, each given a held-back future; real logs as `--data "
        "NAME=DIR`. Every table below is read from the JSON files beside this page; "
        "[quality](../quality.md) and [benchmarks](../benchmarks.md) explain them.\n",
        quality_table(out, names),
        build_table(out, names),
        benchmark_tables(out / "benchmarks"),
    ]
    (out / "summary.md").write_text("\n".join(part for part in parts if part))


def read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def pair(figures: dict[str, Any] | None) -> str:
    if not figures:
        return "-"
    return f"{figures['recall_at_10']:.3f} / {figures['ndcg_at_10']:.3f}"


def quality_table(out: Path, names: Sequence[str]) -> str:
    lines = [
        "## The served top-10 on held-back future clicks (recall@10 / NDCG@10, through the "
        "gateway)\n",
        "| data set | users | errors | served | most clicked | EASE | served / EASE (NDCG) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        figures = read(out / "quality" / f"{name}.json")
        if figures is None:
            continue
        ease = figures.get("ease") or {}
        ratio = figures["served"]["ndcg_at_10"] / ease["ndcg_at_10"] if ease else None
        lines.append(
            f"| {name} | {figures['users']:,} | {figures['errors']} | "
            f"**{pair(figures['served'])}** | {pair(figures.get('most_clicked'))} | "
            f"{pair(ease)} | {'-' if ratio is None else f'{ratio:.2f}x'} |"
        )
    return "\n".join(lines) + "\n"


def build_table(out: Path, names: Sequence[str]) -> str:
    lines = [
        "## The builds: time, memory and the build's own table (valid split, NDCG@10)\n",
        "Debiased: each held-out click weighted by 1 / P(shown), what an impression log's list is "
        "judged by ([quality](../quality.md#what-every-build-reports)).\n",
        "| data set | total s | retrieval s | ranking s | choices s | peak RSS MB | served "
        "| best baseline | served, debiased | best baseline, debiased |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        build = read(out / "builds" / f"{name}.json")
        if build is None:
            continue
        timings = build.get("timings_s") or {}
        top10 = (build.get("evaluation") or {}).get("top10") or {}
        lines.append(
            f"| {name} | {timings.get('total', 0):.1f} | {timings.get('retrieval', 0):.1f} | "
            f"{timings.get('ranking', 0):.1f} | {timings.get('choices', 0):.1f} | "
            f"{build.get('peak_rss_mb') or 0:.0f} | "
            + " | ".join(_served_and_best(top10, m) for m in ("ndcg_at_10", "debiased_ndcg_at_10"))
            + " |"
        )
    return "\n".join(lines) + "\n"


def _served_and_best(top10: dict[str, Any], measure: str) -> str:
    """`served | best baseline` cells of `measure`; `- | -` where the build has none."""
    baselines = {b: top10[f"{b}_{measure}"] for b in BASELINES if f"{b}_{measure}" in top10}
    if f"served_{measure}" not in top10:
        return "- | -"
    best = max(baselines, key=lambda b: baselines[b]) if baselines else None
    return f"{top10[f'served_{measure}']:.4f} | " + (
        f"{best} {baselines[best]:.4f}" if best else "-"
    )


def benchmark_tables(out: Path) -> str:
    direct = read(out / "bench_triton.json")
    steps = read(out / "steps" / "summary.json")
    if direct is None and steps is None:
        return ""
    lines = ["## Serving, on the first data set's build\n"]
    if direct:
        machine = direct["machine"]
        lines.append(
            f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB; load "
            f"average before / after the gRPC runs: {direct['load_average_before'][0]} / "
            f"{direct['load_average_after'][0]}"
            + (f"; commit {steps['git']['commit'][:10]}" if steps and "git" in steps else "")
            + ".\n"
        )
    lines += ["| measure | value |", "| --- | --- |"]
    if direct:
        sequential, concurrent = direct["sequential"], direct["concurrent"]
        lines += [
            f"| direct gRPC, one user: p50 / p99 | {sequential['p50_ms']} / "
            f"{sequential['p99_ms']} ms |",
            f"| direct gRPC, {concurrent['concurrency']} clients: requests/s, p99 | "
            f"{concurrent['throughput_rps']}, {concurrent['p99_ms']} ms |",
            f"| server RSS | {direct['server_rss_mb']:.0f} MB |",
        ]
        gateway = direct.get("gateway")
        if gateway:
            lines.append(
                f"| through the gateway, one user: p50 (added by the gateway) | "
                f"{gateway['through_gateway']['p50_ms']} ms "
                f"(+{gateway['gateway_added_p50_ms']} ms) |"
            )
    best = (steps or {}).get("best_under_slo")
    if best:
        lines.append(
            f"| gateway step load, best step with p99 <= 50 ms: users, requests/s, p50 / p99 | "
            f"{best['users']}, {best['requests_per_s']:.0f}, {best['p50_ms']} / "
            f"{best['p99_ms']} ms |"
        )
    elif steps is not None:
        lines.append("| gateway step load | no step within p99 <= 50 ms |")
    return "\n".join(lines) + "\n"
