"""What the workflow trains and evaluates: the `workflow:` section of a profile read together with the
sections it depends on (WorkflowSettings: policy families x training seeds, GRPO runs, study grids).

Policy families are what a figure compares: `main` (model.size) and `size-<size>` for every other
size of workflow.model_sizes; each is trained once per training seed. Run names: `<family>` for the
first seed, `<family>-s<seed>` for the others. The Fig. 2 ablations and the direct runs are single-seed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lsa.config import check_mapping
from lsa.errors import ConfigError
from lsa.methods.evaluate import InstanceGrid
from lsa.rl.config import ALGORITHMS as RL_ALGORITHMS
from lsa.workflow.paths import Paths

#: GRPO runs every profile has (name -> overrides of the `grpo:` section); `workflow.grpo_runs`
#: in a profile replaces them. `main`'s overrides apply to every policy family and seed; the other
#: four are the paper's Fig. 2 ablations (single-seed: they are training curves, figure d).
DEFAULT_GRPO_RUNS: dict[str, dict] = {
    "main": {},
    "G4": {"num_generations": 4},
    "lambda-struct2": {"lambda_struct": 2.0},
    "lambda-perf2": {"lambda_perf": 2.0},
    "lambda-depth2": {"lambda_depth": 2.0},
}
#: the direct-paradigm runs of the cold-start figure (e): GRPO from the base model, and after the
#: SFT warm start; single-seed like the ablations
DIRECT_RUNS = ("direct-cold", "direct-sft")
#: the main policy family (model.size) and its first-seed run
MAIN_RUN = "main"
#: the untrained base model of the main size, evaluated as the "before GRPO" point of figures g, h
BASE_POLICY = "base"
#: sections every learning stage reads (the network decides the training instances)
POLICY_SECTIONS = ("network", "model")
WORKFLOW_KEYS = ("model_sizes", "training_seeds", "grpo_runs", "prompt_study", "llm_evaluation",
                 "evaluation_shards", "llm_evaluation_shards", "gpus", "runtime_min")   # lsa.workflow.shards, .resources
LLM_EVALUATION_KEYS = ("family_instances",)
_SEEDED = re.compile(r".*-s\d+")


def _mapping(config: dict, key: str, known=None) -> dict:
    return check_mapping(config.get(key) or None, key, known)


def grid_cells(grids: list[dict], budgets_s: list[float]) -> set[tuple]:
    """(N, K, regime, seed, budget_s) of every run of the instance grids (`budgets_s`: the section's)."""
    cells = set()
    for raw in grids:
        grid = InstanceGrid.from_mapping(raw)
        for budget in grid.budgets_s or budgets_s:
            cells |= {(n, grid.K, r, s, round(float(budget), 6)) for n in grid.N for r in grid.regimes
                      for s in grid.seeds}
    return cells


@dataclass(frozen=True)
class WorkflowSettings:
    """The `workflow:` section of a profile with what it needs from the others (model.size, the
    evaluation grid, grpo's training grid, figures.budget_s). Every field has a default so that a
    profile may omit the section."""

    model_sizes: tuple = ("tiny",)
    """Embedded base-model sizes pretrained (the first is model.size); one policy family each."""
    training_seeds: tuple = (0,)
    """GRPO seeds of every policy family (grpo.seed of the run's slice); the first names the plain run."""
    grpo_runs: tuple = tuple(DEFAULT_GRPO_RUNS.items())
    """(run name, overrides of grpo:) pairs: main (every family) + the Fig. 2 ablations."""
    prompt_study: tuple = ()
    """Prompt-length study grid as (key, value) pairs: N, K, regimes, seeds, max_tokens."""
    family_instances: tuple = ()
    """Instance grids the families other than main (and the base model) are evaluated on, at budget_s."""
    budget_s: float = 1.0
    """The fixed budget of the figures (figures.budget_s, else the largest evaluation budget)."""
    train_regimes: tuple = ()
    """Densities GRPO trains on (grpo.train_regimes): the other evaluated densities are unseen."""
    train_n_max: int | None = None
    """The largest N GRPO trains on (grpo.train_n)."""
    evaluation_regimes: tuple = ()
    """Every density of the evaluation grid."""
    rl_algorithms: tuple = ()
    """RL baselines the evaluation runs (evaluation.methods ∩ dqn, ppo): each is trained by the workflow."""
    rl_seeds: tuple = (0,)
    """Training seeds of the RL baselines (rl.seeds); the evaluation uses the first."""

    @classmethod
    def from_config(cls, config: dict | None) -> "WorkflowSettings":
        config = config or {}
        if not isinstance(config, dict):
            raise ConfigError(f"a config must be a mapping, got {type(config).__name__}")
        section = _mapping(config, "workflow", WORKFLOW_KEYS)
        llm = check_mapping(section.get("llm_evaluation") or None, "workflow.llm_evaluation", LLM_EVALUATION_KEYS)
        main_size = _mapping(config, "model").get("size", "tiny")
        sizes = [s for s in dict.fromkeys(section.get("model_sizes") or [main_size]) if s != main_size]
        seeds = list(section.get("training_seeds") or [0])
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
            raise ConfigError(f"workflow.training_seeds must be distinct integers >= 0, got {seeds}")
        runs = section.get("grpo_runs") or DEFAULT_GRPO_RUNS
        if not isinstance(runs, dict) or MAIN_RUN not in runs:
            raise ConfigError(f"workflow.grpo_runs must be a mapping that contains the '{MAIN_RUN}' run")
        for name in runs:
            if (name in DIRECT_RUNS or name == BASE_POLICY or str(name).startswith("size-") or _SEEDED.fullmatch(str(name))
                    or not str(name).replace("-", "").isalnum()):
                raise ConfigError(f"workflow.grpo_runs: run name {name!r} is reserved or not alphanumeric")
        # the main family's training grid: grpo: with main's overrides
        evaluation, grpo = _mapping(config, "evaluation"), {**_mapping(config, "grpo"), **dict(runs[MAIN_RUN] or {})}
        budgets = list(evaluation.get("budgets_s") or [1.0])
        budget = _mapping(config, "figures").get("budget_s")
        budget = float(budget if budget is not None else max(
            [b for g in evaluation.get("instances") or [] for b in (g.get("budgets_s") or [])] + budgets))
        eval_grids = list(evaluation.get("instances") or [])
        family_grids = llm.get("family_instances") or eval_grids
        family_grids = [family_grids] if isinstance(family_grids, dict) else list(family_grids)  # one grid or a list
        if not all(isinstance(g, dict) for g in family_grids):
            raise ConfigError("workflow.llm_evaluation.family_instances must be an instance grid or a list of them")
        families = [{k: v for k, v in g.items() if k not in ("budgets_s", "methods")} | {"budgets_s": [budget]}
                    for g in family_grids]
        methods = list(evaluation.get("methods") or [])
        settings = cls(
            model_sizes=(main_size, *sizes), training_seeds=tuple(seeds),
            grpo_runs=tuple((k, dict(v or {})) for k, v in runs.items()),
            prompt_study=tuple(dict(section.get("prompt_study") or {}).items()),
            family_instances=tuple(families), budget_s=budget,
            train_regimes=tuple(grpo.get("train_regimes") or ()),
            train_n_max=max(grpo["train_n"]) if grpo.get("train_n") else None,
            evaluation_regimes=tuple(dict.fromkeys(r for g in eval_grids for r in g.get("regimes") or [])),
            rl_algorithms=tuple(a for a in RL_ALGORITHMS if a in methods),
            rl_seeds=tuple(_mapping(config, "rl").get("seeds") or (0,)))
        if eval_grids:
            settings.check_family_grid(grid_cells(eval_grids, budgets))
        return settings

    def check_family_grid(self, evaluated: set[tuple]) -> None:
        """Every family-grid run must be a run of the baseline evaluation (same instance and budget):
        the ratio to the strongest classical method is paired by instance."""
        missing = sorted(grid_cells(list(self.family_instances), [self.budget_s]) - evaluated)
        if missing:
            shown = ", ".join(f"{r} N={n} K={k} seed {s} at {b:g} s" for n, k, r, s, b in missing[:3])
            raise ConfigError(f"workflow.llm_evaluation.family_instances: {len(missing)} run(s) that the baseline "
                              f"evaluation does not have ({shown}{', ...' if len(missing) > 3 else ''}); add them "
                              "to evaluation.instances (the policies are compared with the baselines per instance)")

    # ---------------------------------------------------------------- policy families and runs
    @property
    def main_size(self) -> str:
        return self.model_sizes[0]

    @property
    def families(self) -> dict[str, str]:
        """Policy family -> model size: main (model.size) and size-<size> for every other size."""
        return {MAIN_RUN: self.main_size, **{f"size-{s}": s for s in self.model_sizes[1:]}}

    def run_name(self, family: str, seed: int) -> str:
        return family if seed == self.training_seeds[0] else f"{family}-s{seed}"

    @property
    def family_runs(self) -> list[tuple[str, str, int]]:
        """(run, family, training seed) of every seeded GRPO run, family by family."""
        return [(self.run_name(f, seed), f, seed) for f in self.families for seed in self.training_seeds]

    @property
    def main_overrides(self) -> dict:
        """The `main` entry of grpo_runs: overrides of grpo: shared by every family and seed."""
        return dict(self.grpo_runs)[MAIN_RUN]

    @property
    def dynamics_runs(self) -> list[str]:
        """Runs of figure d: main (first seed) and its ablations (in config order)."""
        return [name for name, _ in self.grpo_runs]

    @property
    def ablation_runs(self) -> list[tuple[str, dict]]:
        return [(name, overrides) for name, overrides in self.grpo_runs if name != MAIN_RUN]

    @property
    def all_runs(self) -> list[str]:
        """Every GRPO run the workflow trains."""
        return list(dict.fromkeys([*self.dynamics_runs, *DIRECT_RUNS, *(run for run, _, _ in self.family_runs)]))

    def run_size(self, run: str) -> str:
        return next((self.families[f] for r, f, _ in self.family_runs if r == run), self.main_size)

    def run_seed(self, run: str) -> int:
        """grpo.seed of a run: its training seed (single-seed runs: the first)."""
        return next((seed for r, _, seed in self.family_runs if r == run), self.training_seeds[0])

    @property
    def unseen_regimes(self) -> list[str]:
        """Evaluated densities GRPO never trained on (empty when train_regimes is unknown)."""
        return [r for r in self.evaluation_regimes if self.train_regimes and r not in self.train_regimes]

    def llm_policies(self) -> dict[str, dict]:
        """What the LLM evaluation runs, run -> {policy (family), train_seed, model_size, grid}: the
        main family on the evaluation grid, the other families and the base model on the family grid."""
        out = {run: {"policy": family, "train_seed": seed, "model_size": self.families[family],
                     "grid": "evaluation" if family == MAIN_RUN else "family"}
               for run, family, seed in self.family_runs}
        out[BASE_POLICY] = {"policy": BASE_POLICY, "train_seed": None, "model_size": self.main_size, "grid": "family"}
        return out

    def llm_models(self, paths: Paths) -> dict[str, str]:
        """Run -> the model directory the LLM evaluation loads (base: the main size's base model)."""
        return {run: str(paths.base_model(self.main_size) if run == BASE_POLICY else paths.final_model(run))
                for run in self.llm_policies()}

    def llm_model_done(self, paths: Paths) -> list:
        """The completion markers of every model the LLM evaluation loads (its rule inputs)."""
        return [paths.base_model_done(self.main_size), *(paths.final_model_done(run) for run, _, _ in self.family_runs)]

    def start_model(self, run: str, paths: Paths):
        """The model a GRPO run starts from: the SFT model (direct-sft), else the base model of its size."""
        return paths.sft_dir if run == "direct-sft" else paths.base_model(self.run_size(run))

    def start_model_done(self, run: str, paths: Paths):
        return paths.sft_done if run == "direct-sft" else paths.base_model_done(self.run_size(run))

    # ---------------------------------------------------------------- RL baselines
    @property
    def rl_runs(self) -> list[tuple[str, int]]:
        """(algorithm, seed) of every RL baseline the workflow trains."""
        return [(a, seed) for a in self.rl_algorithms for seed in self.rl_seeds]

    def rl_models(self, paths: Paths) -> dict[str, str]:
        """Method -> the trained model the evaluation runs it with (its first seed)."""
        return {a: str(paths.rl_model(a, self.rl_seeds[0])) for a in self.rl_algorithms}


__all__ = ["WorkflowSettings", "DEFAULT_GRPO_RUNS", "DIRECT_RUNS", "MAIN_RUN", "BASE_POLICY", "POLICY_SECTIONS",
           "grid_cells"]
