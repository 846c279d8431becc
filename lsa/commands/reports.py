"""`lsa figures` and `lsa report`: arguments and handlers."""
from __future__ import annotations

import sys
from pathlib import Path

from lsa.errors import LSAError
from lsa.io import check_writable


# ------------------------------------------------------------------------- figures / report
def figures_arguments(p):
    from lsa.workflow.figures import FIGURE_NAMES
    from lsa.workflow.paths import Paths

    reference = Paths.reference()
    p.add_argument("--results", type=Path, default=reference.results,
                   help=f"results directory of one run (default: the committed reference, {reference.results})")
    p.add_argument("--figures", type=Path, default=reference.figures,
                   help=f"where PDF/PNG and the table go (default: {reference.figures})")
    p.add_argument("--only", nargs="+", metavar="NAME", help=f"render only these ({', '.join(FIGURE_NAMES)})")
    p.add_argument("--strict", action="store_true", help="fail (exit 1) when a figure's results are missing")


def figures(args) -> int:
    from lsa.workflow.figures import FIGURE_NAMES, MissingResults, render_all

    if not args.results.is_dir():
        raise LSAError(f"results directory not found: {args.results}")
    check_writable(args.figures / "table.md")
    try:
        done = render_all(args.results, args.figures, args.only, args.strict)
    except MissingResults as exc:
        print(f"lsa figures: {exc}", file=sys.stderr)
        return 1
    print(f"rendered {len(done)}/{len(args.only or FIGURE_NAMES)} figures/tables into {args.figures}")
    return 0


def report_arguments(p):
    from lsa.workflow.paths import Paths

    reference, run = Paths.reference(), Paths.for_profile()
    p.add_argument("--reference", type=Path, default=reference.results,
                   help=f"the committed reference results (default: {reference.results})")
    p.add_argument("--results", type=Path, default=run.results,
                   help=f"the results of the run to compare (default: {run.results})")
    p.add_argument("--output", type=Path, default=run.report_dir,
                   help=f"directory of report.md, report.csv, report.pdf/png (default: {run.report_dir})")
    p.add_argument("--markdown-table", action="store_true",
                   help="print the README's claims table from the report already in --output (its report.csv, "
                        "the --results run's side) instead of comparing")


def report(args) -> int:
    from lsa.workflow.report import readme_table, write_report

    if args.markdown_table:
        if not args.results.is_dir():
            raise LSAError(f"results directory not found: {args.results}")
        print(readme_table(args.output / "report.csv", args.results), end="")
        return 0
    check_writable(args.output / "report.md")
    files = write_report(args.reference, args.results, args.output)
    print("\n".join(line for line in files["md"].read_text().splitlines() if line.startswith("**")))
    print(f"wrote {', '.join(str(f) for f in files.values())}")
    return 0


# ------------------------------------------------------------------------- plan
def plan_arguments(p):
    from lsa.workflow.paths import PROFILES
    from lsa.workflow.plan import SLURM_PROFILE

    p.add_argument("--profile", default="default", choices=PROFILES, help="workflow profile (config/<profile>.yaml)")
    p.add_argument("--cluster-profile", type=Path, default=SLURM_PROFILE,
                   help=f"Snakemake profile whose resources the jobs ask for (default: {SLURM_PROFILE})")
    p.add_argument("--root", type=Path, default=Path("."), help="the checkout (its Snakefile); default: here")


def plan(args) -> int:
    from lsa.workflow.plan import markdown
    from lsa.workflow.plan import plan as cost_plan

    if not (args.root / "Snakefile").is_file():
        raise LSAError(f"no Snakefile in {args.root}: run `lsa plan` in the repository root (or pass --root)")
    if not (args.root / args.cluster_profile / "config.yaml").is_file():
        raise LSAError(f"no Snakemake profile at {args.cluster_profile} (its config.yaml)")
    table = cost_plan(args.profile, args.cluster_profile, args.root)
    print(f"profile {args.profile}: the jobs `snakemake --profile {args.cluster_profile} --config profile={args.profile}` "
          "submits; hours are runtime requests (upper bounds)")
    print(markdown(table))
    return 0
