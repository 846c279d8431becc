"""Protocol-model instances (SPEC §3): classic easy colouring graphs built here, written as DIMACS
`.col`, read back, and coloured conflict-free with K = chromatic number by the best method."""
import itertools

import pytest

from lsa.methods.protocol import run_method
from lsa.sim.formats import read_dimacs, write_dimacs
from lsa.sim.utility import conflicts

#: tried in this order; the first conflict-free answer wins ("best of the registered methods")
CANDIDATES = ("local-search", "exact", "pulp-partitioned", "km-partitioned", "greedy")
BUDGET_S = 1.0


def mycielski(n_nodes, edges):
    """Mycielski construction: raises the chromatic number by one, keeps the graph triangle-free."""
    new = list(edges)
    for u, v in edges:
        new += [(u, n_nodes + v), (v, n_nodes + u)]
    w = 2 * n_nodes
    new += [(n_nodes + u, w) for u in range(n_nodes)]
    return 2 * n_nodes + 1, new


def myciel(k):
    """myciel3 (11 nodes, chi 4), myciel4 (23 nodes, chi 5), ... starting from K2 = myciel1-ish."""
    n, edges = 2, [(0, 1)]
    for _ in range(k - 1):
        n, edges = mycielski(n, edges)
    return n, edges


def queen(rows, cols):
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    edges = [(i, j) for i, j in itertools.combinations(range(len(cells)), 2)
             if cells[i][0] == cells[j][0] or cells[i][1] == cells[j][1]
             or abs(cells[i][0] - cells[j][0]) == abs(cells[i][1] - cells[j][1])]
    return len(cells), edges


def cycle(n):
    return n, [(i, (i + 1) % n) for i in range(n)]


def crown(n):
    """K_{n,n} minus a perfect matching: bipartite (chi 2) but greedy-hostile in natural order."""
    return 2 * n, [(i, n + j) for i in range(n) for j in range(n) if i != j]


def complete(n):
    return n, list(itertools.combinations(range(n), 2))


def petersen():
    outer = [(i, (i + 1) % 5) for i in range(5)]
    spokes = [(i, i + 5) for i in range(5)]
    inner = [(5 + i, 5 + (i + 2) % 5) for i in range(5)]
    return 10, outer + spokes + inner


GRAPHS = {
    "myciel3": (myciel(3), 4),
    "myciel4": (myciel(4), 5),
    "queen5_5": (queen(5, 5), 5),
    "cycle9": (cycle(9), 3),
    "cycle10": (cycle(10), 2),
    "crown6": (crown(6), 2),
    "complete7": (complete(7), 7),
    "petersen": (petersen(), 3),
}


def test_constructions_match_the_dimacs_benchmark_sizes():
    assert (myciel(3)[0], len(myciel(3)[1])) == (11, 20)
    assert (myciel(4)[0], len(myciel(4)[1])) == (23, 71)
    assert (queen(5, 5)[0], len(queen(5, 5)[1])) == (25, 160)


@pytest.mark.parametrize("name", GRAPHS)
def test_best_method_colours_classic_graph_conflict_free(name, tmp_path):
    (n_nodes, edges), chromatic = GRAPHS[name]
    path = write_dimacs(n_nodes, edges, tmp_path / f"{name}.col", comment=f"{name}, chromatic number {chromatic}")
    net = read_dimacs(path, chromatic)
    assert net.N == n_nodes and len(net.conflict_pairs[0]) == len(set(map(frozenset, edges)))
    tried = {}
    for method in CANDIDATES:
        row, a = run_method(net, method, BUDGET_S, 0)
        assert row["runtime_s"] <= BUDGET_S * 1.1 + 0.05
        tried[method] = conflicts(net, a)
        if tried[method] == 0:
            break
    assert min(tried.values()) == 0, f"{name}: conflicts per method {tried}"


def test_one_colour_too_few_always_leaves_a_conflict(tmp_path):
    (n_nodes, edges), chromatic = GRAPHS["myciel3"]
    net = read_dimacs(write_dimacs(n_nodes, edges, tmp_path / "m3.col"), chromatic - 1)
    row, a = run_method(net, "exact", 5.0, 0)
    assert row["optimal"] and conflicts(net, a) >= 1
