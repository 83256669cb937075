# lightning_ae — the few commands a researcher needs.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# torch/torchvision are pinned to the builds this team's machines carry; override on a cluster:
#   make install TORCH="torch==2.5.1 torchvision==0.20.1"
TORCH   ?= torch==2.14.1 torchvision==0.29.1
ARGS    ?=

.PHONY: install train test test-fast test-cluster gpu-check bench clean

$(BIN)/lightning-ae:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[test]"

install: $(BIN)/lightning-ae  ## create .venv and install the project with its test extras

train: $(BIN)/lightning-ae    ## the default run: AE on scikit-learn digits, CPU, no network, < 3 min
	$(BIN)/python -m lightning_ae $(ARGS)

test: $(BIN)/lightning-ae     ## the whole suite, as CI runs it
	WANDB_MODE=offline $(BIN)/python -m pytest $(ARGS)

test-fast: $(BIN)/lightning-ae
	WANDB_MODE=offline $(BIN)/python -m pytest -m "not slow" $(ARGS)

test-cluster: $(BIN)/lightning-ae  ## a one-machine SLURM cluster (apt: slurm-wlm, munge; root) and the `cluster` tests
	PYTHON=$(BIN)/python .ci/cluster.sh test $(ARGS)

gpu-check: $(BIN)/lightning-ae  ## everything that needs a GPU, <= 8 min -> benchmarks/gpu_check.{json,md}
	$(BIN)/python benchmarks/gpu_check.py $(ARGS)

bench: $(BIN)/lightning-ae    ## every variant at a fixed budget -> benchmarks/RESULTS.md (see benchmarks/README.md)
	$(BIN)/python benchmarks/report.py $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
