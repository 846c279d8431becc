"""Bad input never leaks a traceback (SPEC §4, §5): every command answers a bad argument, file or
config with one line on stderr naming the problem and exit status 2, leaves no partial file and
does not hang; the loaders raise only `LSAError` whatever Hypothesis feeds them."""
import dataclasses
import io
import warnings
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
        "solve --model no such folder": (["solve", good, "--method", "lsa-code", "--model", tmp / "no-model",
                                          "--budget", "1"], "cannot load model"),
        "solve --model a folder without a model": (["solve", good, "--method", "lsa-direct", "--model", tmp,
                                                    "--budget", "1"], "cannot load model"),
        "solve --model truncated weights": (["solve", good, "--method", "lsa-code", "--model",
                                             _broken_policy(tmp / "cut", "weights"), "--budget", "1"], "cannot load model"),
        "solve --model config without a size": (["solve", good, "--method", "lsa-code", "--model",
                                                 _broken_policy(tmp / "nosize", "config"), "--budget", "1"], "cannot load model"),
        "solve --model config not fitting its weights": (["solve", good, "--method", "lsa-direct", "--model",
                                                          _broken_policy(tmp / "heads", "heads"), "--budget", "1"], "cannot load model"),
        "solve --set unknown inference key": (["solve", good, "--method", "lsa-code", "--budget", "1",
                                               "--set", "nope=1"], "nope"),
        "solve --set bad allocation": (["solve", good, "--method", "lsa-code", "--budget", "1",
                                        "--set", "allocation=greedy"], "allocation"),
        "solve --set without =": (["solve", good, "--method", "lsa-code", "--budget", "1", "--set", "relay"], "KEY=VALUE"),
        "solve --set for a classical method": (["solve", good, "--method", "greedy", "--budget", "1",
                                                "--set", "allocation=relay"], "--set"),
        "unknown command": (["frobnicate"], "frobnicate"),
    }


def _broken_policy(folder: Path, what: str) -> Path:
    """A copy of the shipped code policy that the torch-only runtime accepts but cannot load."""
    import json
    import shutil

    from lsa.policy.config import EMBEDDED_POLICY_DIR

    shutil.copytree(EMBEDDED_POLICY_DIR, folder)
    if what == "weights":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:5000])
    else:
        config = json.loads((folder / "config.json").read_text())
        if what == "heads":
            config["num_key_value_heads"] = 3
        else:
            del config["num_hidden_layers"]
        (folder / "config.json").write_text(json.dumps(config))
    return folder


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
MANY = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))

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
            with warnings.catch_warnings():   # no RuntimeWarning line either (issue 17)
                warnings.simplefilter("error")
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
def test_load_npz_raises_only_lsa_error_1000(base_arrays, tmp_path_factory):
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
def test_read_dimacs_raises_only_lsa_error_1000(tmp_path_factory):
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
def test_config_sections_raise_only_lsa_error_1000(tmp_path_factory):
    MANY(_config_property(tmp_path_factory))()


def test_size_check_happens_before_allocation():
    with pytest.raises(LSAError, match="GiB"):
        check_size(MAX_LINKS, 1024, 10**11)
    with pytest.raises(LSAError, match="links"):
        check_size(MAX_LINKS + 1, 2)
    check_size(1000, 8, 10**5)


def test_sections_are_sections():
    assert all(issubclass(section, Section) and section.SECTION for section in SECTIONS)


# ------------------------------------------------------------------------------------------------
# hardening (issue 17): the loader streams members, output paths are regular files, configs bounded
# ------------------------------------------------------------------------------------------------
def _npz_with_member(good: Path, out: Path, key: str, raw: bytes, compress: bool = True) -> Path:
    """`good` with member `key` replaced by the bytes `raw` (a hand-made .npy)."""
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for k, value in arrays.items():
            if k == key:
                zf.writestr(f"{k}.npy", raw)
            else:
                with zf.open(f"{k}.npy", "w") as fh:
                    np.lib.format.write_array(fh, value)
    return out


