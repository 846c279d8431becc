"""State serialization for the policy's prompt (docs/policy.md): hierarchical (global statistics, regional
or cluster summary, locally critical constraints) filled by priority up to a token budget, and naive.

Every level speaks in dB relative to the noise power of one channel (SNR, INR), rounded to whole dB:
digits cost tokens, and 1 dB is finer than anything a heuristic program can use from a prompt.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lsa.errors import LSAError
from lsa.sim.network import Network, cross_power

#: the default counter: every word, every single digit and every punctuation mark is one token
#: (BPE tokenizers of the Qwen family split numbers into single digits, so this is not optimistic)
_TOKEN_RE = re.compile(r"[A-Za-z]+|\d|[^\sA-Za-z\d]")
_PERCENTILES = (5, 25, 50, 75, 95)
#: consecutive candidate lines that may fail to fit before filling stops
_MAX_MISSES = 64


@dataclass
class SerializedState:
    """A serialized instance: the prompt `text`, its length in `tokens` (counted on the final text
    with the same counter) and `levels`, what each level contributed."""

    text: str
    tokens: int
    levels: dict = field(default_factory=dict)
    max_tokens: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def count_tokens(text: str, tokenizer=None) -> int:
    """Tokens in `text`: with `tokenizer` (a Hugging Face tokenizer, or a `tokenizers.Tokenizer`)
    its encoding length without special tokens; without one, the deterministic regex counter
    (words, single digits, single punctuation marks; whitespace is free)."""
    if tokenizer is None:
        return sum(1 for _ in _TOKEN_RE.finditer(text))
    try:
        encoded = tokenizer.encode(text, add_special_tokens=False)
    except TypeError:
        encoded = tokenizer.encode(text)
    ids = getattr(encoded, "ids", encoded)
    return len(ids)


# ------------------------------------------------------------------------------------------------
# hierarchical
# ------------------------------------------------------------------------------------------------
def serialize(net: Network, max_tokens: int = 1024, tokenizer=None) -> SerializedState:
    """Hierarchical serialization within `max_tokens` (always: the final text is counted).

    Priority order: level 0 (global statistics), level 1 (a grid over receiver positions, or for
    graph instances clusters of a reverse Cuthill-McKee order; most loaded first), level 2
    (strongest interferer pairs interleaved with the most-interfered links and their per-channel
    SNR). Lines are added in that order while they fit; a line that does not fit is skipped.
    """
    if not isinstance(max_tokens, (int, np.integer)) or isinstance(max_tokens, bool) or max_tokens < 0:
        raise LSAError(f"max_tokens must be a non-negative integer, got {max_tokens!r}")
    stats = _Stats(net)
    n_items = int(min(max(max_tokens // 8, 4), 4000))
    candidates: list[tuple[str, str, str | None]] = []       # (level tag, line, required tag)
    candidates += [("L0", line, None) for line in _level0(net, stats)]
    level1_kind, level1 = _level1(net, stats)
    candidates += [("L1", line, "L1h" if i else None) if i else ("L1h", line, None)
                   for i, line in enumerate(level1)]
    candidates += _level2(net, stats, n_items)

    parts: list[str] = []
    tags: list[str] = []
    included: set[str] = set()
    used = 0
    misses = 0
    for tag, line, requires in candidates:
        if requires is not None and requires not in included:
            continue
        cost = count_tokens(line if not parts else "\n" + line, tokenizer)
        if used + cost <= max_tokens:
            parts.append(line)
            tags.append(tag)
            included.add(tag)
            used += cost
            misses = 0
        else:
            misses += 1
            if misses > _MAX_MISSES:
                break
    text, tokens, parts, tags = _fit(parts, tags, max_tokens, tokenizer)
    levels = {
        "level0_lines": tags.count("L0"),
        "level1": level1_kind,
        "level1_regions": tags.count("L1"),
        "level2_pairs": tags.count("P"),
        "level2_links": tags.count("L"),
        "lines": len(parts),
        "candidate_lines": len(candidates),
        "complete": len(parts) == len(candidates),
    }
    return SerializedState(text, tokens, levels, int(max_tokens))


def _fit(parts: list[str], tags: list[str], max_tokens: int, tokenizer):
    """Verify the joined text's count; drop trailing lines (lowest priority) until it fits."""
    text = "\n".join(parts)
    tokens = count_tokens(text, tokenizer)
    if tokens <= max_tokens:
        return text, tokens, parts, tags
    lo, hi = 0, len(parts)                    # the longest prefix that fits (binary search)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens("\n".join(parts[:mid]), tokenizer) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    parts, tags = parts[:lo], tags[:lo]
    text = "\n".join(parts)
    return text, count_tokens(text, tokenizer), parts, tags


