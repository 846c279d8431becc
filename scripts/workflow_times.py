"""Where the time of one workflow run went, read from its Snakemake log.

  .venv/bin/python scripts/workflow_times.py .snakemake/log/<run>.snakemake.log [--cores 2]

Per rule: jobs, wall minutes in all and per job, threads. Then the split that bounds the run's
length on this machine: jobs that take every core (`threads: workflow.cores`, the time-bounded
evaluations and LoRA-GRPO) run one at a time with nothing beside them, so their wall minutes add up;
the single-core jobs (pretraining, GRPO, RL, SFT, the cold start, ...) share the cores, so at best
they take their core-minutes / cores. The sum of the two is the shortest this set of jobs can take
in any order; the log's own elapsed time is printed beside it.
"""
from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime

STAMP = re.compile(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]")


def jobs(lines: list[str]) -> list[dict]:
    """Every finished job: rule, start, end (datetime), threads."""
    stamp, open_jobs, pending, done = None, {}, None, []
    for line in lines:
        if m := STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := re.match(r"\s*(?:local)?rule (\w+):", line):
            pending = {"rule": m.group(1), "start": stamp, "threads": 1}
        elif pending and (m := re.match(r"\s+threads: (\d+)", line)):
            pending["threads"] = int(m.group(1))
        elif pending and (m := re.match(r"\s+jobid: (\d+)", line)):
            open_jobs[m.group(1)] = pending
        elif pending and re.match(r"\s+resources:", line):
            pending = None
        elif (m := re.match(r"Finished jobid: (\d+)", line)) and m.group(1) in open_jobs:
            done.append(open_jobs.pop(m.group(1)) | {"end": stamp})
    return done


def fail(message: str) -> int:
    """One line on stderr; the exit status of bad input (2)."""
    print(message, file=sys.stderr)
    return 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    try:
        lines = open(args.log).read().splitlines()
    except OSError as exc:
        sys.exit(fail(f"{args.log}: cannot read the Snakemake log ({exc.strerror})"))
    done = jobs(lines)
    if not done:
        sys.exit(fail(f"{args.log}: no finished job in this log"))
    for j in done:
        j["min"] = (j["end"] - j["start"]).total_seconds() / 60
    by_rule: dict[str, list[dict]] = {}
    for j in done:
        by_rule.setdefault(j["rule"], []).append(j)
    print(f"{'rule':22s} {'jobs':>4s} {'threads':>7s} {'wall min':>8s}  per job")
    for rule, js in sorted(by_rule.items(), key=lambda kv: -sum(j["min"] for j in kv[1])):
        threads = sorted({j["threads"] for j in js})
        print(f"{rule:22s} {len(js):4d} {','.join(map(str, threads)):>7s} {sum(j['min'] for j in js):8.1f}  "
              + ", ".join(f"{j['min']:.1f}" for j in js))
    whole = [j for j in done if j["threads"] >= args.cores]
    pool = [j for j in done if j["threads"] < args.cores]
    whole_min = sum(j["min"] for j in whole)
    pool_core_min = sum(j["min"] * j["threads"] for j in pool)
    first, last = min(j["start"] for j in done), max(j["end"] for j in done)
    print(f"\njobs on every core ({args.cores}), one at a time: {len(whole)} jobs, {whole_min:.1f} min of wall time")
    print(f"jobs on fewer cores, side by side: {len(pool)} jobs, {pool_core_min:.1f} core-minutes "
          f"= at least {pool_core_min / args.cores:.1f} min on {args.cores} cores")
    print(f"shortest possible for these jobs: {whole_min + pool_core_min / args.cores:.1f} min; "
          f"this run: {(last - first).total_seconds() / 60:.1f} min (first job start to last job end)")


if __name__ == "__main__":
    main()
