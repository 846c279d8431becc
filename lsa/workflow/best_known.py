"""Best-known utilities: for every instance of the evaluation grid, the best of long runs of the
strongest methods (and the optimum where `exact` proves it), the yardstick every method's share is
read against.

`compute_best_known(config, cache_dir)` runs the `best_known:` section on the instances of the
`evaluation:` section: on each instance first `exact` (N <= exact_max_n; when it completes its search
the optimum is proven and nothing else runs), then every method x seed of `methods` with the budget
of the instance's size tier. One tidy row per instance: the best utility, which run reached it
(method, budget, method seed), whether it is a proven optimum, and the load of the machine while it
ran (budgets are wall-clock: on a loaded machine a run does less work, so a best-known is a lower
bound on what a quiet machine reaches). Each instance's result is cached under `cache_dir` by a key
of everything it depends on, so an interrupted stage resumes and a changed setting reruns only what
it changes.

`raise_to_evaluated(best, rows)` lifts a best-known to any evaluated utility above it (the rows that
did so are returned, to be reported); `with_share(rows, best)` adds `best_known` and
`share_of_best_known` to evaluation rows.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from lsa.config import Section, option, section
from lsa.errors import ConfigError
from lsa.io import write_json
from lsa.methods.evaluate import core_groups, evaluation_config, iter_instances, run_pinned
from lsa.methods.protocol import MAX_BUDGET_S, run_method
from lsa.methods.registry import all_methods
from lsa.sim.generate import generate_ppp
from lsa.sim.params import network_config

#: relative tolerance below which an evaluated utility does not count as above the best-known
#: (float noise of recomputing the same assignment's utility)
UPDATE_RTOL = 1e-9
#: the columns of the best-known table, in order
COLUMNS = ["instance", "N", "K", "regime", "seed", "best_known", "method", "budget_s", "method_seed",
           "proven_optimal", "runs", "wall_s", "load_1min", "cache_key"]


@dataclass(frozen=True)
class BestKnownConfig(Section):
    """The `best_known:` section: how the best-known utility of every evaluation instance is found."""

    SECTION = "best_known"

    methods: list[str] = option(["local-search", "ils"], "The long-run methods (the strongest classical ones).")
    budgets_s: dict[int, float] = option(
        {2000: 60.0, 10000: 120.0},
        "Size tiers: N upper bound -> each long run's wall-clock budget (s); an instance takes the tier of the "
        "smallest bound >= N (beyond the largest bound: the largest bound's budget).")
    seeds: list[int] = option([0], "Seeds of the long runs' random generators (one run per method and seed).")
    exact_max_n: int = option(20, "`exact` runs first on instances with N <= this; when it completes, the optimum "
                                  "is proven and no other run is needed (0: never).")
    exact_budget_s: float = option(60.0, "`exact`'s wall-clock budget (s).")
    workers: int | None = option(None, "Instances solved side by side, each worker pinned to its own core "
                                       "(null: as many as the usable cores).")
    from_reference: bool = option(
        False, "Read the committed best-known table (reference/results/best_known.csv for the default profile; "
               "the workflow passes its path): an instance whose row there has the same cache_key (the same network "
               "settings, instance and long runs) is taken from it instead of being solved again; every other "
               "instance is solved (false: solve every instance).")

    def check(self) -> None:
        known = all_methods()
        if not self.methods or any(m not in known for m in self.methods):
            self.fail(f"methods must name known methods, got {self.methods}")
        if not self.budgets_s or any(n < 1 for n in self.budgets_s) \
                or any(not 0 < b <= MAX_BUDGET_S for b in self.budgets_s.values()):
            self.fail(f"budgets_s must map N >= 1 to seconds in (0, {MAX_BUDGET_S:g}], got {self.budgets_s}")
        if not self.seeds or any(s < 0 for s in self.seeds):
            self.fail(f"seeds must be a non-empty list of integers >= 0, got {self.seeds}")
        if self.exact_max_n < 0 or not 0 < self.exact_budget_s <= MAX_BUDGET_S:
            self.fail(f"need exact_max_n >= 0 and exact_budget_s in (0, {MAX_BUDGET_S:g}]")
        if self.workers is not None and not 1 <= self.workers <= 1024:
            self.fail(f"workers must be in [1, 1024] or null, got {self.workers}")

    def budget_for(self, n_links: int) -> float:
        """The long runs' budget of an instance with `n_links` links (its size tier)."""
        bounds = sorted(self.budgets_s)
        return float(self.budgets_s[next((b for b in bounds if n_links <= b), bounds[-1])])


