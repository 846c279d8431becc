"""The API that generated programs call: `NetView`, a read-only view of one instance with fast,
vectorised queries and improvement steps. `API_DOC` (built from the docstrings) is what the LLM sees.
"""
from __future__ import annotations

import inspect
import math
import time

import numpy as np

from lsa.engine.adjacency import adjacency
from lsa.engine.state import greedy_assign, independent_movers
from lsa.engine.warm import warmup
from lsa.programs.moves import EngineMoves
from lsa.sim.network import Network, _pair_representatives
from lsa.sim.network import warmup as network_warmup
from lsa.sim.utility import channel_interference_w, conflicts, interference_w
from lsa.sim.utility import sinr as utility_sinr

#: the clock behind time_left(), bound before any program runs (a program cannot patch it)
_monotonic = time.monotonic

#: below this many stored pairs the column-order index is built eagerly (inherited by sandbox children)
_EAGER_COLUMN_INDEX_M = 5_000_000


def frozen_copy(array: np.ndarray) -> np.ndarray:
    """A copy whose memory is immutable bytes: no flag flip (`setflags`) can make it writeable."""
    array = np.ascontiguousarray(array)
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)


class NetView(EngineMoves):
    """`net`: the instance your program receives (read-only). N links, K channels; link i is a
    transmitter-receiver pair; all powers are in watts. An assignment is an int array of N channels.

    Attributes: N, K, M (number of stored interferer pairs), noise_w (noise power per channel),
    power_w (N,) transmit powers, direct_gain (N, K) own-link gain per channel, signal_w (N, K)
    received desired power P_i*g_ii,k, tx_xy / rx_xy (N, 2) positions in metres or None (graph
    instances), cross_row / cross_col / cross_power_w (M,) every stored pair: tx cross_col[m] causes
    cross_power_w[m] watts at rx cross_row[m] when both use the same channel (sorted by cross_row).
    SINR_i = signal_w[i, c_i] / (noise_w + sum of cross_power_w over co-channel interferers);
    the score is utility = sum_i log2(1 + SINR_i) [bit/s/Hz].
    """

    def __init__(self, net: Network):
        self._net = net
        self.N = net.N
        self.K = net.K
        self.M = net.M
        self.noise_w = float(net.noise_w)
        self.power_w = frozen_copy(net.power_w)
        self.direct_gain = frozen_copy(net.direct_gain)
        self.signal_w = frozen_copy(net.signal_w)
        self.tx_xy = None if net.tx_xy is None else frozen_copy(net.tx_xy)
        self.rx_xy = None if net.rx_xy is None else frozen_copy(net.rx_xy)
        self._cross = None
        self._anytime = None                   # set by the sandbox runner: deadline and offer sink
        self._start = None                     # set by the sandbox runner: the incumbent net.start() returns

    def _cross_arrays(self):
        if self._cross is None:
            self._cross = (frozen_copy(self._net.cross_row), frozen_copy(self._net.cross_col),
                           frozen_copy(self._net.cross_power_w))
        return self._cross

    @property
    def cross_row(self) -> np.ndarray:
        return self._cross_arrays()[0]

    @property
    def cross_col(self) -> np.ndarray:
        return self._cross_arrays()[1]

    @property
    def cross_power_w(self) -> np.ndarray:
        return self._cross_arrays()[2]

    def __repr__(self) -> str:
        return f"NetView(N={self.N}, K={self.K}, M={self.M})"

    # ----- input checks -------------------------------------------------------------------------
    def _assignment(self, assignment) -> np.ndarray:
        a = np.asarray(assignment)
        if a.shape != (self.N,):
            raise ValueError(f"assignment must have shape ({self.N},), got {a.shape}")
        if a.dtype.kind not in "iu":
            if a.dtype.kind not in "bf" or not np.all(np.isfinite(a)) or np.any(a != np.rint(a)):
                raise ValueError(f"assignment must hold integers, got dtype {a.dtype}")
        a = a.astype(np.int64)
        if a.size and (a.min() < 0 or a.max() >= self.K):
            raise ValueError(f"assignment values must be in [0, {self.K - 1}]")
        return a

    def _link(self, i) -> int:
        i = int(i)
        if not 0 <= i < self.N:
            raise IndexError(f"link index {i} out of range [0, {self.N})")
        return i

    # ----- neighbourhood queries ---------------------------------------------------------------
    def interferers(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(links j, power_w) of the transmitters that interfere at receiver i when co-channel,
        strongest first."""
        net, i = self._net, self._link(i)
        lo, hi = net.row_ptr[i], net.row_ptr[i + 1]
        src, power = net.cross_col[lo:hi], net.cross_power_w[lo:hi]
        order = np.argsort(-power, kind="stable")
        return src[order].copy(), power[order].copy()

    def victims(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(links j, power_w) of the receivers that transmitter i interferes with, strongest first."""
        net, i = self._net, self._link(i)
        entries = net.out_order[net.col_ptr[i]:net.col_ptr[i + 1]]
        dst, power = net.cross_row[entries], net.cross_power_w[entries]
        order = np.argsort(-power, kind="stable")
        return dst[order].copy(), power[order].copy()

    def neighbors(self, i: int) -> np.ndarray:
        """Sorted links coupled with link i in either direction (its conflict-graph neighbours)."""
        return np.union1d(self.interferers(i)[0], self.victims(i)[0])

    def degree(self) -> np.ndarray:
        """(N,) number of stored interferers at each receiver."""
        return np.diff(self._net.row_ptr)

    def total_interference_w(self) -> np.ndarray:
        """(N,) interference at each receiver if every interferer shared its channel (worst case)."""
        net = self._net
        return np.bincount(net.cross_row, weights=net.cross_power_w, minlength=net.N)

    def coupling(self) -> np.ndarray:
        """(N,) total normalised coupling of each link: sum over pairs of interference received and
        caused, each divided by the victim's mean signal power (large = hard to place)."""
        net = self._net
        w = net.cross_power_w / np.maximum(net.signal_w.mean(axis=1), 1e-300)[net.cross_row]
        return (np.bincount(net.cross_row, weights=w, minlength=net.N)
                + np.bincount(net.cross_col, weights=w, minlength=net.N))

    # ----- evaluation of an assignment ----------------------------------------------------------
    def interference(self, assignment) -> np.ndarray:
        """(N,) co-channel interference power at each receiver under `assignment`, watts."""
        return interference_w(self._net, self._assignment(assignment))

    def channel_interference(self, assignment) -> np.ndarray:
        """(N, K) interference receiver i would see on channel k given all other links' channels."""
        return channel_interference_w(self._net, self._assignment(assignment))

    def sinr(self, assignment) -> np.ndarray:
        """(N,) linear SINR of each link under `assignment`."""
        return utility_sinr(self._net, self._assignment(assignment))

    def rates(self, assignment) -> np.ndarray:
        """(N,) log2(1 + SINR_i), bit/s/Hz."""
        return np.log2(1.0 + self.sinr(assignment))

    def utility(self, assignment) -> float:
        """Sum-rate sum_i log2(1 + SINR_i) of `assignment` (the score), bit/s/Hz."""
        return float(self.rates(assignment).sum())

    def conflicts(self, assignment) -> int:
        """Number of coupled pairs {i, j} that share a channel."""
        return conflicts(self._net, self._assignment(assignment))

    def move_gains(self, assignment) -> np.ndarray:
        """(N, K) exact change of utility if link i alone switched to channel k (0 at its own)."""
        return self._engine(assignment).all_gains()

    # ----- anytime: time budget and incumbents ----------------------------------------------------
    def time_left(self) -> float:
        """Seconds left before your program is stopped (its timeout), from a clock your program
        cannot change; inf when run outside the sandbox. Use it to stop improving in time."""
        anytime = self._anytime
        return math.inf if anytime is None else max(0.0, anytime.deadline - _monotonic())

    def start(self) -> np.ndarray:
        """The best assignment known for this instance when your program started — the incumbent
        that earlier programs of the same solve offered — or, when there is none, the greedy
        assignment. Continue improving it. A new array."""
        if self._start is not None:
            return np.array(self._start, dtype=np.int64)
        return self.greedy()

    def offer(self, assignment) -> None:
        """Hand in `assignment` (N ints) as your current best answer and keep improving: the harness
        scores every offer itself and keeps the best one made before the timeout, even if your
        program is stopped later. Your return value counts as a final offer."""
        if self._anytime is not None:
            self._anytime.offer(assignment)

    # ----- constructive and improvement steps ---------------------------------------------------
    def random_assignment(self, rng) -> np.ndarray:
        """Uniformly random channels drawn from the numpy Generator `rng`."""
        return rng.integers(0, self.K, size=self.N, dtype=np.int64)

    def greedy(self, order=None, partial=None) -> np.ndarray:
        """Sequential greedy: links in `order` (default: order_by_coupling()) each take the channel
        of best utility gain given those already placed. `partial`: entries >= 0 are kept fixed,
        entries -1 are filled. O(M) overall."""
        a = None
        if partial is not None:
            a = np.asarray(partial)
            if a.shape != (self.N,) or a.dtype.kind not in "iu" or (a.size and (a.min() < -1 or a.max() >= self.K)):
                raise ValueError(f"partial must be an int array of shape ({self.N},) with values in [-1, {self.K - 1}]")
        if order is not None:
            order = np.asarray(order, dtype=np.int64).ravel()
            if order.size and (order.min() < 0 or order.max() >= self.N):
                raise ValueError(f"order holds a link index outside [0, {self.N})")
        return greedy_assign(self._net, order=self.order_by_coupling() if order is None else order, assignment=a)

    def best_response(self, assignment, links=None, rounds: int = 1) -> np.ndarray:
        """Improve `assignment` for `rounds` rounds; each round moves, in parallel, every link (of
        `links`, default all) whose best single move gains more than any coupled candidate's, and
        keeps the round only if utility rises (else makes just the single best move). Never worse;
        stops at time_left(). Returns a new array."""
        state = self._engine(assignment)
        net = self._net
        deadline = time.perf_counter() + self._budget_s(None)
        allowed = None
        if links is not None:
            allowed = np.zeros(self.N, dtype=bool)
            allowed[self._links(links)] = True
        for _ in range(int(rounds)):
            if time.perf_counter() >= deadline:       # stops at time_left(), like every search
                break
            gains = state.all_gains()
            best = np.argmax(gains, axis=1)
            gain = gains[np.arange(self.N), best]
            if allowed is not None:
                gain = np.where(allowed, gain, 0.0)
            cand = gain > 1e-12
            if not cand.any():
                break
            # a candidate moves only if it beats every coupled candidate (ties: lower index wins)
            movers = np.flatnonzero(independent_movers(net, np.where(cand, gain, -np.inf)))
            before, old = state.utility, state.assignment[movers].copy()
            for i in movers.tolist():
                state.move(i, int(best[i]))
            if state.utility <= before:            # coupled through a third link: fall back
                for i, c in zip(movers.tolist(), old.tolist()):
                    state.move(i, c)
                top = int(np.argmax(gain))
                state.move(top, int(best[top]))
        return state.assignment.copy()

    # ----- orderings ----------------------------------------------------------------------------
    def order_by_signal(self) -> np.ndarray:
        """Links by descending best-channel signal power (strongest links first)."""
        return np.argsort(-self.signal_w.max(axis=1), kind="stable")

    def order_by_coupling(self) -> np.ndarray:
        """Links by descending coupling() (most constrained first, Welsh-Powell style)."""
        return np.argsort(-self.coupling(), kind="stable")


def prepare(net: Network, column_index: bool | None = None) -> Network:
    """Build the lazy indexes programs need and compile the move engine, so that forked sandbox
    children inherit them (no child compiles or builds the engine's index under its limits)."""
    warmup()
    network_warmup()                          # `conflicts` counts pairs with the network's kernel
    # ... and for the instance's own (read-only) array types, so no child compiles a specialisation
    _pair_representatives(net.row_ptr[:1], net.cross_row[:0], net.cross_col[:0])
    adjacency(net)
    net.signal_w, net.cross_power_w, net.row_ptr
    if column_index or (column_index is None and net.M <= _EAGER_COLUMN_INDEX_M):
        net.col_ptr
    return net


def _signature(fn) -> str:
    params = []
    for name, param in list(inspect.signature(fn).parameters.items())[1:]:
        params.append(name if param.default is inspect.Parameter.empty else f"{name}={param.default!r}")
    ret = str(inspect.signature(fn).return_annotation).strip("'").replace("np.ndarray", "array")
    return f"({', '.join(params)}) -> {ret}"


def _build_api_doc() -> str:
    lines = [
        "Write `def assign(net, rng):` returning N ints (a channel in 0..K-1 per link). `np` (numpy's",
        "array functions; no np.random: `rng` is a seeded Generator) and `math` are there. No other",
        "imports, files, classes or names starting with '_'. Time is limited: vectorise with numpy.",
        "",
        inspect.cleandoc(NetView.__doc__),
        "",
        "Methods of net (arrays returned are new; inputs are never modified):",
    ]
    for cls in (NetView, EngineMoves):
        for name, fn in cls.__dict__.items():
            if name.startswith("_") or not inspect.isfunction(fn):
                continue
            doc = " ".join(inspect.cleandoc(fn.__doc__ or "").split())
            lines.append(f"  net.{name}{_signature(fn)}: {doc}")
    return "\n".join(lines)


#: the documentation of the program API, as shown to the model
API_DOC: str = _build_api_doc()

__all__ = ["NetView", "API_DOC", "frozen_copy", "prepare"]
