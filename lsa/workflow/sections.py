"""The workflow's own profile sections, each a self-validating `Section`: `workflow:` (with its
`prompt_study` and `llm_evaluation` parts) and `figures:`; and `fixed_budget_s`, the one rule that
decides the figures' fixed budget (from a profile before anything ran, or from the results after).
"""
from __future__ import annotations

from dataclasses import dataclass

from lsa.config import Section, option
from lsa.methods.evaluate import InstanceGrid
from lsa.workflow.resources import rule_gpus, rule_runtimes

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


@dataclass(frozen=True)
class PromptStudy(Section):
    """`workflow.prompt_study`: the prompt-length study grid (figure f)."""

    SECTION = "workflow.prompt_study"

    N: list[int] = option([10, 100, 1000, 2000], "Numbers of links.")
    K: int = option(8, "Number of channels.")
    regimes: list[str] = option(["dense"], "Density regimes.")
    seeds: list[int] = option([0], "Instance seeds.")
    max_tokens: int | None = option(None, "Token budget of the hierarchical prompt (null: model.prompt_max_tokens).")
    naive_max_n: int | None = option(None, "The naive full prompt only up to this N (it grows with N; null: every N).")

    def check(self) -> None:
        if not self.N or not self.regimes or not self.seeds or min(self.N) < 1 or self.K < 1:
            self.fail("N, regimes and seeds must be non-empty, N and K positive")
        if self.max_tokens is not None and self.max_tokens < 32:
            self.fail(f"max_tokens must be >= 32 or null, got {self.max_tokens}")


def _grid_list(value) -> list[dict] | None:
    """An option that holds one instance grid or a list of them, as a list (None when unset)."""
    if value is None:
        return None
    return [value] if isinstance(value, dict) else list(value)


def _check_grids(section: Section, field: str, ignored: tuple[str, ...]) -> None:
    """Each grid of `section.<field>` must be an instance grid (keys in `ignored` are checked elsewhere)."""
    for grid in section.grids or []:
        if not isinstance(grid, dict):
            section.fail(f"{field} must be an instance grid or a list of them")
        InstanceGrid.from_mapping({k: v for k, v in grid.items() if k not in ignored}, f"{section.SECTION}.{field}")


@dataclass(frozen=True)
class LLMEvaluationPlan(Section):
    """`workflow.llm_evaluation`: where the policy families other than main are evaluated."""

    SECTION = "workflow.llm_evaluation"

    family_instances: list[dict] | dict | None = option(
        None, "Instance grid (or list of grids) of the other families and the base model, run at figures.budget_s "
              "(null: the evaluation grid); every run must be one the baseline evaluation has.")

    @property
    def grids(self) -> list[dict] | None:
        return _grid_list(self.family_instances)

    def check(self) -> None:
        _check_grids(self, "family_instances", ("budgets_s", "methods"))


@dataclass(frozen=True)
class PrimitivesArm(Section):
    """`workflow.primitives`: the primitives-only arm (issue 19's ablation). A base model pretrained
    with `model.vocabulary: primitives` (same size and pretraining as the main policy), trained with
    GRPO exactly like `main` (one training seed, the first), evaluated as `lsa-code` on `instances`
    (every run must be one of the evaluation grid: paired with main and the best-known utilities)."""

    SECTION = "workflow.primitives"

    enabled: bool = option(False, "Train and evaluate the primitives-only arm (rules pretrain_primitives, "
                                  "grpo_primitives, primitives_evaluation).")
    instances: list[dict] | dict | None = option(
        None, "Instance grid (or list of grids, each with its budgets_s) the arm is evaluated on (required when "
              "enabled); every run must be one the baseline evaluation has.")
    census_samples: int = option(8, "Programs sampled from the trained arm per evaluated instance (at budget-free "
                                    "generation) for the census of the net methods its programs call.")

    @property
    def grids(self) -> list[dict] | None:
        return _grid_list(self.instances)

    def check(self) -> None:
        if self.enabled and not self.grids:
            self.fail("enabled needs instances: the grid (with budgets_s) the arm is evaluated on")
        _check_grids(self, "instances", ("methods",))
        if not 0 <= self.census_samples <= 64:
            self.fail(f"census_samples must be in [0, 64], got {self.census_samples}")