class _Stats:
    """Per-link and per-pair quantities shared by the levels: O(N K + M), sequential passes only
    (the pairs are sorted by receiver, so per-receiver sums are `reduceat`, not scattered)."""

    def __init__(self, net: Network):
        noise = net.noise_w
        self.snr_db = _db(net.signal_w / noise)                       # (N, K)
        self.best_snr_db = self.snr_db.max(axis=1)
        self.mean_signal_w = np.maximum(net.signal_w.mean(axis=1), 1e-300)
        self.degree = np.diff(net.row_ptr)
        self.power = _cross_power_w(net)                               # (M,)
        # relative interference of each pair: over the victim's own mean signal
        self.rel = self.power / np.repeat(self.mean_signal_w, self.degree)
        self.total_int_w = _row_sums(self.power, net.row_ptr)
        self.inr_db = _db(self.total_int_w / noise)
        # strong: interference within 10 dB of the victim's own mean signal
        self.strong = _row_sums((self.rel > 0.1).view(np.uint8), net.row_ptr).astype(np.int64)
        self.load = self.total_int_w / self.mean_signal_w             # interference over own signal
        self.selective = bool(net.K > 1 and np.ptp(self.snr_db, axis=1).max() >= 0.5)


def _cross_power_w(net: Network) -> np.ndarray:
    """`net.cross_power_w`, without caching a second (M,) array on the network when it is not there yet."""
    return net.cross_power_w if "cross_power_w" in vars(net) else cross_power(net)


def _row_sums(values: np.ndarray, row_ptr: np.ndarray) -> np.ndarray:
    """(N,) sums of `values` over each receiver's segment row_ptr[i]:row_ptr[i+1]."""
    N = len(row_ptr) - 1
    dtype = np.int64 if values.dtype.kind in "biu" else np.float64
    out = np.zeros(N, dtype=dtype)
    nonempty = np.flatnonzero(row_ptr[1:] > row_ptr[:-1])
    if nonempty.size:
        out[nonempty] = np.add.reduceat(values, row_ptr[:-1][nonempty], dtype=dtype)
    return out


def _db(x) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(np.asarray(x, dtype=np.float64), 1e-30))


def _ints(values) -> str:
    return " ".join(str(int(v)) for v in np.rint(values))


def _quantiles(values, q=_PERCENTILES) -> str:
    return _ints(np.percentile(values, q)) if len(values) else "-"


def _num(x: float) -> str:
    """Compact number: integers as such, otherwise 2 significant digits."""
    if x == 0 or not np.isfinite(x):
        return "0" if x == 0 else str(x)
    if abs(x) >= 10 or float(x).is_integer():
        return str(int(round(x)))
    return f"{x:.2g}"


