"""Bad input never leaks a traceback (SPEC §4, §5): every command answers a bad argument, file or
config with one line on stderr naming the problem and exit status 2, leaves no partial file and
does not hang; the loaders raise only `LSAError` whatever Hypothesis feeds them."""
import dataclasses
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lsa.cli import main
from lsa.config import Section, load_yaml
from lsa.errors import LSAError
from lsa.methods.evaluate import EvaluationConfig, InstanceGrid
from lsa.policy.config import DirectConfig, GRPOConfig, InferenceConfig, ModelConfig, PretrainConfig, SFTConfig
from lsa.sim.formats import load_npz, read_dimacs, save_npz
from lsa.sim.generate import generate_ppp
from lsa.sim.network import MAX_LINKS, check_size
from lsa.sim.params import NetworkConfig
from lsa.workflow.sections import FigureSettings, LLMEvaluationPlan, PromptStudy, WorkflowSection

EVAL_OK = "evaluation:\n  instances: [{N: [5], K: 2, regimes: [dense], seeds: [0]}]\n  methods: [random]\n  budgets_s: [0.05]\n"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.npz"
    save_npz(generate_ppp(30, 3, "dense", seed=0), path)
    return path


def _variant(good: Path, out: Path, **changes) -> Path:
    with np.load(good) as data:
        arrays = {key: data[key] for key in data.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key, None)
        else:
            arrays[key] = value
    np.savez(out, **arrays)
    return out


