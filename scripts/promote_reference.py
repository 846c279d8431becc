"""Make a finished default run the committed reference (what `make reproduce` is compared with).

    python scripts/promote_reference.py                 # results/, figures/ -> reference/
    python scripts/promote_reference.py --ship          # ... and ship the run's policies in the package

Copied: every table (*.csv), log, notebook, stage configuration (*.yaml) and run record (lsa_*.json
and *.provenance.json) of `results/` (the smoke and paper sub-runs, the benchmarks, the evaluation
shards that the gathered tables hold, and of run directories everything but their records excepted),
every figure and table of `figures/`, and the run's reproduction report (`results/report/`, made
against the reference being replaced) into `reference/report/`. Weights, tokenizers, trainer state
and checkpoints are not copied. The old reference is replaced as a whole, so nothing stale remains.

--ship also copies the run's policies into the package: the main family's first training seed
(`runs/grpo-main/final`, the checkpoint its training chose by validation) as the embedded code
policy, the SFT-started direct run as the embedded direct policy, and the RL baselines' models.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: sub-directories of results/ that are other runs or not workflow results
SKIP = {"smoke", "paper", "report", "benchmarks", "shards"}   # shards: the gathered tables hold them
SUFFIXES = (".csv", ".log", ".ipynb", ".yaml")


def _kept(path: Path, relative: Path) -> bool:
    name = path.name
    record = name.endswith(".provenance.json") or (name.startswith("lsa_") and name.endswith(".json"))
    if relative.parts[0] == "runs":       # run state: only its records (the logs are under training/)
        return record
    return record or name.endswith(SUFFIXES)


def _replace_tree(files: list[tuple[Path, Path]], dest: Path) -> int:
    tmp = dest.with_name(f".{dest.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    for source, relative in files:
        target = tmp / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return len(files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--figures", type=Path, default=ROOT / "figures")
    ap.add_argument("--reference", type=Path, default=ROOT / "reference")
    ap.add_argument("--ship", action="store_true", help="also ship the run's policies in the package")
    args = ap.parse_args()
    report = args.results / "report" / "report.csv"
    if not report.is_file():
        sys.exit(f"promote_reference: {report} is missing: run the whole default workflow first")
    results = [(p, p.relative_to(args.results)) for p in sorted(args.results.rglob("*"))
               if p.is_file() and p.relative_to(args.results).parts[0] not in SKIP and _kept(p, p.relative_to(args.results))]
    figures = [(p, p.relative_to(args.figures)) for p in sorted(args.figures.iterdir()) if p.is_file()]
    reports = [(p, p.relative_to(args.results / "report")) for p in sorted((args.results / "report").iterdir())
               if p.is_file()]
    for files, name in ((results, "results"), (figures, "figures"), (reports, "report")):
        print(f"reference/{name}: {_replace_tree(files, args.reference / name)} files")
    if args.ship:
        from lsa.policy.train import ship

        print("shipped", ship(args.results / "runs" / "grpo-main" / "final", "code"))
        print("shipped", ship(args.results / "runs" / "grpo-direct-sft" / "final", "direct"))
        rl_dir = ROOT / "lsa" / "data" / "models" / "rl"
        for algorithm in ("dqn", "ppo"):
            source = args.results / "models" / f"rl-{algorithm}-s0.zip"
            shutil.copy2(source, rl_dir / f"{algorithm}.zip")
            (rl_dir / f"{algorithm}.zip").chmod(0o644)
            print("shipped", rl_dir / f"{algorithm}.zip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