def _level0(net: Network, s: _Stats) -> list[str]:
    N, K = net.N, net.K
    lines = ["Network state (dB values are relative to the noise power of one channel)",
             f"N={N} links, K={K} channels, M={net.M} stored interferer pairs, regime {net.regime}"]
    if net.tx_xy is not None:
        pts = np.vstack([net.tx_xy, net.rx_xy])
        width, height = pts.max(axis=0) - pts.min(axis=0)
        area_km2 = max(width * height, 1e-9) / 1e6
        lines.append(f"area {int(width)}x{int(height)} m, {_num(N / area_km2)} links/km2")
    noise_dbm = 10 * np.log10(net.noise_w) + 30
    power_dbm = 10 * np.log10(np.maximum(net.power_w, 1e-30)) + 30
    p_text = (f"{power_dbm[0]:.0f} dBm" if np.ptp(power_dbm) < 0.5
              else f"{power_dbm.min():.0f} to {power_dbm.max():.0f} dBm")
    lines.append(f"noise {noise_dbm:.0f} dBm per channel, tx power {p_text}, bandwidth {_num(net.bandwidth_hz / 1e6)} MHz")
    lines.append(f"SNR on best channel dB, p5 p25 p50 p75 p95: {_quantiles(s.best_snr_db)}")
    if K > 1:
        spread = s.best_snr_db - s.snr_db.min(axis=1)
        lines.append(f"channel selectivity (best minus worst channel) dB, p50 p95: {_quantiles(spread, (50, 95))}")
    lines.append(f"INR if all interferers share the channel dB, p5 p25 p50 p75 p95: {_quantiles(s.inr_db)}")
    lines.append(f"strong interferers per link (interference > own mean signal - 10 dB), p50 p95 max: "
                 f"{_quantiles(s.strong, (50, 95))} {int(s.strong.max(initial=0))}")
    lines.append(f"stored interferers per link, p50 max: {_quantiles(s.degree, (50,))} {int(s.degree.max(initial=0))}")
    lines.append(f"coupling load (interference over own mean signal, all co-channel): total {_num(float(s.load.sum()))}, "
                 f"per link p50 {_num(float(np.median(s.load)))} p95 {_num(float(np.percentile(s.load, 95)))}")
    limited = float(np.mean(s.inr_db > s.best_snr_db)) * 100
    lines.append(f"links whose worst-case INR exceeds their best SNR: {limited:.0f}%")
    if K > 1:
        lines.append(f"mean SNR per channel dB (ch 0..{K - 1}): {_ints(s.snr_db.mean(axis=0))}")
        if s.selective:
            share = np.bincount(np.argmax(s.snr_db, axis=1), minlength=K) / N * 100
            lines.append(f"share of links whose best channel is k, % (ch 0..{K - 1}): {_ints(share)}")
        lines.append(f"links per channel if spread evenly: {_num(N / K)}")
    return lines


def _level1(net: Network, s: _Stats) -> tuple[str, list[str]]:
    if net.rx_xy is not None:
        return "grid", _grid_summary(net, s)
    return "clusters", _cluster_summary(net, s)


def _grid_summary(net: Network, s: _Stats) -> list[str]:
    N = net.N
    side = 4 if N >= 64 else 2 if N >= 8 else 1
    if side == 1:
        return []
    xy = net.rx_xy
    lo = xy.min(axis=0)
    span = np.maximum(xy.max(axis=0) - lo, 1e-9)
    cell = np.minimum((((xy - lo) / span) * side).astype(np.int64), side - 1)
    cid = cell[:, 0] * side + cell[:, 1]
    n_cells = side * side
    count = np.bincount(cid, minlength=n_cells)
    load = np.bincount(cid, weights=s.load, minlength=n_cells)
    strong = np.bincount(cid, weights=s.strong, minlength=n_cells)
    order = np.lexsort((np.arange(n_cells), -load))
    total_load = max(float(load.sum()), 1e-300)
    lines = [f"regions: {side}x{side} grid over receiver positions, cells of {int(span[0] / side)}x{int(span[1] / side)} m "
             f"numbered x,y from the lower-left, most loaded first; columns: cell x,y: links, median SNR dB, "
             f"median INR dB, mean strong interferers, % of total coupling load"]
    snr_by_cell = _split(s.best_snr_db, cid, n_cells)
    inr_by_cell = _split(s.inr_db, cid, n_cells)
    for c in order:
        if count[c] == 0:
            continue
        lines.append(f"{c // side},{c % side}: {count[c]} {int(np.rint(np.median(snr_by_cell[c])))} "
                     f"{int(np.rint(np.median(inr_by_cell[c])))} {_num(strong[c] / count[c])} "
                     f"{load[c] / total_load * 100:.0f}")
    return lines