def _write(path: Path, text: str | bytes) -> Path:
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def _cases(good: Path, tmp: Path) -> dict:
    """name -> (argv, a word the error line must contain)"""
    with np.load(good) as data:
        direct, gain = data["direct_gain"], data["cross_gain"]
    solve = ["--method", "greedy", "--budget", "0.2"]
    ev = lambda name, text: str(_write(tmp / f"{name}.yaml", text))  # noqa: E731
    grid = "  instances: [{N: [5], K: 2, regimes: [dense], seeds: [0]}]\n"
    return {
        # instances (each through `solve`)
        "meta not a JSON object": (["solve", _variant(good, tmp / "m1.npz", meta=np.array("[1, 2]")), *solve], "meta"),
        "meta a number": (["solve", _variant(good, tmp / "m2.npz", meta=np.array("3")), *solve], "meta"),
        "meta not text": (["solve", _variant(good, tmp / "m3.npz", meta=np.arange(3)), *solve], "meta"),
        "meta deeply nested": (["solve", _variant(good, tmp / "m4.npz", meta=np.array("[" * 100000)), *solve], "meta"),
        "complex direct_gain": (["solve", _variant(good, tmp / "c.npz", direct_gain=direct.astype(complex)), *solve], "direct_gain"),
        "string direct_gain": (["solve", _variant(good, tmp / "s.npz", direct_gain=direct.astype(str)), *solve], "direct_gain"),
        "string K": (["solve", _variant(good, tmp / "k.npz", K=np.array("3")), *solve], "'K'"),
        "K too large": (["solve", _variant(good, tmp / "k2.npz", K=np.array(10**12)), *solve], "'K'"),
        "string cross_gain": (["solve", _variant(good, tmp / "g.npz", cross_gain=gain.astype(str)), *solve], "cross_gain"),
        "NaN cross_gain": (["solve", _variant(good, tmp / "n.npz", cross_gain=gain * np.nan), *solve], "NaN"),
        "missing key": (["solve", _variant(good, tmp / "x.npz", cross_row=None), *solve], "cross_row"),
        "not a zip": (["solve", _write(tmp / "z.npz", b"garbage"), *solve], "not a valid"),
        "huge declared array": (["solve", _lying_npz(good, tmp / "big.npz"), *solve], "N ="),
        # DIMACS
        "p edge 100000000000 1": (["generate", "--dimacs", _write(tmp / "h.col", "p edge 100000000000 1\ne 1 2\n"),
                                   "--k", "3", "-o", tmp / "o.npz"], "100000000000"),
        "edge out of range": (["generate", "--dimacs", _write(tmp / "e.col", "p edge 2 1\ne 1 5\n"), "--k", "2",
                               "-o", tmp / "o.npz"], "outside"),
        "binary DIMACS": (["generate", "--dimacs", _write(tmp / "b.col", b"\xff\xfe\x00"), "--k", "2",
                           "-o", tmp / "o.npz"], "DIMACS"),
        # arguments
        "--k 10000000000": (["generate", "--n", "10", "--k", "10000000000", "-o", tmp / "o.npz"], "--k"),
        "--n too large for memory": (["generate", "--n", "9000000", "--k", "1000", "-o", tmp / "o.npz"], "GiB"),
        "output inside /proc": (["generate", "--n", "10", "--k", "2", "-o", "/proc/lsa-test.npz"], "/proc"),
        "output is a directory": (["generate", "--n", "10", "--k", "2", "-o", tmp], "directory"),
        "--budget inf": (["solve", good, "--method", "greedy", "--budget", "inf"], "--budget"),
        "--budget nan": (["solve", good, "--method", "greedy", "--budget", "nan"], "--budget"),
        "--seed -1": (["solve", good, *solve, "--seed", "-1"], "--seed"),
        "--threads 0": (["solve", good, *solve, "--threads", "0"], "--threads"),
        "--threads 100000": (["solve", good, *solve, "--threads", "100000"], "--threads"),
        "--save-assignment is a directory": (["solve", good, *solve, "--save-assignment", tmp], "directory"),
        "unknown method": (["solve", good, "--method", "nope", "--budget", "1"], "unknown method"),
        "exec --timeout inf": (["exec", _write(tmp / "p.py", "def assign(net, rng):\n    return 0\n"), good,
                                "--timeout", "inf"], "--timeout"),
        "exec program is a directory": (["exec", tmp, good], "program"),
        "exec without a program": (["exec"], "program"),
        "serialize --max-tokens -1": (["serialize", good, "--max-tokens", "-1"], "--max-tokens"),
        "serialize --tokenizer not a tokenizer": (["serialize", good, "--tokenizer", tmp], "--tokenizer"),
        "figures: missing results": (["figures", "--results", tmp / "none"], "results"),
        "figures: output in /proc": (["figures", "--results", tmp, "--figures", "/proc/lsa-figs"], "/proc"),
        "pretrain --max-steps -5": (["pretrain", "--config", ev("p", "model: {}\n"), "--output", tmp / "m",
                                     "--max-steps", "-5"], "--max-steps"),
        "pretrain output in /proc": (["pretrain", "--config", ev("p2", "model: {}\n"), "--output", "/proc/m"], "/proc"),
        "train unknown --set key": (["train", "--config", ev("t", "model: {}\n"), "--output", tmp / "r",
                                     "--set", "nope=1"], "nope"),
        "train --set wrong type": (["train", "--config", ev("t2", "model: {}\n"), "--output", tmp / "r",
                                    "--set", "max_steps=abc"], "max_steps"),
        "train --set broken YAML": (["train", "--config", ev("t3", "model: {}\n"), "--output", tmp / "r",
                                     "--set", "max_steps=[1"], "max_steps"),
        "train --max-steps 0": (["train", "--config", ev("t4", "model: {}\n"), "--output", tmp / "r",
                                 "--max-steps", "0"], "--max-steps"),
        "missing config": (["evaluate", "--config", tmp / "none.yaml", "--output", tmp / "e.csv"], "not found"),
        "config not a mapping": (["evaluate", "--config", ev("l", "- 1\n- 2\n"), "--output", tmp / "e.csv"], "mapping"),
        "config not YAML": (["evaluate", "--config", _write(tmp / "bin.yaml", b"\xff\xfe:"), "--output", tmp / "e.csv"], "YAML"),
        # malformed evaluate configs (wrong types), each one line before any run starts
        "evaluate: N strings": (["evaluate", "--config", ev("e1", "evaluation:\n  instances: [{N: ['x'], K: 2, regimes: [dense], seeds: [0]}]\n"), "--output", tmp / "e.csv"], "N"),
        "evaluate: N float": (["evaluate", "--config", ev("e2", "evaluation:\n  instances: [{N: [5.5], K: 2, regimes: [dense], seeds: [0]}]\n"), "--output", tmp / "e.csv"], "N"),
        "evaluate: K list": (["evaluate", "--config", ev("e3", "evaluation:\n  instances: [{N: [5], K: [2], regimes: [dense], seeds: [0]}]\n"), "--output", tmp / "e.csv"], "K"),
        "evaluate: regimes a string": (["evaluate", "--config", ev("e4", "evaluation:\n  instances: [{N: [5], K: 2, regimes: dense, seeds: [0]}]\n"), "--output", tmp / "e.csv"], "regimes"),
        "evaluate: instances a mapping": (["evaluate", "--config", ev("e5", "evaluation:\n  instances: {N: [5]}\n"), "--output", tmp / "e.csv"], "instances"),
        "evaluate: budgets strings": (["evaluate", "--config", ev("e6", f"evaluation:\n{grid}  budgets_s: ['1']\n"), "--output", tmp / "e.csv"], "budgets_s"),
        "evaluate: budget infinite": (["evaluate", "--config", ev("e7", f"evaluation:\n{grid}  budgets_s: [.inf]\n"), "--output", tmp / "e.csv"], "budgets_s"),
        "evaluate: methods a string": (["evaluate", "--config", ev("e8", f"evaluation:\n{grid}  methods: greedy\n"), "--output", tmp / "e.csv"], "methods"),
        "evaluate: threads a string": (["evaluate", "--config", ev("e9", f"evaluation:\n{grid}  threads: x\n"), "--output", tmp / "e.csv"], "threads"),
        "evaluate: method_params unknown key": (["evaluate", "--config", ev("e10", f"evaluation:\n{grid}  methods: [greedy]\n  method_params: {{greedy: {{nope: 1}}}}\n"), "--output", tmp / "e.csv"], "nope"),
        "evaluate: N too large": (["evaluate", "--config", ev("e11", "evaluation:\n  instances: [{N: [100000000000], K: 2, regimes: [dense], seeds: [0]}]\n"), "--output", tmp / "e.csv"], "N"),
        "evaluate: K too large": (["evaluate", "--config", ev("e12", "evaluation:\n  instances: [{N: [5], K: 10000000000, regimes: [dense], seeds: [0]}]\n"), "--output", tmp / "e.csv"], "K"),
        "evaluate: network value wrong type": (["evaluate", "--config", ev("e13", f"network:\n  d_min_m: x\nevaluation:\n{grid}"), "--output", tmp / "e.csv"], "d_min_m"),
        "evaluate: unknown regime": (["evaluate", "--config", ev("e14", "evaluation:\n  instances: [{N: [5], K: 2, regimes: [nowhere], seeds: [0]}]\n"), "--output", tmp / "e.csv"], "regime"),
        "evaluate: output cannot be written": (["evaluate", "--config", ev("e15", EVAL_OK), "--output", "/proc/e.csv"], "/proc"),
        "evaluate: output is a directory": (["evaluate", "--config", ev("e16", EVAL_OK), "--output", tmp], "directory"),
        "unknown command": (["frobnicate"], "frobnicate"),
    }


