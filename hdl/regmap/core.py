"""The EP core's register map for a config: identifiers, commands, run settings, seeds, counters and memory windows."""

from __future__ import annotations

import enum

from golden.config import Config
from golden.fixed_formats import derive, lr_codes

from ..core import CoreMode
from ..plan import MAX_SAMPLES, build_id
from ..relax import SweepOrder
from .language import Field, Register, RegisterMap

CORE_ID = 0x45504631  # ASCII "EPF1"


def _codes(codes: type[enum.Enum]) -> dict[str, int]:
    """A field's named values from the gateware's enum, so the register and the port agree by construction."""
    return {member.name: member.value for member in codes}


def core_register_map(cfg: Config, max_samples: int = MAX_SAMPLES) -> RegisterMap:
    """The EP core's register map for the network and formats of `cfg` (a fixed-point config: the
    learning-rate shifts are build constants) and the largest run-time N, `max_samples`."""
    consts = derive(cfg)
    _, s_w, _, s_b = lr_codes(cfg, consts, 0)
    n_weight_layers = len(cfg.sizes) - 1
    classes = cfg.sizes[-1]
    class_bits = max((classes - 1).bit_length(), 1)
    lanes = cfg.fixed.noise_lanes
    lane_bits = max(lanes.bit_length(), 1)  # lane indices 0..L (L is the rounding generator)
    regs = [
        Register("ID", "ro", "Core identifier, ASCII 'EPF1': the driver checks it first.",
                 reset=CORE_ID, const=True),
        Register("BUILD_ID", "ro", "CRC-32 of the layer sizes and number formats the core was generated for "
                 "(hdl.plan.build_id): the driver refuses a config that does not match.",
                 reset=build_id(cfg), const=True),
        Register("CTRL", "rw", "Commands: set mode and write start = 1 in the same write.", width=8, fields=(
            Field("start", 0, doc="Run the command in `mode` (ignored while STATUS.busy; sets ERRORS.start_busy).",
                  pulse=True),
            Field("soft_reset", 1, doc="Abort the command and return to idle; memories and registers are kept, "
                  "the noise generators return to their reset states (seed them again).", pulse=True),
            Field("clear_counters", 2, doc="Zero SAMPLE_COUNT, HIT_COUNT, RECIP_SAT_COUNT and the cycle counter.",
                  pulse=True),
            Field("mode", 4, 2, doc="Command run by start.", values=_codes(CoreMode)),
        )),
        Register("STATUS", "ro", "Core state.", width=8, fields=(
            Field("busy", 0, doc="A command is running."),
            Field("done", 1, doc="The last command finished (cleared by the next start)."),
            Field("hit", 2, doc="The last sample's free-phase prediction equals LABEL (TRAIN)."),
        )),
        Register("ERRORS", "w1c", "Sticky error flags; write 1 to clear.", width=8, fields=(
            Field("recip_sat", 0, doc="A denominator of a phase in use was <= 0: its reciprocal saturated to all "
                  "ones (docs/fixed-point.md section 3; RECIP_SAT_COUNT counts them)."),
            Field("start_busy", 1, doc="start was written while busy and was ignored."),
            Field("mem_busy", 2, doc="A memory-window access while busy was ignored."),
        )),
        Register("PREDICTION", "ro", "Argmax of the last free phase's output codes (lowest index on ties).",
                 width=class_bits),
        Register("LABEL", "rw", f"Class (0..{classes - 1}) of the sample of the next TRAIN command.",
                 width=class_bits),
        Register("SETTINGS", "rw", "Run settings of the EP algorithm.", width=8, fields=(
            Field("centered", 0, doc="1: centered variant (-beta and +beta phases); 0: positive (+beta only)."),
            Field("warm_start", 1, doc="1: a training sample's free phase starts from the previous training "
                  "sample's free state (STATE); 0: from zero."),
            Field("order", 2, 2, doc="Sweep order of the layer updates.", values=_codes(SweepOrder)),
        )),
        Register("SWEEPS", "rw", "Sweeps per phase.", width=16, fields=(
            Field("train", 0, 8, doc="Sweeps per phase of TRAIN (config sweeps)."),
            Field("eval", 8, 8, doc="Sweeps of INFER's free phase (config sweeps_eval)."),
        )),
        Register("BATCH_SIZE", "ro", "Training samples per update: this core updates after every TRAIN sample "
                 "(online learning); the driver refuses a config with a larger batch size.", reset=1, const=True),
        Register("BETA_G", "rw", "beta as a conductance code, beta * 2^F_g; the core derives beta_c = "
                 "BETA_G << F_v (docs/fixed-point.md section 1).", width=consts.g_bits),
        Register("NOISE_SN", "rw", "Noise coefficient sn (F_v + F_s fraction bits); 0 disables noise (no draws).",
                 width=31),
        Register("NOISE_N", "rw", f"Readings N averaged per measurement, 1..{max_samples} (the build's maximum).",
                 width=max(max_samples.bit_length(), 1), reset=1),
        Register("SEED_LANE", "rw", f"Generator index for SEED_DATA: 0..{lanes - 1} noise lanes, {lanes} the "
                 "rounding generator.", width=lane_bits),
        Register("SEED_DATA", "wo", "Writing a state seeds generator SEED_LANE (non-zero; the host computes "
                 "lane_seed per epoch, docs/fixed-point.md section 5).", write_strobe=True),
    ]
    for l in range(1, n_weight_layers + 1):
        shifts = (int(s_w[l]) & 0xFF) | (int(s_b[l]) & 0xFF) << 8
        regs += [
            Register(f"LR_K_W{l}", "rw", f"Learning-rate factor code k_w of weight layer {l} (0 freezes it).",
                     width=31),
            Register(f"LR_K_B{l}", "rw", f"Learning-rate factor code k_b of the biases of layer {l}.", width=31),
            Register(f"LR_SHIFT{l}", "ro", f"Right shifts of layer {l}'s updates, fixed at build time (negative: "
                     "exact left shift); the driver refuses a config whose shifts differ.",
                     width=16, reset=shifts, const=True, fields=(
                         Field("w", 0, 8, doc="s_w: shift of A * k_w.", signed=True),
                         Field("b", 8, 8, doc="s_b: shift of Q * k_b.", signed=True),
                     )),
        ]
    regs += [
        Register("SAMPLE_COUNT", "ro", "TRAIN and INFER samples since the last clear_counters."),
        Register("HIT_COUNT", "ro", "Free-phase hits (prediction == LABEL) since the last clear_counters."),
        Register("RECIP_SAT_COUNT", "ro", "Saturated reciprocals of denominators <= 0 in use since the last "
                 "clear_counters (the golden model's recip_saturations)."),
        Register("CYCLE_COUNT_LO", "ro", "Low word of the 64-bit busy-cycle counter; reading it latches the high "
                 "word into CYCLE_COUNT_HI.", read_strobe=True),
        Register("CYCLE_COUNT_HI", "ro", "High word of the cycle counter, latched by the last CYCLE_COUNT_LO read."),
        Register("MEM_SPACE", "rw", "Memory reached through the MEM_* window.", width=4, fields=(
            Field("space", 0, 4, doc="PARAMS: parameter codes in the golden flat layout (per layer: "
                  "conductances row-major, then biases; run LOAD after writing them); STATE: the warm-start "
                  "free state, free node j at j (written when a run resumes); PIXELS: the next sample's 784 pixel values 0..255.",
                  values={"PARAMS": 0, "STATE": 1, "PIXELS": 2}),
        )),
        Register("MEM_ADDR", "rw", "Element index in MEM_SPACE; writing it loads the core's access pointer, "
                 "which advances by one after every MEM_WDATA_LO write and MEM_RDATA_LO read.", write_strobe=True),
        Register("MEM_WDATA_HI", "rw", "Bits 63:32 of the next element written (codes sign-extended to 64 bits); "
                 "write it before MEM_WDATA_LO when the element is wider than 32 bits."),
        Register("MEM_WDATA_LO", "wo", "Bits 31:0 of an element: writing it stores {MEM_WDATA_HI, MEM_WDATA_LO} "
                 "at the pointer and advances the pointer.", write_strobe=True),
        Register("MEM_RDATA_LO", "ro", "Bits 31:0 of the element at the pointer; reading it latches bits 63:32 "
                 "into MEM_RDATA_HI and advances the pointer.", read_strobe=True),
        Register("MEM_RDATA_HI", "ro", "Bits 63:32 (sign-extended) of the element read by the last MEM_RDATA_LO read."),
    ]
    return RegisterMap("ep_core", regs, doc="Control, status, run settings, seeds, counters and memory windows "
                       "of the Equilibrium Propagation core (docs/fixed-point.md).")
