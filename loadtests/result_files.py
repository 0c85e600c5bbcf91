"""The names of the files in a results directory (summary.json lists those a run wrote)."""

CSV_PREFIX = "locust"
FILES = {
    "summary": "summary.json",
    "plot": "latency_throughput.png",
    "html_report": "report.html",
    "stats_csv": f"{CSV_PREFIX}_stats.csv",
    "history_csv": f"{CSV_PREFIX}_stats_history.csv",
    "failures_csv": f"{CSV_PREFIX}_failures.csv",
    "exceptions_csv": f"{CSV_PREFIX}_exceptions.csv",
    "requests": "requests.parquet",
    "locust_log": "locust.log",
}
BENCH_FILES = {"bench_triton": "bench_triton.json", "bench_triton_log": "bench_triton.log"}
"""With --triton-url."""
