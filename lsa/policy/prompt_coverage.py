"""What a bounded prompt keeps: of an instance's strongest interferer pairs and most-interfered
links, the share that the hierarchical prompt names (the prompt-boundedness claim is measured as
information kept, not as length: the serializer cuts every prompt to its budget by construction).

A pair j -> i counts as named when the prompt holds its pair line (`j>i inr ...`) or lists j among
the strongest interferers of link i's line (`i: ... | ... | j:INR ...`); a link counts as named when
the prompt holds its line. The ranking is the serializer's own: pairs by interference over the
victim's mean signal, links by coupling load (interference over own mean signal, all co-channel).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lsa.policy.serializer import _Stats, _top
from lsa.sim.network import Network

#: how many of the strongest pairs / most-interfered links the coverage is measured on
TOP_ITEMS = 10
_PAIR_LINE = re.compile(r"^(\d+)>(\d+) inr ", re.MULTILINE)
_LINK_LINE = re.compile(r"^(\d+): [-\d ]+ \| -?\d+ \| (.*)$", re.MULTILINE)
_INTERFERER = re.compile(r"(\d+):-?\d+")


@dataclass(frozen=True)
class Coverage:
    """Of the instance's strongest pairs (`pairs_top`, at most TOP_ITEMS) and most-interfered links
    (`links_top`): how many the prompt names."""

    pairs_top: int
    pairs_named: int
    links_top: int
    links_named: int

    @property
    def pair_share(self) -> float:
        return self.pairs_named / self.pairs_top if self.pairs_top else float("nan")

    @property
    def link_share(self) -> float:
        return self.links_named / self.links_top if self.links_top else float("nan")


def named_in(text: str) -> tuple[set[tuple[int, int]], set[int]]:
    """(pairs (tx j, rx i), links i) that a serialized prompt names."""
    pairs = {(int(j), int(i)) for j, i in _PAIR_LINE.findall(text)}
    links = set()
    for i, interferers in _LINK_LINE.findall(text):
        links.add(int(i))
        pairs |= {(int(j), int(i)) for j in _INTERFERER.findall(interferers)}
    return pairs, links


def coverage(net: Network, text: str, top: int = TOP_ITEMS) -> Coverage:
    """How many of the instance's `top` strongest interferer pairs and `top` most-interfered links the
    prompt `text` names (fewer than `top` when the instance has fewer pairs or coupled links)."""
    stats = _Stats(net)
    pairs, links = named_in(text)
    strongest = _top(stats.rel, min(top, net.M))
    strongest = set(zip(net.cross_col[strongest].tolist(), net.cross_row[strongest].tolist()))
    worst = _top(stats.load, min(top, net.N))
    worst = set(worst[stats.load[worst] > 0].tolist())
    return Coverage(len(strongest), len(strongest & pairs), len(worst), len(worst & links))


__all__ = ["Coverage", "coverage", "named_in", "TOP_ITEMS"]