def _npy(array: np.ndarray, version=(1, 0), shape=None, extra: bytes = b"", cut: int = 0) -> bytes:
    """An .npy image of `array` with header `version` and declared `shape`, plus trailing bytes or
    `cut` bytes missing."""
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
              "shape": array.shape if shape is None else shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buffer, header)
    else:
        np.lib.format.write_array_header_2_0(buffer, header)
    data = buffer.getvalue()
    if version not in ((1, 0), (2, 0)):
        data = np.lib.format.magic(*version) + data[8:]
    body = array.tobytes() + extra
    return data + (body[:-cut] if cut else body)


def test_a_member_that_inflates_past_its_header_is_refused_while_streaming(good, tmp_path):
    """1 GiB of trailing zeros behind a small direct_gain: refused after inflating about as much as the
    header declares, never the whole member (the old loader peaked at 2.18 GB)."""
    import tracemalloc

    with np.load(good) as data:
        direct = data["direct_gain"]
    bomb = tmp_path / "bomb.npz"
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    header = _npy(direct)
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for k, value in arrays.items():
            with zf.open(f"{k}.npy", "w", force_zip64=True) as fh:
                if k != "direct_gain":
                    np.lib.format.write_array(fh, value)
                    continue
                fh.write(header)
                zeros = bytes(1 << 24)
                for _ in range(64):           # 1 GiB of zeros, about 1 MB compressed
                    fh.write(zeros)
    assert bomb.stat().st_size < 16 << 20
    tracemalloc.start()
    try:
        with pytest.raises(LSAError, match="more data than its header declares"):
            load_npz(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"inflated {peak:,} bytes"


@FAST
@given(dims=st.lists(st.integers(-2**40, 40), min_size=1, max_size=3).filter(lambda d: min(d) < 0))
def test_negative_dimensions_are_refused(good, tmp_path_factory, dims):
    path = _npz_with_member(good, tmp_path_factory.mktemp("neg") / "neg.npz", "direct_gain",
                            _npy(np.zeros(3), shape=tuple(dims)))
    with pytest.raises(LSAError, match="dimensions must be integers >= 0"):
        load_npz(path)


@FAST
@given(major=st.integers(0, 255).filter(lambda v: v not in (1, 2)), minor=st.integers(0, 255),
       key=st.sampled_from(["direct_gain", "power_w", "meta", "cross_gain"]))
def test_unknown_npy_versions_are_refused(good, tmp_path_factory, major, minor, key):
    with np.load(good) as data:
        value = data[key]
    path = _npz_with_member(good, tmp_path_factory.mktemp("ver") / "ver.npz", key, _npy(value, version=(major, minor)))
    with pytest.raises(LSAError, match="format version"):
        load_npz(path)


@FAST
@given(delta=st.integers(-64, 64).filter(bool), compress=st.booleans())
def test_members_longer_or_shorter_than_declared_are_refused(good, tmp_path_factory, delta, compress):
    with np.load(good) as data:
        power = data["power_w"]
    raw = _npy(power, extra=bytes(delta)) if delta > 0 else _npy(power, cut=-delta)
    path = _npz_with_member(good, tmp_path_factory.mktemp("len") / "len.npz", "power_w", raw, compress)
    with pytest.raises(LSAError, match="power_w"):
        load_npz(path)


_LONE = st.sampled_from(["\ud800", "\udfff", "\udc80x"])


@FAST
@given(digits=st.integers(101, 20_000), where=st.sampled_from(["value", "list", "nested"]))
def test_meta_integers_are_bounded(good, tmp_path_factory, digits, where):
    number = "7" * digits
    text = {"value": f'{{"n": {number}}}', "list": f'{{"n": [1, -{number}]}}',
            "nested": f'{{"a": {{"b": {number}}}}}'}[where]
    path = _variant(good, tmp_path_factory.mktemp("digits") / "d.npz", meta=np.array(text))
    with pytest.raises(LSAError, match="digits"):
        load_npz(path)


@FAST
@given(surrogate=_LONE, escaped=st.booleans(), in_key=st.booleans())
def test_meta_must_be_valid_unicode(good, tmp_path_factory, surrogate, escaped, in_key):
    piece = surrogate.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    if escaped:
        piece = "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in piece)
    text = f'{{"{piece}": 1}}' if in_key else f'{{"a": "{piece}"}}'
    path = _variant(good, tmp_path_factory.mktemp("utf") / "u.npz", meta=np.array(text))
    with pytest.raises(LSAError, match="Unicode"):
        load_npz(path)


@FAST
@given(power=st.floats(1e-3, 1e300), gain=st.floats(1e-3, 1e300), key=st.sampled_from(["direct_gain", "cross_gain"]))
def test_products_the_utility_needs_stay_finite(good, tmp_path_factory, power, gain, key):
    """Finite power and gain whose product (or its sum over interferers, or its ratio to the noise)
    overflows: refused with the key named, without RuntimeWarning lines."""
    with np.load(good) as data:
        values, noise = data[key].copy(), float(data["noise_w"])
        n_links = data["direct_gain"].shape[0]
    values.flat[0] = gain
    path = _variant(good, tmp_path_factory.mktemp("ovf") / "o.npz", power_w=np.full(n_links, power), **{key: values})
    with np.errstate(all="ignore"):
        overflows = (not np.isfinite(np.float64(power) * gain / noise) if key == "direct_gain"
                     else not np.isfinite(np.float64(power) * gain * (n_links - 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            net = load_npz(path)
        except LSAError as exc:
            assert key in str(exc) or "noise_w" in str(exc)
            return
    assert not overflows
    from lsa.sim.utility import sum_rate
    assert np.isfinite(sum_rate(net, np.zeros(net.N, dtype=np.int64)))


def test_loader_cases_through_the_cli_are_one_line_and_exit_2(good, tmp_path, capsys):
    with np.load(good) as data:
        power = data["power_w"]
    cases = {
        "negative dimension": (_npz_with_member(good, tmp_path / "a.npz", "power_w", _npy(power, shape=(-30,))), "dimensions"),
        "version 9.9": (_npz_with_member(good, tmp_path / "b.npz", "power_w", _npy(power, version=(9, 9))), "version"),
        "5000-digit meta": (_variant(good, tmp_path / "c.npz", meta=np.array('{"n": ' + "9" * 5000 + "}")), "digits"),
        "lone surrogate": (_variant(good, tmp_path / "d.npz", meta=np.array('{"a": "\ud800"}')), "Unicode"),
        "overflowing product": (_variant(good, tmp_path / "e.npz", power_w=np.full(power.shape, 1e200),
                                         direct_gain=np.full((power.size, 3), 1e200)), "overflows"),
    }
    for name, (path, word) in cases.items():
        for argv in (["serialize", str(path)], ["solve", str(path), "--method", "greedy", "--budget", "0.1"]):
            code = main(argv)
            captured = capsys.readouterr()
            lines = [line for line in captured.err.splitlines() if line.strip()]
            assert code == 2 and len(lines) == 1 and word in lines[0], (name, argv[0], captured.err)


# ----- output paths -------------------------------------------------------------------------------
def _special_files(tmp: Path) -> dict:
    import os
    import socket
    import stat as st_mod

    out = {"a directory": tmp / "dir"}
    out["a directory"].mkdir()
    os.mkfifo(tmp / "fifo")
    out["a FIFO"] = tmp / "fifo"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp / "sock"))
    out["a socket"] = tmp / "sock"
    if os.geteuid() == 0:                    # a copy of /dev/null's node (never the real one)
        os.mknod(tmp / "null", 0o666 | st_mod.S_IFCHR, os.makedev(1, 3))
        out["a character device"] = tmp / "null"
        os.mknod(tmp / "block", 0o600 | st_mod.S_IFBLK, os.makedev(7, 200))
        out["a block device"] = tmp / "block"
        os.symlink(tmp / "null", tmp / "link-to-null")
        out["a character device (through a link)"] = tmp / "link-to-null"
    return out


def test_outputs_are_written_only_to_regular_files(tmp_path, capsys):
    """`generate -o P` where P is a device, FIFO, socket or directory: one line, exit 2, P unchanged."""
    import os

    from lsa.io import atomic_path, check_writable, write_text

    for kind, path in _special_files(tmp_path).items():
        before = os.lstat(path)
        code = main(["generate", "--n", "10", "--k", "2", "-o", str(path)])
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and kind.split(" (")[0] in lines[0], (kind, lines)
        for call in (lambda: check_writable(path), lambda: write_text(path, "x")):
            with pytest.raises(LSAError, match="regular files"):
                call()
        with pytest.raises(LSAError):
            with atomic_path(path):
                pass
        after = os.lstat(path)
        assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev), kind
    assert not list(tmp_path.glob(".*part")) and not list(tmp_path.glob(".*probe"))


@pytest.mark.parametrize("bad", [["--regime", "nowhere"], ["--config", "/nonexistent.yaml"],
                                 ["--k", "0"], ["--seed", "-1"]])
def test_no_folder_is_created_before_every_argument_is_valid(tmp_path, capsys, bad):
    target = tmp_path / "new" / "dirs" / "x.npz"
    assert main(["generate", "--n", "10", "--k", "2", *bad, "-o", str(target)]) == 2
    assert not (tmp_path / "new").exists()
    assert main(["generate", "--n", "10", "--k", "2", "-o", str(target)]) == 0 and target.is_file()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(length=st.integers(200, 255), wide=st.booleans())
def test_a_target_name_that_fits_gets_a_temp_name_that_fits(tmp_path_factory, length, wide):
    """Names up to the file system's limit (255 bytes) are written; the old temp name (name + 15
    characters) failed with 'File name too long' from 241 bytes on."""
    from lsa.io import write_text

    directory = tmp_path_factory.mktemp("long")
    name = ("é" * (length // 2) + "x" * (length % 2)) if wide else "x" * length
    path = write_text(directory / name, "data")
    assert path.read_text() == "data" and [p.name for p in directory.iterdir()] == [name]


def test_a_name_longer_than_the_limit_is_one_line(tmp_path, capsys):
    assert main(["generate", "--n", "10", "--k", "2", "-o", str(tmp_path / ("x" * 256))]) == 2
    assert "too long" in capsys.readouterr().err


# ----- configs ---------------------------------------------------------------------------------------
@FAST
@given(depth=st.integers(33, 20_000), flow=st.booleans())
def test_deep_yaml_nesting_is_one_line(tmp_path_factory, depth, flow):
    from lsa.config import MAX_YAML_DEPTH

    text = ("a: " + "[" * depth + "]" * depth + "\n") if flow else \
        "".join(" " * i + "k:\n" for i in range(min(depth, 3000))) + " " * min(depth, 3000) + "v\n"
    path = tmp_path_factory.mktemp("deep") / "deep.yaml"
    path.write_text(text)
    with pytest.raises(LSAError, match=f"deeper than {MAX_YAML_DEPTH}"):
        load_yaml(path)


@FAST
@given(digits=st.integers(41, 50_000), sign=st.sampled_from(["", "-", "+"]), under=st.booleans())
def test_huge_yaml_integers_are_one_line(tmp_path_factory, digits, sign, under):
    number = sign + ("1" + "_0" * (digits - 1) if under else "9" * digits)
    path = tmp_path_factory.mktemp("int") / "int.yaml"
    path.write_text(f"evaluation:\n  threads: {number}\n")
    with pytest.raises(LSAError, match="digits"):
        load_yaml(path)


def test_config_cases_through_the_cli_are_one_line_and_exit_2(tmp_path, capsys):
    deep = _write(tmp_path / "deep.yaml", "evaluation: " + "[" * 100_000 + "]" * 100_000 + "\n")
    huge = _write(tmp_path / "huge.yaml", "evaluation:\n  threads: " + "9" * 5000 + "\n")
    cases = [["evaluate", "--config", str(deep), "--output", str(tmp_path / "e.csv")],
             ["evaluate", "--config", str(huge), "--output", str(tmp_path / "e.csv")],
             ["generate", "--n", "10", "--k", "2", "--config", str(deep), "-o", str(tmp_path / "g.npz")],
             ["train", "--config", str(huge), "--output", str(tmp_path / "r")],
             ["train", "--config", _write(tmp_path / "m.yaml", "model: {}\n"), "--output", str(tmp_path / "r"),
              "--set", "max_steps=" + "9" * 5000]]
    for argv in cases:
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and "internal error" not in err, (argv[:3], err[-300:])
    assert not (tmp_path / "e.csv").exists() and not (tmp_path / "r").exists()
