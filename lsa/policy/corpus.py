"""Pretraining corpus of the embedded model: prompts of random instances paired at random with
programs from the grammar (`grammar.py`). Nothing in a pair says how good the program is on that
instance: no reward, no utility, no ranking — GRPO has to discover quality itself.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from lsa.policy.grammar import sample_program
from lsa.policy.prompts import code_prompt, direct_prompt
from lsa.sim.generate import generate_ppp
from lsa.sim.network import REGIMES
from lsa.sim.params import NetworkConfig

#: corpus instances use seeds from here on (disjoint from training and evaluation instances)
CORPUS_INSTANCE_SEED = 20_000_000


def sample_channel_list(N: int, K: int, rng: np.random.Generator) -> str:
    """A channel list completion for the direct paradigm (used only if pretrain.direct_share > 0)."""
    return "[" + ", ".join(str(int(c)) for c in rng.integers(0, K, size=N)) + "]"


def build_corpus(n_programs: int, n_instances: int, instance_n, instance_k, seed: int,
                 tokenizer=None, prompt_max_tokens: int | None = 256, direct_share: float = 0.0,
                 api_doc: bool = False, network: NetworkConfig | None = None, progress: bool = True,
                 vocabulary: str = "full") -> list[dict]:
    """Pairs {'prompt', 'completion'}: prompts from `n_instances` random PPP instances, completions
    drawn independently from the program grammar (or random channel lists for `direct_share`)."""
    rng = np.random.default_rng(seed)
    prompts_code, prompts_direct, sizes = [], [], []
    for idx in tqdm(range(n_instances), desc="corpus instances", disable=not progress):
        N = int(rng.choice(instance_n))
        K = int(rng.choice(instance_k))
        regime = str(rng.choice(REGIMES))
        net = generate_ppp(N, K, regime, seed=CORPUS_INSTANCE_SEED + int(seed * 1_000_003 + idx), params=network)
        prompts_code.append(code_prompt(net, tokenizer=tokenizer, max_tokens=prompt_max_tokens, api_doc=api_doc,
                                        vocabulary=vocabulary))
        if direct_share > 0:
            prompts_direct.append(direct_prompt(net, tokenizer=tokenizer, max_tokens=prompt_max_tokens))
        sizes.append((N, K))
    out = []
    for _ in range(n_programs):
        j = int(rng.integers(n_instances))
        if direct_share > 0 and rng.random() < direct_share:
            out.append({"prompt": prompts_direct[j], "completion": sample_channel_list(*sizes[j], rng)})
        else:
            out.append({"prompt": prompts_code[j], "completion": sample_program(rng, vocabulary)})
    return out
