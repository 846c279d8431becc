"""Prompts of the two paradigms: task instruction (+ primitives doc for real LLMs) + serialized state.

The embedded model gets a compact plain-text prompt; a model with a chat template gets the same
content as a user message rendered through its template (so prompts are always plain strings).
"""
from __future__ import annotations

import re

from lsa.errors import LSAError
from lsa.policy.serializer import count_tokens, serialize
from lsa.policy.vocabulary import api_doc as vocabulary_doc

CODE_OPEN = "```python\n"
CODE_CLOSE = "```"
CODE_HEADER = "# task: channel assignment. write assign(net, rng) returning one channel per link.\n"
CODE_FOOTER = "# program\n"
DIRECT_HEADER = "# task: channel assignment. write the channel of every link as a list.\n"
DIRECT_FOOTER = "# channels\n"

CODE_INSTRUCTION = (
    "You assign one of K orthogonal channels to each of N device-to-device links so as to maximise the "
    "sum rate sum_i log2(1 + SINR_i). Write a Python function `def assign(net, rng):` that returns a "
    "sequence of N integers in [0, K). You may use numpy as `np`, `math`, and the methods of `net` "
    "documented below; no imports, files or other modules. It runs on the full instance under a time "
    "limit. Answer with one ```python code block only."
)
DIRECT_INSTRUCTION = (
    "You assign one of K orthogonal channels to each of N device-to-device links so as to maximise the "
    "sum rate sum_i log2(1 + SINR_i). Answer with the list of the N channels, e.g. [0, 2, 1, ...], "
    "one integer in [0, K) per link in link order, and nothing else."
)


#: prompt budget when neither the caller nor the model's training record says (tokens, the whole prompt)
DEFAULT_PROMPT_TOKENS = 4096
#: the network state must get at least this many tokens of the budget
MIN_STATE_TOKENS = 32


def has_chat_template(tokenizer) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def _render(tokenizer, instruction: str, state: str, assistant_prefix: str) -> str:
    messages = [{"role": "user", "content": f"{instruction}\n\n{state}"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + assistant_prefix


def fit_prompt(build, net, tokenizer=None, max_tokens: int | None = None) -> str:
    """`build(state_text)` with the hierarchical serialization of `net` sized so that the WHOLE
    prompt (instruction, API documentation, chat template and state), counted with `tokenizer`,
    stays within `max_tokens`."""
    max_tokens = max_tokens or DEFAULT_PROMPT_TOKENS
    overhead = count_tokens(build(""), tokenizer)
    budget = max_tokens - overhead
    for _ in range(4):
        if budget < MIN_STATE_TOKENS:
            raise LSAError(f"a prompt budget of {max_tokens} tokens leaves {budget} for the network state "
                           f"(the rest of the prompt takes {overhead}); raise model.prompt_max_tokens")
        text = build(serialize(net, max_tokens=budget, tokenizer=tokenizer).text)
        excess = count_tokens(text, tokenizer) - max_tokens
        if excess <= 0:
            return text
        budget -= excess                      # token boundaries merged across the join: shrink and retry
    raise LSAError(f"could not fit the prompt into {max_tokens} tokens")


def code_prompt(net, tokenizer=None, max_tokens: int | None = 256, api_doc: bool | None = None,
                vocabulary: str = "full") -> str:
    """Prompt of the code paradigm, at most `max_tokens` tokens in all. It ends with the opening
    code fence, so every completion is program text followed by the closing fence. `api_doc`
    (None: only for chat models) adds the documentation of the `vocabulary`'s methods."""
    doc = vocabulary_doc(vocabulary)
    with_doc = has_chat_template(tokenizer) if api_doc is None else api_doc
    if has_chat_template(tokenizer):
        instruction = f"{CODE_INSTRUCTION}\n\nThe `net` API:\n{doc}" if with_doc else CODE_INSTRUCTION
        return fit_prompt(lambda state: _render(tokenizer, instruction, state, CODE_OPEN), net, tokenizer, max_tokens)
    head = CODE_HEADER + (doc.rstrip() + "\n" if with_doc else "")
    return fit_prompt(lambda state: f"{head}{state.rstrip()}\n{CODE_FOOTER}{CODE_OPEN}", net, tokenizer, max_tokens)


def direct_prompt(net, tokenizer=None, max_tokens: int | None = 256) -> str:
    """Prompt of the direct paradigm (at most `max_tokens` tokens); the completion is the channel list."""
    if has_chat_template(tokenizer):
        return fit_prompt(lambda state: _render(tokenizer, DIRECT_INSTRUCTION, state, ""), net, tokenizer, max_tokens)
    return fit_prompt(lambda state: f"{DIRECT_HEADER}{state.rstrip()}\n{DIRECT_FOOTER}", net, tokenizer, max_tokens)


def extract_code(completion: str) -> str | None:
    """The program in a model completion: the last ```python (or bare ```) fenced block that
    defines `assign`, else the last fenced block, else the text from a bare `def assign` on; None
    when there is no code at all."""
    if not isinstance(completion, str):
        return None
    blocks = [m.group(1) for m in re.finditer(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", completion,
                                              flags=re.DOTALL | re.IGNORECASE)]
    if not blocks:                            # an unterminated final fence (generation cut off)
        m = re.search(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*)\Z", completion, flags=re.DOTALL | re.IGNORECASE)
        if m:
            blocks = [m.group(1)]
    with_assign = [b for b in blocks if re.search(r"^\s*def\s+assign\s*\(", b, flags=re.MULTILINE)]
    if with_assign:
        return with_assign[-1].strip("\n") + "\n"
    if blocks and blocks[-1].strip():
        return blocks[-1].strip("\n") + "\n"
    m = re.search(r"^([ \t]*)def\s+assign\s*\(", completion, flags=re.MULTILINE)
    if m:
        return _dedent_from(completion[m.start():], m.group(1))
    return None


def _dedent_from(text: str, indent: str) -> str:
    lines = text.splitlines()
    out = []
    for line in lines:
        if out and line.strip() and not line.startswith(indent + " ") and not line.startswith(indent + "\t") \
                and not line.startswith(indent + "def ") and len(line) - len(line.lstrip()) <= len(indent) \
                and not line.lstrip().startswith(("#", ")", "]", "}")):
            break                             # prose after the function
        out.append(line[len(indent):] if line.startswith(indent) else line)
    return "\n".join(out).rstrip() + "\n"


def program_source(completion: str) -> str | None:
    """The program in a completion (the prompt ends with an opening fence, so re-add it)."""
    text = completion if completion.lstrip().startswith("```") else CODE_OPEN + completion
    return extract_code(text)