def _lying_npz(good: Path, out: Path) -> Path:
    """A small file whose direct_gain header declares 10^12 rows (a decompression bomb)."""
    with np.load(good) as data:
        arrays = {key: data[key] for key in data.files}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 3)})
    with zipfile.ZipFile(out, "w") as zf:
        for key, value in arrays.items():
            if key != "direct_gain":
                with zf.open(f"{key}.npy", "w") as fh:
                    np.lib.format.write_array(fh, value)
        zf.writestr("direct_gain.npy", buffer.getvalue() + bytes(64))
    return out


def test_every_bad_input_gives_one_line_and_exit_2(good, tmp_path, capsys):
    cases = _cases(good, tmp_path)
    assert len(cases) >= 55
    failures = []
    for name, (argv, word) in cases.items():
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        if code != 2 or len(lines) != 1 or word not in lines[0] or "Traceback" in err:
            failures.append(f"{name}: exit {code}, stderr {err[-300:]!r}")
    assert failures == []
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith((".part", ".probe"))
                 or p.name in ("o.npz", "e.csv", "m", "r")]
    assert leftovers == [], "a partial or output file was left behind"


def test_unwritable_evaluate_output_is_found_before_any_run(good, tmp_path, capsys, monkeypatch):
    import lsa.methods.evaluate as evaluate_module

    def must_not_run(*args, **kwargs):
        raise AssertionError("evaluate started although its output cannot be written")
    monkeypatch.setattr(evaluate_module, "evaluate", must_not_run)
    config = _write(tmp_path / "c.yaml", EVAL_OK)
    assert main(["evaluate", "--config", str(config), "--output", "/proc/lsa/e.csv"]) == 2