def _split(values: np.ndarray, group: np.ndarray, n_groups: int) -> list[np.ndarray]:
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    sorted_values = values[order]
    return [sorted_values[bounds[g]:bounds[g + 1]] for g in range(n_groups)]


def _cluster_summary(net: Network, s: _Stats) -> list[str]:
    """Graph instances: blocks of a reverse Cuthill-McKee order (a BFS-like, bandwidth-reducing
    order, so each block is a connected-ish region of the conflict graph)."""
    from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee

    N = net.N
    n_blocks = 8 if N >= 64 else 2 if N >= 8 else 1
    if n_blocks == 1:
        return []
    adj = net.adjacency
    n_comp, _ = connected_components(adj, directed=False)
    order = np.asarray(reverse_cuthill_mckee(adj, symmetric_mode=True))
    block = np.empty(N, dtype=np.int64)
    block[order] = np.arange(N) * n_blocks // N
    deg = np.diff(adj.indptr)
    i, j = net.conflict_pairs
    internal = np.bincount(block[i][block[i] == block[j]], minlength=n_blocks)
    cut = np.bincount(np.r_[block[i][block[i] != block[j]], block[j][block[i] != block[j]]], minlength=n_blocks)
    size = np.bincount(block, minlength=n_blocks)
    lines = [f"clusters: conflict graph with {len(i)} edges and {n_comp} connected components, split into "
             f"{n_blocks} blocks of a reverse Cuthill-McKee order, densest first; columns: block: nodes, "
             f"internal edges, cut edges, median degree, max degree, highest-degree node"]
    density = internal / np.maximum(size * (size - 1) / 2, 1)
    deg_by_block = _split(deg, block, n_blocks)
    members = _split(np.arange(N), block, n_blocks)
    for b in np.lexsort((np.arange(n_blocks), -density)):
        hub = int(members[b][np.argmax(deg_by_block[b])]) if size[b] else -1
        lines.append(f"{b}: {size[b]} {internal[b]} {cut[b]} "
                     f"{int(np.median(deg_by_block[b]))} {int(deg_by_block[b].max(initial=0))} {hub}")
    return lines


