"""Prompts of the two paradigms: task instruction (+ primitives doc for real LLMs) + serialized state.

The embedded model gets a compact plain-text prompt; a model with a chat template gets the same
content as a user message rendered through its template (so prompts are always plain strings).
"""
from __future__ import annotations

import ast
import re

from lsa.errors import LSAError
from lsa.policy.serializer import count_tokens, serialize
from lsa.policy.vocabulary import api_doc as vocabulary_doc
from lsa.programs.primitives import API_DOC

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


#: the methods a compact API documentation lists (the rest of the API still works in programs)
COMPACT_METHODS = ("utility", "rates", "move_gains", "random_assignment", "greedy", "improve", "descend",
                   "local_search", "start", "offer", "time_left")


def compact_api_doc(doc: str = API_DOC) -> str:
    """`doc` (default API_DOC) cut to its rules paragraph, the main attributes and the signatures of
    the COMPACT_METHODS it documents (~260 tokens instead of ~2100 with the SmolLM2 tokenizer): for
    small models on a CPU, where every prompt token costs prefill and attention in each sampled step."""
    lines = [m.group(1) for m in re.finditer(r"^  (net\.(\w+)\([^)]*\) -> [^:]+):", doc, flags=re.MULTILINE)
             if m.group(2) in COMPACT_METHODS]
    return (doc.split("\n\n")[0] + "\n\nAttributes of net: N links, K channels, signal_w (N, K) desired "
            "power per channel, noise_w.\nMethods of net (they return new arrays):\n" + "\n".join("  " + x for x in lines))


#: the one program an 'example' prompt shows (valid in both vocabularies, and on purpose not the best:
#: greedy and two sweeps of single-link moves reach about greedy + 5 %, a complete search more)
EXAMPLE_PROGRAM = ("def assign(net, rng):\n"
                   "    x = net.greedy()\n"
                   "    x = net.improve(x, sweeps=2)\n"
                   "    return x\n")


def example_api_doc(doc: str = API_DOC) -> str:
    """The compact documentation followed by one valid program (EXAMPLE_PROGRAM): an in-context
    example of the answer's form, not a solution to copy (no fine-tuning on programs either way)."""
    return (compact_api_doc(doc) + "\n\nA valid answer looks like this (write a better one):\n"
            + CODE_OPEN + EXAMPLE_PROGRAM + CODE_CLOSE)


def _api_doc_text(api_doc, vocabulary: str = "full") -> str | None:
    doc = vocabulary_doc(vocabulary)
    if api_doc == "compact":
        return compact_api_doc(doc)
    if api_doc == "example":
        return example_api_doc(doc)
    if api_doc in (True, "full"):
        return doc
    return None


def prompt_builder(paradigm: str, tokenizer=None, api_doc: bool | str | None = None, vocabulary: str = "full"):
    """`build(state_text) -> prompt` of a paradigm: instruction (+ the documentation of the
    `vocabulary`'s methods for code: True/'full', 'compact', 'example' (compact + one valid program),
    False; None = only for chat models) +
    state, through the chat template when the tokenizer has one. A code prompt ends with the opening fence."""
    chat = has_chat_template(tokenizer)
    if paradigm == "direct":
        if chat:
            return lambda state: _render(tokenizer, DIRECT_INSTRUCTION, state, "")
        return lambda state: f"{DIRECT_HEADER}{state.rstrip()}\n{DIRECT_FOOTER}"
    doc = _api_doc_text(chat if api_doc is None else api_doc, vocabulary)
    if chat:
        instruction = f"{CODE_INSTRUCTION}\n\nThe `net` API:\n{doc}" if doc else CODE_INSTRUCTION
        return lambda state: _render(tokenizer, instruction, state, CODE_OPEN)
    head = CODE_HEADER + (doc.rstrip() + "\n" if doc else "")
    return lambda state: f"{head}{state.rstrip()}\n{CODE_FOOTER}{CODE_OPEN}"


def code_prompt(net, tokenizer=None, max_tokens: int | None = 256, api_doc: bool | str | None = None,
                vocabulary: str = "full") -> str:
    """Prompt of the code paradigm, at most `max_tokens` tokens in all. It ends with the opening
    code fence, so every completion is program text followed by the closing fence. `api_doc`
    (None: only for chat models; 'compact': signatures only) adds the documentation of the
    `vocabulary`'s methods."""
    return fit_prompt(prompt_builder("code", tokenizer, api_doc, vocabulary), net, tokenizer, max_tokens)