def test_internal_errors_are_one_line_too(monkeypatch, capsys, good):
    import lsa.sim as sim

    def broken(path):
        raise RuntimeError("a bug\nwith two lines")
    monkeypatch.setattr(sim, "load_npz", broken)
    assert main(["serialize", str(good)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "internal error" in err and "LSA_DEBUG" in err


# ------------------------------------------------------------------------------------------------
# the loaders under Hypothesis: only LSAError, whatever the bytes
# ------------------------------------------------------------------------------------------------
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
MANY = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))

_DTYPES = st.sampled_from([np.int64, np.int32, np.uint8, np.float64, np.float32, np.complex128, np.bool_,
                           np.dtype("<U6"), np.dtype("S4")])
_ARRAYS = hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7))
_KEYS = st.sampled_from(["format", "K", "power_w", "noise_w", "bandwidth_hz", "direct_gain", "cross_row",
                         "cross_col", "cross_gain", "tx_xy", "rx_xy", "meta", "extra"])
_SPECIAL = st.sampled_from([np.array(np.nan), np.array(-1), np.array(0), np.array(10**15), np.array("lsa-network-v1"),
                            np.array('{"a": 1}'), np.array("[]"), np.array([]), np.array([[np.inf]]),
                            np.array([-1, 0, 10**9]), np.zeros((3, 0))])


@pytest.fixture(scope="module")
def base_arrays(good):
    with np.load(good) as data:
        return {key: data[key] for key in data.files}


def _npz_property(base_arrays, tmp_path_factory):
    directory = tmp_path_factory.mktemp("npz")

    @given(changes=st.dictionaries(_KEYS, st.one_of(st.none(), _ARRAYS, _SPECIAL), max_size=4),
           corrupt=st.one_of(st.none(), st.integers(0, 4000)), byte=st.integers(0, 255))
    def prop(changes, corrupt, byte):
        arrays = dict(base_arrays)
        for key, value in changes.items():
            if value is None:
                arrays.pop(key, None)
            else:
                arrays[key] = value
        path = directory / "case.npz"
        np.savez(path, **arrays) if corrupt is None or corrupt % 2 else np.savez_compressed(path, **arrays)
        if corrupt is not None and corrupt > 1:
            data = bytearray(path.read_bytes())
            data[corrupt % len(data)] = byte
            path.write_bytes(bytes(data))
        try:
            net = load_npz(path)
        except LSAError:
            return
        # accepted: then it was well-typed and the instance keeps every SPEC §4 invariant
        assert net.N >= 1 and 1 <= net.K and isinstance(net.meta, dict)
        assert all(arrays[key].dtype.kind in "iuf" for key in _NUMERIC if key in arrays), changes
        assert np.isfinite(net.direct_gain).all() and (net.direct_gain >= 0).all()
        assert np.isfinite(net.cross_gain).all() and not np.any(net.cross_row == net.cross_col)
        pairs = net.cross_row * net.N + net.cross_col
        assert np.all(np.diff(pairs) > 0)          # sorted, no duplicate
    return prop


