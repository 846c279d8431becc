"""Claims taken out of the registry, each with the reason: a claim whose verdict the set-up fixes
cannot fail. The report lists them at its end."""
from __future__ import annotations

#: claims taken out of the registry, and why: a claim whose verdict the set-up fixes cannot fail
RETIRED: dict[str, str] = {
    "code-needs-no-cold-start": (
        "the code paradigm needs no cold start; the direct one does: settled by the set-up on the embedded "
        "model, whose base is pretrained only on programs (pretrain direct_share 0.0), so the code paradigm "
        "starts valid and the direct one cannot. It returns as a claim once measured on a model pretrained on "
        "neither format: real-llm-code-valid-zero-shot, on a real pretrained chat model, replaces it."),
    "prompt-bounded": (
        "prompt length stays bounded for any N: true by construction (the serializer cuts every prompt to its "
        "token budget); replaced by prompt-keeps-strongest-pairs, which measures what the bounded prompt keeps."),
}

__all__ = ["RETIRED"]