def direct_prompt(net, tokenizer=None, max_tokens: int | None = 256) -> str:
    """Prompt of the direct paradigm (at most `max_tokens` tokens); the completion is the channel list."""
    return fit_prompt(prompt_builder("direct", tokenizer), net, tokenizer, max_tokens)


_FENCE_RE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", flags=re.DOTALL | re.IGNORECASE)
_OPEN_FENCE_RE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*)\Z", flags=re.DOTALL | re.IGNORECASE)
_ASSIGN_RE = re.compile(r"^([ \t]*)def\s+assign\s*\(", flags=re.MULTILINE)
#: imports of what the sandbox already provides under the same name: dropped, not a repair
_PROVIDED_IMPORTS = ("import numpy as np", "import math")


def extract_code(completion: str) -> str | None:
    """The program in a model completion. Real chat models wrap code in prose and markdown fences,
    write several functions or several versions of `assign`, add imports and get cut off. The
    region searched is the first fenced block that defines `assign` (a final unterminated fence
    counts), else the whole text. From it: the first `def assign` that parses (complete), the
    helper functions and constants around it that parse, without prose, later versions of
    `assign`, other top-level statements, or `import numpy as np` / `import math` (the sandbox
    provides both). With no `def assign` anywhere: the last fenced block (the sandbox then rejects
    it), else None."""
    if not isinstance(completion, str):
        return None
    blocks = [m.group(1) for m in _FENCE_RE.finditer(completion)]
    tail = _OPEN_FENCE_RE.search(_FENCE_RE.sub("", completion))   # an unterminated final fence (cut off)
    if tail:
        blocks.append(tail.group(1))
    regions = [b for b in blocks if _ASSIGN_RE.search(b)] or ([completion] if _ASSIGN_RE.search(completion) else [])
    for region in regions:
        program = _first_complete_assign(region)
        if program is not None:
            return program
    if regions:                                # an `assign` that never parses: hand it on as it is
        m = _ASSIGN_RE.search(regions[0])
        return _dedent_from(regions[0][m.start():], m.group(1))
    if blocks and blocks[-1].strip():
        return blocks[-1].strip("\n") + "\n"
    return None


def _chunks(lines: list[str]) -> list[str]:
    """Top-level chunks: a line at column 0 (not a comment, decorator or closing bracket) starts one."""
    chunks: list[list[str]] = []
    for line in lines:
        starts = line.strip() and not line[0].isspace() and not line.lstrip().startswith((")", "]", "}"))
        if starts and chunks and chunks[-1][-1].lstrip().startswith("@"):
            starts = False                     # a decorated function stays with its decorator
        if starts or not chunks:
            chunks.append([line])
        else:
            chunks[-1].append(line)
    return ["\n".join(c).rstrip() + "\n" for c in chunks if "".join(c).strip()]


def _parses(text: str):
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _first_complete_assign(region: str) -> str | None:
    m = _ASSIGN_RE.search(region)
    indent = m.group(1)
    lines = [line[len(indent):] if line.startswith(indent) else line for line in region.splitlines()]
    whole = "\n".join(lines).strip("\n") + "\n"
    tree = _parses(whole)
    if tree is not None and sum(_is_assign(node) for node in tree.body) == 1 \
            and not any(line.strip() in _PROVIDED_IMPORTS for line in lines):
        return whole                           # already a clean program (the embedded model's case)
    kept, have_assign = [], False
    for chunk in _chunks(lines):
        if chunk.strip() in _PROVIDED_IMPORTS:
            continue
        tree = _parses(chunk)
        if tree is None or len(tree.body) != 1:
            continue                           # prose, a truncated function or several statements
        node = tree.body[0]
        if _is_assign(node):
            if have_assign:
                continue                       # a later version of assign would replace the first
            have_assign = True
        elif not isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.Assign) and not have_assign and isinstance(node.value, ast.Constant)):
            continue                           # calls, prints, tests of assign: not part of the program
        kept.append(chunk)
    return "\n".join(kept) if have_assign else None


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


def _is_assign(node) -> bool:
    return isinstance(node, ast.FunctionDef) and node.name == "assign"


def program_source(completion: str) -> str | None:
    """The program in a completion (the prompt ends with an opening fence, so re-add it)."""
    text = completion if completion.lstrip().startswith("```") else CODE_OPEN + completion
    return extract_code(text)
