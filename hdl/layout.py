"""The units' memory layouts and cycle formulas in plain Python: what the gateware is built from and the host counts on.

No Amaranth here (hdl/plan.py, which a board runtime imports, reads these). Each class checks its own
arguments with ValueError before any gateware exists; the user-facing checks are CoreBuild's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from golden.config import INPUT_PIXELS
from golden.fixed_arith import STOCHASTIC
from golden.fixed_formats import FixedConstants
from golden.network import Layout

REFRESH_DRAIN = 2  # RefreshEngine: cycles after the last conductance read until every total is written
# The signed operand widths of a family's multiplier block (ECP5 MULT18X18D, Xilinx DSP48E1/E2)
FAMILIES = {"ecp5": (18, 18), "xilinx": (25, 18)}
DEFAULT_DEPTH = 3  # product stages of a build (docs/core.md: what each depth routes at)


@dataclass(frozen=True)
class Pipeline:
    """How deep the datapath is pipelined and for which multiplier block.

    `depth` = registered stages of every wide product: 1 forms it in one stage straight from the
    memory reads (the core before pipelining); from 2 on, memory outputs are registered before any
    arithmetic and a product is `family`-block-sized partial products (one stage) summed by an
    adder tree of depth - 1 registered levels.
    """

    depth: int = DEFAULT_DEPTH
    family: str = "ecp5"

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or self.depth < 1:
            raise ValueError(f"depth must be an integer >= 1, got {self.depth!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")

    @property
    def block(self) -> tuple[int, int]:
        """The multiplier block's signed operand widths."""
        return FAMILIES[self.family]

    @property
    def mem_stage(self) -> int:
        """Registers between a memory read and the arithmetic it feeds (0 or 1)."""
        return int(self.depth > 1)

    @property
    def mul_latency(self) -> int:
        """hdl.arith.MulRound's: the product's stages, the rounding add, the shift and saturation."""
        return self.depth + 2

    @property
    def node_latency(self) -> int:
        """hdl.arith.NodeUpdate's: sum and saturation, MulRound, clamp."""
        return 1 + self.mul_latency + 1

    @property
    def conductance_latency(self) -> int:
        """hdl.arith.ConductanceUpdate's (B = 1): the drops, their product, MulRound, subtract and clamp."""
        return 1 + self.depth + self.mul_latency + 1

    @property
    def bias_latency(self) -> int:
        """hdl.arith.BiasUpdate's (B = 1)."""
        return 1 + self.mul_latency + 1


def _count(name: str, value: object) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _power_of_two(lanes: object) -> int:
    if not isinstance(lanes, int) or lanes < 1 or lanes & (lanes - 1):
        raise ValueError(f"lanes must be a power of two, got {lanes!r}")
    return lanes


def _sizes(sizes: Sequence[int]) -> list[int]:
    n = [int(v) for v in sizes]
    if len(n) < 3 or n[0] != 2 * INPUT_PIXELS or min(n) < 1:
        raise ValueError(f"sizes: {2 * INPUT_PIXELS} inputs, at least one hidden layer and the output are needed")
    return n