_NUMERIC = ("K", "power_w", "noise_w", "bandwidth_hz", "direct_gain", "cross_row", "cross_col", "cross_gain",
            "tx_xy", "rx_xy")


def test_load_npz_raises_only_lsa_error(base_arrays, tmp_path_factory):
    FAST(_npz_property(base_arrays, tmp_path_factory))()


@pytest.mark.slow
def test_load_npz_raises_only_lsa_error_2000(base_arrays, tmp_path_factory):
    MANY(_npz_property(base_arrays, tmp_path_factory))()


_TOKENS = st.one_of(st.integers(-3, 12).map(str), st.integers(-10**20, 10**20).map(str),
                    st.sampled_from(["p", "e", "c", "edge", "col", "x", "1.5", "", "0x10", "∞", "\x00"]),
                    st.text(max_size=4))
_LINES = st.lists(_TOKENS, max_size=5).map(" ".join)


def _dimacs_property(tmp_path_factory):
    directory = tmp_path_factory.mktemp("col")

    @given(header=st.lists(_TOKENS, max_size=5), lines=st.lists(_LINES, max_size=12),
           K=st.integers(-2, 2000), raw=st.one_of(st.none(), st.binary(max_size=64)))
    def prop(header, lines, K, raw):
        path = directory / "case.col"
        if raw is not None:
            path.write_bytes(raw)
        else:
            text = "\n".join([" ".join(["p", *header])] + lines) + "\n"
            path.write_bytes(text.encode("utf-8", "replace"))
        try:
            net = read_dimacs(path, K)
        except LSAError:
            return
        assert net.N >= 1 and net.K == K
    return prop


def test_read_dimacs_raises_only_lsa_error(tmp_path_factory):
    FAST(_dimacs_property(tmp_path_factory))()


@pytest.mark.slow
def test_read_dimacs_raises_only_lsa_error_2000(tmp_path_factory):
    MANY(_dimacs_property(tmp_path_factory))()


SECTIONS = [NetworkConfig, EvaluationConfig, InstanceGrid, ModelConfig, PretrainConfig, GRPOConfig, SFTConfig,
            DirectConfig, InferenceConfig, WorkflowSection, PromptStudy, LLMEvaluationPlan, FigureSettings]
_YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


def _config_property(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cfg")

    @given(section=st.sampled_from(SECTIONS), data=st.data(), raw=st.one_of(st.none(), st.binary(max_size=40)))
    def prop(section, data, raw):
        names = [f.name for f in dataclasses.fields(section)] + ["unknown_key"]
        values = data.draw(st.dictionaries(st.sampled_from(names), _YAML_VALUES, max_size=3))
        try:
            section.from_mapping(values)
        except LSAError:
            pass
        path = directory / "case.yaml"
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text(yaml.safe_dump({section.SECTION: values}))
        try:
            loaded = load_yaml(path)
        except LSAError:
            return
        assert isinstance(loaded, dict)
    return prop


def test_config_sections_raise_only_lsa_error(tmp_path_factory):
    FAST(_config_property(tmp_path_factory))()


@pytest.mark.slow
def test_config_sections_raise_only_lsa_error_2000(tmp_path_factory):
    MANY(_config_property(tmp_path_factory))()


def test_size_check_happens_before_allocation():
    with pytest.raises(LSAError, match="GiB"):
        check_size(MAX_LINKS, 1024, 10**11)
    with pytest.raises(LSAError, match="links"):
        check_size(MAX_LINKS + 1, 2)
    check_size(1000, 8, 10**5)


def test_sections_are_sections():
    assert all(issubclass(section, Section) and section.SECTION for section in SECTIONS)