def best_known_config(config: dict) -> BestKnownConfig:
    return section(config, BestKnownConfig)


def cache_key(network: dict, spec: tuple, settings: BestKnownConfig) -> str:
    """What an instance's best-known depends on: the network settings, the instance and the runs."""
    n_links = spec[0]
    runs = {"methods": settings.methods, "seeds": settings.seeds, "budget_s": settings.budget_for(n_links),
            "exact_budget_s": settings.exact_budget_s if n_links <= settings.exact_max_n else None}
    text = json.dumps({"network": network, "instance": list(spec), "runs": runs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def solve_instance(config: dict, name: str, spec: tuple, settings: BestKnownConfig) -> dict:
    """The best-known row of one instance (see the module docstring)."""
    n_links, k, regime, seed = spec
    t0, load = time.perf_counter(), os.getloadavg()[0]
    net = generate_ppp(n_links, k, regime, seed, network_config(config))
    runs: list[tuple[str, float, int, float, bool]] = []   # method, budget, seed, utility, proven
    if n_links <= settings.exact_max_n:
        row, _ = run_method(net, "exact", settings.exact_budget_s, seed, instance=name)
        runs.append(("exact", settings.exact_budget_s, seed, float(row["utility"]), bool(row.get("optimal"))))
    if not (runs and runs[0][4]):
        budget = settings.budget_for(n_links)
        for method in settings.methods:
            for method_seed in settings.seeds:
                row, _ = run_method(net, method, budget, method_seed, instance=name)
                runs.append((method, budget, method_seed, float(row["utility"]), False))
    method, budget, method_seed, utility, proven = max(runs, key=lambda r: (r[3], r[4]))
    return {"instance": name, "N": n_links, "K": k, "regime": regime, "seed": seed, "best_known": utility,
            "method": method, "budget_s": budget, "method_seed": method_seed, "proven_optimal": proven,
            "runs": len(runs), "wall_s": time.perf_counter() - t0,
            "load_1min": round((load + os.getloadavg()[0]) / 2, 2)}


def _cached_solve(config: dict, name: str, spec: tuple, settings: BestKnownConfig, path: Path, key: str) -> dict:
    row = {**solve_instance(config, name, spec, settings), "cache_key": key}
    write_json(path, row)
    return row


def reference_rows(path: str | Path) -> dict[str, dict]:
    """The rows of a committed best-known table by cache_key. A table that is missing or malformed is
    an error: a reproduction must not silently solve 40 min more."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"best_known.from_reference: {path} does not exist (false: solve every instance)")
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"best_known.from_reference: cannot read {path}: {' '.join(str(exc).split())}") from None
    if list(table.columns) != COLUMNS:
        raise ConfigError(f"best_known.from_reference: {path} is not a best-known table (columns {COLUMNS})")
    table["proven_optimal"] = table["proven_optimal"].astype(bool)
    return {row["cache_key"]: row for row in table.to_dict("records")}


def committed_row(committed: dict[str, dict], key: str, name: str) -> dict | None:
    """The committed row of instance `name` under cache key `key` (None when the table has none)."""
    row = committed.get(key)
    return row if row is not None and row["instance"] == name else None


def compute_best_known(config: dict, cache_dir: str | Path, progress: bool = True,
                       reference: str | Path | None = None) -> pd.DataFrame:
    """The best-known table of a loaded profile's evaluation instances (one row per instance, in grid
    order); instances already in `cache_dir` under the same key are read, not rerun, and with
    `best_known.from_reference` so are those whose row in the committed table `reference` has the same key."""
    settings = best_known_config(config)
    network = config.get("network") or {}
    cache_dir = Path(cache_dir)
    instances = {}
    for name, spec, _, _ in iter_instances(evaluation_config(config)):
        instances.setdefault(name, spec)
    committed = reference_rows(reference) if settings.from_reference and reference is not None else {}
    rows: dict[int, dict] = {}
    jobs = []
    for idx, (name, spec) in enumerate(instances.items()):
        key = cache_key(network, spec, settings)
        path = cache_dir / f"{name}.json"
        cached = json.loads(path.read_text()) if path.is_file() else None
        if cached and cached.get("cache_key") == key:
            rows[idx] = cached
        elif (row := committed_row(committed, key, name)) is not None:
            rows[idx] = row
        else:
            jobs.append((idx, (config, name, spec, settings, path, key)))
    if committed and progress:
        print(f"best-known: {len(instances) - len(jobs)} of {len(instances)} instances from the cache or "
              f"{reference} (same settings), {len(jobs)} to solve", flush=True)
    with tqdm(total=len(instances), initial=len(rows), desc="best-known", unit="instance",
              disable=not progress) as bar:
        def done(idx: int, row: dict) -> None:
            rows[idx] = row
            bar.set_postfix_str(row["instance"])
            bar.update(1)

        run_pinned(_cached_solve, jobs, core_groups(1, settings.workers), done)
    return pd.DataFrame([rows[i] for i in sorted(rows)], columns=COLUMNS)


# ====================================================================== reading evaluations against it
def raise_to_evaluated(best: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(best, updates): `best` with every instance's best-known raised to the best evaluated utility
    on it where that is higher (columns `best_known_long_run`, `updated_by` say from which run), and
    the evaluated rows that raised it (instance, seed, method, budget_s, utility, best_known_long_run,
    gain = utility / best_known_long_run - 1), best first per instance."""
    best = best.copy()
    best["best_known_long_run"] = best["best_known"]
    best["updated_by"] = ""
    update_cols = ["instance", "N", "regime", "seed", "method", "budget_s", "utility", "best_known_long_run", "gain"]
    if rows.empty:
        return best, pd.DataFrame(columns=update_cols)
    ref = best.set_index("instance")["best_known"]
    evaluated = rows[rows["instance"].isin(ref.index)].copy()
    evaluated["best_known_long_run"] = evaluated["instance"].map(ref)
    above = evaluated[evaluated["utility"] > evaluated["best_known_long_run"] * (1 + UPDATE_RTOL)].copy()
    above["gain"] = above["utility"] / above["best_known_long_run"] - 1
    above = above.sort_values(["instance", "utility"], ascending=[True, False])
    if "policy" in above and "method" in above:
        above["method"] = [m if not isinstance(p, str) or p in ("", m) else f"{m} ({p})"
                           for m, p in zip(above["method"], above["policy"])]
    for instance, g in above.groupby("instance", sort=False):
        top = g.iloc[0]
        i = best.index[best["instance"] == instance]
        best.loc[i, "best_known"] = float(top["utility"])
        best.loc[i, "updated_by"] = f"{top['method']} @ {top['budget_s']:g} s"
        best.loc[i, "proven_optimal"] = False
    return best, above[[c for c in update_cols if c in above]].reset_index(drop=True)


def with_share(rows: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """`rows` with `best_known` (of its instance; NaN where none was computed), `best_known_proven`
    (it is a proven optimum) and `share_of_best_known` = utility / best_known."""
    best = best.drop_duplicates("instance").set_index("instance")
    out = rows.copy()
    out["best_known"] = out["instance"].map(best["best_known"]).astype(float)
    out["best_known_proven"] = out["instance"].map(best["proven_optimal"].astype(bool)).fillna(False).astype(bool)
    out["share_of_best_known"] = out["utility"].astype(float) / out["best_known"]
    return out


__all__ = ["BestKnownConfig", "best_known_config", "cache_key", "solve_instance", "compute_best_known", "reference_rows",
           "committed_row",
           "raise_to_evaluated", "with_share", "COLUMNS", "UPDATE_RTOL"]
