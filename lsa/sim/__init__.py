"""The simulator (SPEC §1-§4): the instance model, generators, file formats, physical parameters,
the utility and its metrics, and the move engine every method shares.
"""
from lsa.sim.formats import load_npz, read_dimacs, save_npz, write_dimacs
from lsa.sim.generate import from_edges, generate_ppp, truncate
from lsa.sim.network import FORMAT, MAX_CHANNELS, MAX_LINKS, REGIMES, Network
from lsa.sim.params import NetworkConfig, network_config
from lsa.sim.utility import evaluate, sum_rate

__all__ = ["FORMAT", "MAX_CHANNELS", "MAX_LINKS", "REGIMES", "Network", "NetworkConfig", "evaluate",
           "from_edges", "generate_ppp", "load_npz", "network_config", "read_dimacs", "save_npz", "sum_rate",
           "truncate", "write_dimacs"]
