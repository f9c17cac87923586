"""The benchmark's results as a console table and as markdown."""

from __future__ import annotations

import statistics
from typing import Any


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _target(value: float | None) -> str:
    return "-" if value is None else f">= {value * 100:.0f}%"


def throughput_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for outcome in results["throughput"].values():
        ratios = ", ".join(_ratio(ratio) for ratio in outcome["ratios"]) or "-"
        p50 = sorted(run["latency_p50_ms"] for run in outcome["runs"])
        rows.append(
            [
                outcome["title"],
                f"{outcome['rate_median']:,.0f}",
                _ratio(outcome["ratio_median"]),
                ratios,
                _target(outcome["target_ratio"]),
                outcome["verdict"],
                f"{p50[len(p50) // 2]:.2f}",
                f"{outcome['server_cpu_us_per_request_median']:.0f}",
                _ratio(outcome["cpu_ratio_median"]),
                f"{statistics.median(run['others_cores'] for run in outcome['runs']):.2f}",
            ]
        )
    return rows


THROUGHPUT_HEADER = [
    "scenario",
    "req/s (median)",
    "ratio (median)",
    "ratio per round",
    "target",
    "verdict",
    "p50 ms",
    "CPU us/req",
    "CPU ratio",
    "others (cores)",
]
LATENCY_HEADER = ["measure", "median ms", "p95 ms", "ratio to get()", "target", "verdict"]


def latency_rows(results: dict[str, Any]) -> list[list[str]]:
    sdk = results["sdk"]
    return [
        [
            f"SDK create-to-Succeeded ({sdk['count']} versions, "
            f"{sdk['requests_per_create_median']:g} requests each)",
            f"{sdk['create_median_ms']:.1f}",
            f"{sdk['create_p95_ms']:.1f}",
            f"{sdk['create_to_get_ratio']:.2f}x",
            f"<= {sdk['target_create_median_ms']:g} ms",
            sdk["verdict"],
        ],
        [
            "SDK get() round trip",
            f"{sdk['get_median_ms']:.1f}",
            f"{sdk['get_p95_ms']:.1f}",
            "1.00x",
            "-",
            "-",
        ],
    ]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(
        [line(header), line(["-" * width for width in widths])] + [line(row) for row in rows]
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def environment_line(results: dict[str, Any]) -> str:
    env = results["environment"]
    load = results["load"]
    others = sorted(
        run["others_cores"] for outcome in results["throughput"].values() for run in outcome["runs"]
    )
    return (
        f"{results['started']}, {env['cpus']} CPUs, load average {env['loadavg_before']} before "
        f"the run; other processes kept {others[len(others) // 2]:.2f} cores busy (median; "
        f"{others[0]:.2f} to {others[-1]:.2f}) during the wrk runs; {env['wrk']}, "
        f"{load['connections']} connections, {load['threads']} wrk thread(s), "
        f"{load['seconds']:g} s per run, {load['rounds']} rounds; Python {env['python']}"
    )


def text(results: dict[str, Any]) -> str:
    return "\n".join(
        [
            environment_line(results),
            "",
            text_table(THROUGHPUT_HEADER, throughput_rows(results)),
            "",
            text_table(LATENCY_HEADER, latency_rows(results)),
        ]
    )


def markdown(results: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Run of {environment_line(results)}.",
            "",
            markdown_table(THROUGHPUT_HEADER, throughput_rows(results)),
            "",
            markdown_table(LATENCY_HEADER, latency_rows(results)),
            "",
        ]
    )
