# Everything runs from the project's own .venv, created on first use with the pinned versions.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test sim bench deps clean bitstream

demo: $(STAMP)
	$(BIN)/host train --target sim

test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

# Only the RTL simulations (cocotb on Verilator, and Icarus when installed); `make test` runs them too.
# SIM=icarus (or verilator) picks one simulator; a missing one fails with one line.
sim: $(STAMP)
	$(if $(SIM),EPFPGA_SIM=$(SIM) )$(BIN)/python -m pytest -m sim

bench: $(STAMP)
	$(BIN)/host bench golden

# A PYNQ overlay of the core: host/overlays/$(BOARD)/ep_core.bit + .hwh (host/flows/bitstream.py), built by Vivado.
# make bitstream BOARD=pynq-z2|kv260|zcu104 [CONFIG=file.toml] [LANES=16]; without Vivado it stops in one line.
NO_VIVADO = vivado is not on PATH: source <Vivado>/settings64.sh first (host bitstream --tcl-only --board $(BOARD) writes the Tcl without it)
bitstream:
	$(if $(BOARD),,$(error BOARD is required: make bitstream BOARD=pynq-z2 (or kv260 or zcu104)))
	$(if $(shell command -v vivado),,$(error $(NO_VIVADO)))
	@$(MAKE) --no-print-directory $(STAMP)
	$(BIN)/host bitstream --board $(BOARD) $(if $(CONFIG),--config $(CONFIG)) $(if $(LANES),--lanes $(LANES))

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: $(PYTHON) is older than 3.11; run make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(MAKE) --no-print-directory deps
	@touch $@

# Icarus Verilog is the second simulator of the RTL testbenches.
deps:
	@if command -v iverilog >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing iverilog (apt-get)"; \
	  { apt-get update -qq && apt-get install -y -qq iverilog >/dev/null; } || \
	    echo "warning: apt-get could not install iverilog; RTL simulation will use Verilator only"; \
	else echo "note: iverilog is missing; install it with: sudo apt-get install iverilog"; fi

clean:
	rm -rf $(VENV) build *.egg-info