@dataclass(frozen=True)
class WorkflowSection(Section):
    """`workflow:`: what the Snakefile trains and evaluates beyond `evaluation:`."""

    SECTION = "workflow"

    model_sizes: list[str] | None = option(None, "Embedded base models pretrained (the first is model.size); "
                                                 "one policy family each. null: [model.size].")
    training_seeds: list[int] = option([0], "GRPO seeds of every policy family; the first names the plain run.")
    grpo_runs: dict[str, dict] | None = option(None, "Run -> overrides of grpo: (must contain main). null: main and "
                                                     "the Fig. 2 ablations.")
    prompt_study: dict = option({}, "The prompt-length study grid (figure f), see PromptStudy.")
    llm_evaluation: dict = option({}, "Where the families other than main are evaluated, see LLMEvaluationPlan.")
    evaluation_shards: int = option(1, "Jobs the baseline evaluation is split into (shards of similar estimated cost; "
                                       "1: one job, as on one machine).")
    llm_evaluation_shards: int = option(1, "Jobs the LLM evaluation's policy runs are split into (a run stays in one job).")
    primitives: dict = option({}, "The primitives-only arm (no complete search in the vocabulary), see PrimitivesArm.")
    gpus: dict = option({}, "Rule -> GPUs per job (lsa.workflow.resources.GPU_RULES; absent: 0).")
    runtime_min: dict = option({}, "Rule -> minutes per job a cluster is asked for (absent: the default).")

    def check(self) -> None:
        seeds = self.training_seeds
        if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
            self.fail(f"training_seeds must be distinct integers >= 0, got {seeds}")
        if self.grpo_runs is not None and "main" not in self.grpo_runs:
            self.fail("grpo_runs must be a mapping that contains the 'main' run")
        PromptStudy.from_mapping(self.prompt_study)
        LLMEvaluationPlan.from_mapping(self.llm_evaluation)
        PrimitivesArm.from_mapping(self.primitives)
        if not 1 <= self.evaluation_shards <= 10_000 or not 1 <= self.llm_evaluation_shards <= 1000:
            self.fail("need evaluation_shards in [1, 10000] and llm_evaluation_shards in [1, 1000]")
        section = {"workflow": {"gpus": self.gpus, "runtime_min": self.runtime_min}}
        rule_gpus(section), rule_runtimes(section)     # one line naming the rule or value

    @property
    def runs(self) -> dict[str, dict]:
        return {k: dict(v or {}) for k, v in (self.grpo_runs or DEFAULT_GRPO_RUNS).items()}

    @property
    def plan(self) -> LLMEvaluationPlan:
        return LLMEvaluationPlan.from_mapping(self.llm_evaluation)

    @property
    def primitives_arm(self) -> PrimitivesArm:
        return PrimitivesArm.from_mapping(self.primitives)


@dataclass(frozen=True)
class FigureSettings(Section):
    """The `figures:` section of a profile (stored with the results in results/config/figures.yaml)."""

    SECTION = "figures"

    budget_s: float | None = option(None, "Fixed budget of figures a, c, g, h and the table (null: the largest "
                                          "budget every method ran).")
    anytime_n: int | None = option(None, "N of the anytime figure b (null: the largest N evaluated at several budgets).")
    exact_max_n: int = option(20, "Figure c uses instances with N <= this (where `exact` runs).")
    table_n: int | None = option(None, "N of the throughput table and the headline claims (null: the largest N).")
    smoothing_steps: int = option(10, "Rolling-mean window (steps) of the training curves d and e.")
    dpi: int = option(200, "Resolution of the PNG files.")

    def check(self) -> None:
        if self.budget_s is not None and self.budget_s <= 0:
            self.fail(f"budget_s must be > 0 or null, got {self.budget_s}")
        if self.exact_max_n < 1 or self.smoothing_steps < 1 or not 50 <= self.dpi <= 1200:
            self.fail("need exact_max_n >= 1, smoothing_steps >= 1 and dpi in [50, 1200]")


def fixed_budget_s(budget_s: float | None, budgets_by_method: dict) -> float:
    """The figures' fixed budget: `budget_s` (figures.budget_s) when set, else the largest budget
    every method ran (`budgets_by_method`: method -> its budgets), else the largest budget of all.
    The workflow decides it from the profile (to plan the family grid), the figures from the results."""
    if budget_s is not None:
        return float(budget_s)
    sets = [{round(float(b), 6) for b in budgets} for budgets in budgets_by_method.values()]
    if not sets or not any(sets):
        raise ValueError("no budgets to choose the figures' budget from")
    common = set.intersection(*sets)
    return float(max(common) if common else max(set.union(*sets)))


__all__ = ["DEFAULT_GRPO_RUNS", "PromptStudy", "LLMEvaluationPlan", "PrimitivesArm", "WorkflowSection", "FigureSettings",
           "fixed_budget_s"]