class ProjectionLayout:
    """InputProjection: lane p owns the columns j = p, p + P, ... of layer 1, K = ceil(n1 / P) per lane."""

    def __init__(self, n1: int, lanes: int, pixels: int = INPUT_PIXELS, pipe: Pipeline = Pipeline()) -> None:
        self.n1, self.lanes, self.pixels = _count("n1", n1), _count("lanes", lanes), _count("pixels", pixels)
        self.k_count = -(-n1 // lanes)
        self.pipe = pipe

    def expected_cycles(self, nonzero: int) -> int:
        """`cycles` at done for pixels streamed back to back, `nonzero` of them with vin != 0."""
        return self.pixels + nonzero * (self.k_count - 1) + 4 + self.pipe.mem_stage


class LaneLayout:
    """Lane p = j mod P owns node j of every free layer, in group g = j div P: G_l = ceil(n_l / P) groups of
    layer l, at v_base[l] + g of every per-node memory."""

    def __init__(self, sizes: Sequence[int], lanes: int, pipe: Pipeline = Pipeline()) -> None:
        self.pipe = pipe
        self.sizes = n = _sizes(sizes)
        self.top = top = len(n) - 1
        self.lanes = _power_of_two(lanes)
        self.layout = Layout.of(n)
        self.groups = [0] + [-(-n[l] // lanes) for l in range(1, top + 1)]
        self.v_base = [0] * (top + 2)
        for l in range(1, top + 1):
            self.v_base[l + 1] = self.v_base[l] + self.groups[l]
        self.v_depth = self.v_base[top + 1]

    def bias(self, l: int, j: int) -> tuple[int, int]:
        """(bank, address) of node j of layer l in every per-node memory (and of its bias b_l[j])."""
        return j % self.lanes, self.v_base[l] + j // self.lanes

    def node_word(self, node: int) -> tuple[int, int]:
        """(bank, address) of free node `node` (golden's flat n_off order) in every per-node memory."""
        l = max(k for k in range(1, self.top + 1) if int(self.layout.n_off[k]) <= node)
        return self.bias(l, node - int(self.layout.n_off[l]))


class ParamLayout(LaneLayout):
    """Lane p = j mod P holds column j of every weight matrix and bias j of every layer (group g = j div P).

    The conductances are split into two memories per lane so that each has one read and one write
    port (a simple dual-port block RAM) and layer 1's W+ and W- rows can be read in the same cycle:
    GP holds W_1[i, j] (i < 784, the input nodes) at i G_1 + g and, for l >= 2, W_l[i, j] at
    g_base[l] + i G_l + g (g_base[2] = 784 G_1); GM holds W_1[784 + i, j] (the negated input copies) at
    i G_1 + g. B holds b_l[j] at v_base[l] + g. G_l = ceil(n_l / P); padding words (j >= n_l) are 0.
    """

    def __init__(self, sizes: Sequence[int], lanes: int, pipe: Pipeline = Pipeline()) -> None:
        super().__init__(sizes, lanes, pipe)
        n, top = self.sizes, self.top
        self.rows = [0, INPUT_PIXELS] + n[1:top]  # GP rows of layer l (layer 1: W1[+]; its W1[-] rows are in GM)
        self.g_base = [0] * (top + 2)
        for l in range(1, top + 1):
            self.g_base[l + 1] = self.g_base[l] + self.rows[l] * self.groups[l]
        self.gp_depth = self.g_base[top + 1]
        self.gm_depth = INPUT_PIXELS * self.groups[1]

    def weight(self, l: int, i: int, j: int) -> tuple[bool, int, int]:
        """(in GM, bank, address) of the conductance W_l[i, j]."""
        p, g = j % self.lanes, j // self.lanes
        if l == 1 and i >= INPUT_PIXELS:
            return True, p, (i - INPUT_PIXELS) * self.groups[1] + g
        return False, p, self.g_base[l] + i * self.groups[l] + g

    def images(self, theta: Sequence[int]) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
        """The GP, GM and B banks' words from golden's flat theta."""
        lay, n, L = self.layout, self.sizes, self.lanes
        gp, gm = [[0] * self.gp_depth for _ in range(L)], [[0] * self.gm_depth for _ in range(L)]
        b = [[0] * self.v_depth for _ in range(L)]
        for l in range(1, self.top + 1):
            for j in range(n[l]):
                for i in range(n[l - 1]):
                    minus, p, a = self.weight(l, i, j)
                    (gm if minus else gp)[p][a] = int(theta[int(lay.w_off[l]) + i * n[l] + j])
                p, a = self.bias(l, j)
                b[p][a] = int(theta[int(lay.b_off[l]) + j])
        return gp, gm, b

    def theta(self, gp: Sequence[Sequence[int]], gm: Sequence[Sequence[int]],
              b: Sequence[Sequence[int]]) -> list[int]:
        """Golden's flat theta from the GP, GM and B banks' words (the inverse of `images`)."""
        lay, n = self.layout, self.sizes
        out = [0] * lay.n_params
        for l in range(1, self.top + 1):
            for j in range(n[l]):
                for i in range(n[l - 1]):
                    minus, p, a = self.weight(l, i, j)
                    out[int(lay.w_off[l]) + i * n[l] + j] = (gm if minus else gp)[p][a]
                p, a = self.bias(l, j)
                out[int(lay.b_off[l]) + j] = b[p][a]
        return out


class RelaxLayout(LaneLayout):
    """RelaxEngine: per group of P nodes of layer l a row of T_l = n_{l-1} + n_{l+1} conductances (none below
    layer 1, none above the output) at g_base[l] + g T_l of its G memory; nodes at v_base[l] + g."""

    def __init__(self, sizes: Sequence[int], lanes: int, pipe: Pipeline = Pipeline()) -> None:
        super().__init__(sizes, lanes, pipe)
        top, n = self.top, self.sizes
        self.terms = [0] + [(n[l - 1] if l > 1 else 0) + (n[l + 1] if l < top else 0) for l in range(1, top + 1)]
        self.g_base = [0] * (top + 1)  # start of layer l's rows in every G bank
        for l in range(1, top):
            self.g_base[l + 1] = self.g_base[l] + self.groups[l] * self.terms[l]
        self.g_depth = self.g_base[top] + self.groups[top] * self.terms[top]
        self.r_depth = self.v_depth + 2 * self.groups[top]  # the output's reciprocals for sign -1, 0, +1
        self.node_latency = pipe.node_latency
        self.drain = 3 + pipe.mem_stage + pipe.node_latency

    def cycle_count(self, nsweeps: int) -> int:
        """RelaxEngine's `cycles` after a run (every sweep order visits every layer once per sweep)."""
        per_sweep = sum(1 + self.groups[l] * self.terms[l] + self.drain for l in range(1, self.top + 1))
        return nsweeps * per_sweep + 1


class MeasureLayout:
    """Measure: `n_free` nodes one after another on `lanes` noise lanes, up to `max_samples` draws each."""

    def __init__(self, n_free: int, lanes: int, max_samples: int, round_noise: int,
                 pipe: Pipeline = Pipeline()) -> None:
        self.n_free, self.lanes = _count("n_free", n_free), _count("lanes", lanes)
        self.pipe = pipe
        self.max_samples = _count("max_samples", max_samples)
        if round_noise == STOCHASTIC:
            raise ValueError("the measurement cannot use stochastic rounding")

    def expected_cycles(self, sn: int, samples: int) -> int:
        """`cycles` at done for a measurement with these run-time inputs."""
        per_node = samples if sn and samples else 1
        return self.n_free * per_node + 2 + self.pipe.mul_latency + 2 * self.pipe.mem_stage


class UpdateLayout(ParamLayout):
    """UpdateEngine: layer by layer, the rows' groups then the bias groups, one issue per cycle."""

    @property
    def drain(self) -> int:
        return 1 + max(self.pipe.conductance_latency, self.pipe.bias_latency)

    def cycle_count(self) -> int:
        """UpdateEngine's `cycles` after a run."""
        n = self.sizes
        return sum(1 + (n[l - 1] + 1) * self.groups[l] for l in range(1, self.top + 1)) + self.drain + 1


class RefreshLayout(ParamLayout):
    """RefreshEngine: every conductance read once (`words`), then `jobs` divisions of a group each,
    `latency` cycles apart; R holds the hidden nodes' reciprocals, then the output's for sign -1, 0, +1."""

    def __init__(self, sizes: Sequence[int], lanes: int, consts: FixedConstants, pipe: Pipeline = Pipeline()) -> None:
        super().__init__(sizes, lanes, pipe)
        top = self.top
        self.words = self.gp_depth  # conductance reads, two per lane in layer 1
        self.hidden_depth = self.v_base[top]
        self.r_depth = self.v_depth + 2 * self.groups[top]
        self.jobs = self.hidden_depth + 3 * self.groups[top]
        self.steps = min(consts.recip_bits, consts.shift_v + 1)  # hdl.recip.Reciprocal's
        self.latency = self.steps + 1

    def cycle_count(self) -> int:
        """RefreshEngine's `cycles` after a run."""
        return self.words + self.jobs * self.latency + REFRESH_DRAIN + 3