def _top(score: np.ndarray, k: int, tie_keys=None, candidates: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k largest scores, by score descending, ties by `tie_keys(idx)` (a tuple of
    arrays, most significant first) then index. Deterministic, including ties at the k-th place.
    `candidates`, when given, must contain every index whose score can reach the top k."""
    k = min(k, score.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.arange(score.size) if candidates is None else candidates
    if k < idx.size:
        kth = np.partition(score[idx], idx.size - k)[idx.size - k]     # the k-th largest value
        idx = idx[score[idx] >= kth]                                   # all ties at the boundary too
    keys = (idx,) + tuple(reversed(tie_keys(idx) if tie_keys else ())) + (-score[idx],)
    return idx[np.lexsort(keys)][:k]


def _pair_candidates(s: _Stats, row_ptr: np.ndarray, k: int) -> np.ndarray | None:
    """Pairs that can be among the k strongest: each receiver's strongest pair is a distinct pair,
    so the k-th largest per-receiver maximum bounds the k-th largest pair from below."""
    nonempty = np.flatnonzero(row_ptr[1:] > row_ptr[:-1])
    if nonempty.size <= k:
        return None
    row_max = np.maximum.reduceat(s.rel, row_ptr[:-1][nonempty])
    bound = np.partition(row_max, row_max.size - k)[row_max.size - k]
    return np.flatnonzero(s.rel >= bound)


def _level2(net: Network, s: _Stats, n_items: int) -> list[tuple[str, str, str | None]]:
    noise = net.noise_w
    pair_lines: list[str] = []
    if net.M:
        row, col = net.cross_row, net.cross_col
        # ties (equal gains: protocol-model graphs) go to pairs of heavily loaded links
        top = _top(s.rel, n_items, lambda idx: (-(s.load[row[idx]] + s.load[col[idx]]), row[idx], col[idx]),
                   _pair_candidates(s, net.row_ptr, n_items))
        inr = np.rint(_db(s.power[top] / noise)).astype(np.int64)
        i_s = np.rint(_db(s.rel[top])).astype(np.int64)
        pair_lines = [f"{j}>{i} inr {a} is {b}" for j, i, a, b in
                      zip(col[top].tolist(), row[top].tolist(), inr.tolist(), i_s.tolist())]
    link_lines: list[str] = []
    worst = _top(s.load, min(n_items, net.N))
    worst = worst[s.load[worst] > 0]
    snr = np.rint(s.snr_db[worst] if s.selective else s.snr_db[worst, :1]).astype(np.int64).tolist()
    for pos, i in enumerate(worst.tolist()):
        lo, hi = net.row_ptr[i], net.row_ptr[i + 1]
        src, power = net.cross_col[lo:hi], s.power[lo:hi]
        strongest = np.lexsort((src, -power))[:5]
        tops = " ".join(f"{j}:{v}" for j, v in zip(src[strongest].tolist(),
                                                     np.rint(_db(power[strongest] / noise)).astype(np.int64).tolist()))
        link_lines.append(f"{i}: {' '.join(map(str, snr[pos]))} | {int(np.rint(s.inr_db[i]))} | {tops}")
    out: list[tuple[str, str, str | None]] = []
    if pair_lines:
        out.append(("Ph", "strongest interferer pairs, tx j>rx i: INR dB, is = interference over i's mean signal dB", None))
    if link_lines:
        snr_text = "SNR dB on each channel" if s.selective else "SNR dB (same on every channel)"
        out.append(("Lh", f"most interfered links, i: {snr_text} | INR dB with all interferers co-channel | "
                          "strongest interferers j:INR dB", None))
    for k in range(max(len(pair_lines), len(link_lines))):
        if k < len(pair_lines):
            out.append(("P", pair_lines[k], "Ph"))
        if k < len(link_lines):
            out.append(("L", link_lines[k], "Lh"))
    return out


# ------------------------------------------------------------------------------------------------
# naive
# ------------------------------------------------------------------------------------------------
def serialize_naive(net: Network, tokenizer=None) -> SerializedState:
    """Everything, no budget: every link's SNR per channel and every stored pair's INR (whole dB).
    Its length grows as O(N K + M); it exists for the prompt-length comparison."""
    noise = net.noise_w
    snr = np.rint(_db(net.signal_w / noise)).astype(np.int64).tolist()
    inr = np.rint(_db(net.cross_power_w / noise)).astype(np.int64)
    cols = net.cross_col.tolist()
    inr_list = inr.tolist()
    ptr = net.row_ptr.tolist()
    lines = ["Network state, full (dB values are relative to the noise power of one channel)",
             f"N={net.N} links, K={net.K} channels, M={net.M} stored interferer pairs",
             "links, i: SNR dB on each channel"]
    lines += [f"{i}: {' '.join(map(str, row))}" for i, row in enumerate(snr)]
    lines.append("interferers, rx i: tx j:INR dB ...")
    for i in range(net.N):
        lo, hi = ptr[i], ptr[i + 1]
        if hi > lo:
            lines.append(f"{i}: " + " ".join(f"{j}:{v}" for j, v in zip(cols[lo:hi], inr_list[lo:hi])))
    text = "\n".join(lines)
    return SerializedState(text, count_tokens(text, tokenizer),
                           {"links": net.N, "pairs": net.M, "complete": True}, None)


def load_tokenizer(path: str | None):
    if path is None:
        return None
    local = Path(path)
    if not local.is_dir() and (local.is_absolute() or path.startswith(".") or path.count("/") > 1):
        raise LSAError(f"cannot load tokenizer {path!r}: no such model directory")  # not a hub id either
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as exc:                  # noqa: BLE001 - any load failure is a user input problem
        raise LSAError(f"cannot load tokenizer {path!r}: {exc.__class__.__name__}: {exc}") from None
