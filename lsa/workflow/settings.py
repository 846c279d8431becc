"""The one validation door for profiles (`check_profile`: every section built, every GRPO run and
model size variant too) and what the workflow trains and evaluates (WorkflowSettings: policy
families x training seeds, GRPO runs, study grids), built from the validated sections.

Policy families are what a figure compares: `main` (model.size) and `size-<size>` for every other
size of workflow.model_sizes; each is trained once per training seed. Run names: `<family>` for the
first seed, `<family>-s<seed>` for the others. The Fig. 2 ablations and the direct runs are single-seed.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from lsa.config import section
from lsa.errors import ConfigError
from lsa.methods.evaluate import EvaluationConfig, InstanceGrid, check_evaluation
from lsa.policy.cold_start import ColdStartConfig
from lsa.policy.config import GRPOConfig, ModelConfig, PolicyConfig, direct_variant, policy_config
from lsa.policy.lora_grpo import LORA_RUN, LoraGRPOConfig, lora_grpo_config
from lsa.rl.config import ALGORITHMS as RL_ALGORITHMS
from lsa.rl.config import RLConfig, rl_config
from lsa.sim.params import NetworkConfig, network_config
from lsa.workflow.best_known import BestKnownConfig, best_known_config
from lsa.workflow.paths import Paths
from lsa.workflow.resources import training_processes
from lsa.workflow.sections import DEFAULT_GRPO_RUNS, FigureSettings, WorkflowSection, fixed_budget_s

#: the direct-paradigm runs of the cold-start figure (e): GRPO from the base model, and after the
#: SFT warm start; single-seed like the ablations
DIRECT_RUNS = ("direct-cold", "direct-sft")
#: the main policy family (model.size) and its first-seed run
MAIN_RUN = "main"
#: the untrained base model of the main size, evaluated as the "before GRPO" point of figures g, h
BASE_POLICY = "base"
#: the primitives-only arm's GRPO run (and its base model's name): model.vocabulary = primitives,
#: trained like main (first training seed), evaluated by the primitives_evaluation stage
PRIMITIVES_RUN = "primitives"
#: sections every learning stage reads (the network decides the training instances)
POLICY_SECTIONS = ("network", "model")
_SEEDED = re.compile(r".*-s\d+")


def grid_cells(grids: list[dict], budgets_s: list[float]) -> set[tuple]:
    """(N, K, regime, seed, budget_s) of every run of the instance grids (`budgets_s`: the section's)."""
    cells = set()
    for raw in grids:
        grid = InstanceGrid.from_mapping(raw)
        for budget in grid.budgets_s or budgets_s:
            cells |= {(n, grid.K, r, s, round(float(budget), 6)) for n in grid.N for r in grid.regimes
                      for s in grid.seeds}
    return cells


def budgets_by_method(evaluation: EvaluationConfig | None) -> dict[str, list[float]]:
    """Method -> every budget the evaluation grid runs it at (lsa-code: every grid's budgets, as the
    LLM evaluation runs it on the whole grid); no evaluation section: the section's default budgets."""
    if evaluation is None:
        return {"*": list(EvaluationConfig.__dataclass_fields__["budgets_s"].default_factory())}
    out: dict[str, list[float]] = {}
    for grid in evaluation.grids:
        budgets = list(grid.budgets_s or evaluation.budgets_s)
        for method in [*(grid.methods or evaluation.methods), "lsa-code"]:
            out.setdefault(method, []).extend(budgets)
    return out


@dataclass(frozen=True)
class WorkflowSettings:
    """The `workflow:` section of a profile with what it needs from the others (model.size, the
    evaluation grid, grpo's training grid, figures.budget_s), built from the validated sections
    (`check_profile`). Every field has a default so that a profile may omit the section."""

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
    """The fixed budget of the figures (`sections.fixed_budget_s`)."""
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
    primitives_instances: tuple = ()
    """Instance grids (with budgets_s) of the primitives-only arm; empty: the arm is off."""
    primitives_census: int = 8
    """Programs sampled per evaluated instance for the arm's census of called net methods."""

    @classmethod
    def from_config(cls, config: dict | None) -> "WorkflowSettings":
        """The settings of a loaded profile: `check_profile(config).settings`."""
        return check_profile(config).settings

    @classmethod
    def from_sections(cls, workflow: WorkflowSection, model: ModelConfig, evaluation: EvaluationConfig | None,
                      grpo: GRPOConfig, figures: FigureSettings, rl: RLConfig,
                      check_families: bool = True) -> "WorkflowSettings":
        """From validated sections; `grpo` is the main run's (grpo: with main's overrides).
        `check_families`: the family grid must be runs of the evaluation (a whole profile; a stage's
        slice, such as the evaluation stage's, has no workflow or figures section to check)."""
        runs = workflow.runs
        for name in runs:
            if (name in DIRECT_RUNS or name in (BASE_POLICY, LORA_RUN, PRIMITIVES_RUN) or str(name).startswith("size-") or _SEEDED.fullmatch(str(name))
                    or not str(name).replace("-", "").isalnum()):
                raise ConfigError(f"workflow.grpo_runs: run name {name!r} is reserved or not alphanumeric")
        sizes = [s for s in dict.fromkeys(workflow.model_sizes or [model.size]) if s != model.size]
        budget = fixed_budget_s(figures.budget_s, budgets_by_method(evaluation))
        eval_grids = list(evaluation.instances) if evaluation is not None else []
        family_grids = workflow.plan.grids or eval_grids
        families = [{k: v for k, v in g.items() if k not in ("budgets_s", "methods")} | {"budgets_s": [budget]}
                    for g in family_grids]
        methods = list(evaluation.methods) if evaluation is not None else []
        arm = workflow.primitives_arm
        settings = cls(
            model_sizes=(model.size, *sizes), training_seeds=tuple(workflow.training_seeds),
            grpo_runs=tuple(runs.items()), prompt_study=tuple(workflow.prompt_study.items()),
            family_instances=tuple(families), budget_s=budget, train_regimes=tuple(grpo.train_regimes),
            train_n_max=max(grpo.train_n),
            evaluation_regimes=tuple(dict.fromkeys(r for g in eval_grids for r in g.get("regimes") or [])),
            rl_algorithms=tuple(a for a in RL_ALGORITHMS if a in methods), rl_seeds=tuple(rl.seeds),
            primitives_instances=tuple(dict(g) for g in arm.grids) if arm.enabled else (),
            primitives_census=arm.census_samples)
        if eval_grids and check_families:
            evaluated = grid_cells(eval_grids, list(evaluation.budgets_s))
            settings.check_family_grid(evaluated)
            settings.check_primitives_grid(evaluated)
        elif settings.primitives_instances and check_families:
            raise ConfigError("workflow.primitives: the arm needs an evaluation section (its instances are paired "
                              "with the main policy's and the best-known utilities)")
        return settings

    def check_primitives_grid(self, evaluated: set[tuple]) -> None:
        """Every run of the primitives arm must be a run of the evaluation grid (paired with main and
        the best-known utilities of the same instances)."""
        self._check_within(self.primitives_instances, evaluated, "workflow.primitives.instances",
                           "the evaluation grid", "the arm is compared with the main policy and the "
                           "best-known utilities per instance")

    @property
    def primitives(self) -> bool:
        """Whether the workflow trains and evaluates the primitives-only arm."""
        return bool(self.primitives_instances)

    def check_family_grid(self, evaluated: set[tuple]) -> None:
        """Every family-grid run must be a run of the baseline evaluation (same instance and budget):
        the ratio to the strongest classical method is paired by instance."""
        self._check_within(self.family_instances, evaluated, "workflow.llm_evaluation.family_instances",
                           "the baseline evaluation", "add them to evaluation.instances (the policies are "
                           "compared with the baselines per instance)")

    def _check_within(self, instances, evaluated: set[tuple], key: str, grid: str, why: str) -> None:
        """One line naming the runs of `instances` (at the figures' budget) that `evaluated` lacks."""
        missing = sorted(grid_cells(list(instances), [self.budget_s]) - evaluated)
        if missing:
            shown = ", ".join(f"{r} N={n} K={k} seed {s} at {b:g} s" for n, k, r, s, b in missing[:3])
            raise ConfigError(f"{key}: {len(missing)} run(s) that {grid} does not have "
                              f"({shown}{', ...' if len(missing) > 3 else ''}); {why}")

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


# ====================================================================== the one validation door
@dataclass(frozen=True)
class Profile:
    """Every section of a profile, validated (`check_profile`); `evaluation` is None when absent."""

    network: NetworkConfig
    evaluation: EvaluationConfig | None
    policy: PolicyConfig
    rl: RLConfig
    figures: FigureSettings
    workflow: WorkflowSection
    best_known: BestKnownConfig
    cold_start: ColdStartConfig | None
    settings: WorkflowSettings
    lora_grpo: LoraGRPOConfig | None = None
    """The LoRA-GRPO stage of a real chat model; None when the section is absent or enabled: false."""


def profile_sections() -> tuple[str, ...]:
    """The top-level keys a profile may have (the policy's: the fields of `PolicyConfig`)."""
    return ("network", "evaluation", *(f.name for f in dataclasses.fields(PolicyConfig)), "rl", "figures", "workflow",
            "best_known", "cold_start", "lora_grpo")


def check_profile(config: dict | None) -> Profile:
    """Build every section of a loaded profile, and every GRPO run's and model size's variant of
    `grpo:` / `model:` (each run's batch must split over the GPUs of a GRPO job, workflow.gpus.grpo),
    so that any bad key or value fails here with one `ConfigError` naming it —
    before the workflow writes a slice or a stage starts. Sections the profile omits take their
    defaults (`evaluation:` has none: it is then None)."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"a config must be a mapping, got {type(config).__name__}")
    known = profile_sections()
    unknown = sorted(str(k) for k in config if k not in known)
    if unknown:
        raise ConfigError(f"unknown section(s) in the profile: {', '.join(unknown)} (known: {', '.join(known)})")
    network = network_config(config)
    evaluation = check_evaluation(config) if config.get("evaluation") is not None else None
    policy = policy_config(config)
    rl, figures, workflow = rl_config(config), section(config, FigureSettings), section(config, WorkflowSection)
    raw_grpo, raw_model = dict(config.get("grpo") or {}), dict(config.get("model") or {})
    runs = {}
    for run, overrides in workflow.runs.items():          # every GRPO run's settings, as its stage builds them
        runs[run] = _variant(GRPOConfig, raw_grpo, overrides, f"workflow.grpo_runs.{run}")
    direct = direct_variant(runs["main"], policy.direct)
    processes = training_processes({"workflow": {"gpus": workflow.gpus}})   # GPUs (processes) of one GRPO job
    for run, grpo in [*runs.items(), ("direct-cold, direct-sft", direct)]:
        try:
            grpo.per_process_batch(processes)
        except ConfigError as exc:
            raise ConfigError(f"workflow.grpo_runs.{run}: {exc}") from None
    for size in workflow.model_sizes or []:
        _variant(ModelConfig, raw_model, {"size": size}, "workflow.model_sizes")
    # the family grid is checked against the evaluation where the config is a profile (it has a
    # workflow section), not in a stage's slice (the evaluation stage's has none)
    settings = WorkflowSettings.from_sections(workflow, policy.model, evaluation, runs["main"], figures, rl,
                                              check_families="workflow" in config)
    cold_start = section(config, ColdStartConfig) if config.get("cold_start") is not None else None
    lora = _lora_grpo(config)
    return Profile(network, evaluation, policy, rl, figures, workflow, best_known_config(config), cold_start, settings,
                   lora)


def _lora_grpo(config: dict) -> LoraGRPOConfig | None:
    """The `lora_grpo:` section (None: absent or off) with its evaluation checked like any evaluation
    (regimes the network knows, sizes, methods, method_params)."""
    from lsa.workflow.lora import evaluation_config

    lora = lora_grpo_config(config)
    if lora is not None:
        try:
            evaluation_config(config, "adapter", lora)
        except ConfigError as exc:
            raise ConfigError(f"lora_grpo.evaluation: {' '.join(str(exc).split())}") from None
    return lora


def _variant(cls, raw: dict, overrides: dict, where: str):
    try:
        return cls.from_mapping({**raw, **overrides})
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


__all__ = ["WorkflowSettings", "Profile", "check_profile", "profile_sections", "DEFAULT_GRPO_RUNS", "DIRECT_RUNS",
           "MAIN_RUN", "BASE_POLICY", "PRIMITIVES_RUN", "POLICY_SECTIONS", "grid_cells", "budgets_by_method"]
