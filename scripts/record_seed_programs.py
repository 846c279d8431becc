"""Record the seed programs of an already trained code policy (what `train_grpo` now does at the end
of training), from the training settings recorded in its directory (`lsa_train.json`).

  .venv/bin/python scripts/record_seed_programs.py [--model lsa/data/models/embedded-code] [--config config/default.yaml]

Writes MODEL/lsa_seed_programs.json (see `lsa/policy/seeds.py`). The training instances are
regenerated from the recorded `grpo:` settings and the profile's `network:` section.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from lsa.config import load_yaml
from lsa.policy.config import EMBEDDED_POLICY_DIR, GRPOConfig, policy_config
from lsa.policy.train import record_after_training
from lsa.sim import network_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=EMBEDDED_POLICY_DIR)
    parser.add_argument("--config", type=Path, default=Path("config/default.yaml"),
                        help="profile whose network: and model: sections the policy was trained with")
    args = parser.parse_args()
    record = json.loads((args.model / "lsa_train.json").read_text())
    raw = load_yaml(args.config)
    grpo = GRPOConfig.from_mapping(record["grpo"])
    prompt = record.get("prompt") or {}
    model_cfg = replace(policy_config(raw).model, prompt_max_tokens=prompt.get("max_tokens"),
                        api_doc_in_prompt=prompt.get("api_doc"))
    info = record_after_training(args.model, grpo, model_cfg, network_config(raw))
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
