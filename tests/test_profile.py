"""The one validation door for profiles (`check_profile`): every section and every GRPO run's and
model size's variant is built, so a bad key or value fails with one line naming it — in Python, in
`evaluate()` itself (notebooks call it directly), and at `snakemake -n` before anything is written."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lsa.config import load_yaml
from lsa.errors import ConfigError
from lsa.workflow.paths import PROFILES
from lsa.workflow.sections import fixed_budget_s
from lsa.workflow.settings import WorkflowSettings, check_profile

REPO = Path(__file__).resolve().parent.parent


def profile(name: str = "smoke") -> dict:
    return load_yaml(REPO / "config" / f"{name}.yaml")


@pytest.mark.parametrize("name", PROFILES)
def test_every_shipped_profile_passes(name):
    checked = check_profile(profile(name))
    assert checked.settings == WorkflowSettings.from_config(profile(name))
    assert checked.policy.grpo.validation_every >= 1


BAD = [
    (lambda c: c["grpo"].update(learning_rate=-1), "'grpo': learning_rate must be > 0"),
    (lambda c: c["grpo"].update(lerning_rate=0.1), "unknown key(s) in config section 'grpo': lerning_rate"),
    (lambda c: c.update(grop={}), "unknown section(s) in the profile: grop"),
    (lambda c: c["workflow"]["grpo_runs"].update(G4={"num_generations": 1}), "workflow.grpo_runs.G4"),
    (lambda c: c["workflow"]["grpo_runs"].update(G4={"nope": 1}), "workflow.grpo_runs.G4: unknown key"),
    (lambda c: c["workflow"].update(model_sizes=["tiny", "huge"]), "size must be one of"),
    (lambda c: c["workflow"]["prompt_study"].update(K=0), "workflow.prompt_study"),
    (lambda c: c["figures"].update(budget_s=-2.0), "'figures': budget_s"),
    (lambda c: c["rl"].update(gamma="x"), "'rl': gamma"),
    (lambda c: c["sft"].update(instance_n=[100]), "'sft'"),
    (lambda c: c["evaluation"].update(method_params={"greedy": {"nope": 1}}), "nope"),
    (lambda c: c["evaluation"]["instances"][0].update(regimes=["nowhere"]), "unknown regime"),
]


@pytest.mark.parametrize("change, message", BAD)
def test_a_bad_key_or_value_is_one_error_naming_it(change, message):
    cfg = copy.deepcopy(profile())
    change(cfg)
    with pytest.raises(ConfigError) as exc:
        check_profile(cfg)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_evaluate_itself_checks_method_params_sizes_and_regimes():
    """notebooks/01_evaluate_baselines.ipynb calls evaluate() directly: the checks the CLI used to
    make alone run there too, before any instance is generated."""
    from lsa.methods.evaluate import evaluate
    grid = {"N": [5], "K": 2, "regimes": ["dense"], "seeds": [0]}
    for evaluation, message in [
        ({"instances": [grid], "methods": ["greedy"], "method_params": {"greedy": {"nope": 1}}}, "nope"),
        ({"instances": [{**grid, "N": [10 ** 11]}], "methods": ["greedy"]}, "N = "),
        ({"instances": [{**grid, "regimes": ["nowhere"]}], "methods": ["greedy"]}, "unknown regime"),
    ]:
        with pytest.raises(ConfigError, match=message):
            evaluate({"evaluation": evaluation}, progress=False)
    with pytest.raises(Exception, match="nosuch"):
        evaluate({"evaluation": {"instances": [grid]}}, methods=["nosuch"], progress=False)


def test_the_figures_budget_is_one_rule_for_profile_and_results():
    assert fixed_budget_s(3.0, {"a": [1.0]}) == 3.0
    assert fixed_budget_s(None, {"a": [0.5, 1.0, 2.0], "b": [1.0, 2.0, 5.0]}) == 2.0   # largest every method ran
    assert fixed_budget_s(None, {"a": [1.0], "b": [2.0]}) == 2.0                        # none common: the largest
    cfg = profile("default")
    cfg["figures"]["budget_s"] = None
    # every method runs N = 2000 at 0.25 ... 5 s: 5 s (the family grid must then be one with 5 s runs)
    cfg["workflow"]["llm_evaluation"]["family_instances"] = cfg["evaluation"]["instances"][2]
    assert check_profile(cfg).settings.budget_s == 5.0
    # only two methods run the anytime grid: 2 s is the largest budget every method ran (the old
    # profile-side rule, the largest budget of all, said 5 s while the figures said 2 s)
    cfg["evaluation"]["instances"][2]["methods"] = ["greedy", "local-search"]
    cfg["workflow"]["llm_evaluation"]["family_instances"] = cfg["evaluation"]["instances"][1]
    assert check_profile(cfg).settings.budget_s == 2.0


def _snakemake(cwd: Path, profile_name: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", "--config",
                           f"profile={profile_name}"], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("change, key", [
    (lambda c: c["grpo"].update(learning_rate=-1), "learning_rate"),
    (lambda c: c["grpo"].update(lerning_rate=0.1), "lerning_rate"),
])
def test_a_bad_profile_fails_the_dry_run_with_one_line_and_writes_nothing(tmp_path, change, key):
    cfg = profile()
    change(cfg)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "bad.yaml").write_text(yaml.safe_dump(cfg))
    res = _snakemake(tmp_path, "bad")
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and key in lines[0] and "grpo" in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]   # no results/, no slices, no .snakemake


def test_any_mutated_profile_is_accepted_or_one_lsa_error():
    """A value anywhere in a profile replaced by YAML junk: check_profile accepts it or raises an
    LSAError (the CLI's and the Snakefile's one line), never anything else."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from lsa.errors import LSAError
    base = profile()
    leaves = [(s, k) for s, v in base.items() if isinstance(v, dict) for k in v]
    junk = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=6), st.lists(st.integers(-5, 5), max_size=3),
                     st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(where=st.sampled_from(leaves), value=junk)
    def prop(where, value):
        cfg = copy.deepcopy(base)
        cfg[where[0]][where[1]] = value
        try:
            check_profile(cfg)
        except LSAError as exc:
            assert "\n" not in str(exc)

    prop()
