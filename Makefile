# Two commands do all the set-up: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo

.PHONY: install demo test lint bench learning-check order-change gpu-check clean

$(STAMP): pyproject.toml packages/layersynth/pyproject.toml packages/oclr-model/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch and torchvision first, by exact version: pip takes them from the machine's local copy.
	$(BIN)/pip install --quiet -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -c constraints.txt -e packages/layersynth -e packages/oclr-model -e ".[dev]"
	# Byte-compile once: these machines set PYTHONDONTWRITEBYTECODE, and an uncompiled
	# torch/ptlflow import costs 12-15 s instead of ~4 s in every test process.
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/layersynth generate --preset tiny --n 8 --out $(DEMO)/shards
	$(BIN)/layersynth validate $(DEMO)/shards
	$(BIN)/layersynth inspect $(DEMO)/shards
	$(BIN)/layersynth preview $(DEMO)/shards --seq 000000 --out $(DEMO)/preview.png
	$(BIN)/layersynth export $(DEMO)/shards --format oclr --out $(DEMO)/oclr
	@echo "demo: shards in $(DEMO)/shards, preview in $(DEMO)/preview.png, OCLR layout in $(DEMO)/oclr"

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Benchmarks print their figures (not tests): see each script's --help for options.
bench: $(STAMP)
	$(BIN)/python bench/render.py
	$(BIN)/python bench/warp_error.py
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/flow.py
	$(BIN)/python bench/assets.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/infer.py

learning-check: $(STAMP)
	$(BIN)/python bench/learning_check.py

# Per-frame vs global order head on data whose depth order changes (issue 16): six learning-check
# trainings, over an hour on 2 CPU cores, so not part of `bench`.
order-change: $(STAMP)
	$(BIN)/python bench/order_change.py

# GPU figures in one command (docs/gpu.md): training step, RAFT, oclr-infer; under 8 minutes on one
# GPU. `make gpu-check GPU_ARGS=--cpu-smoke` runs the same code paths tiny on the CPU.
gpu-check: $(STAMP)
	bench/gpu.sh $(GPU_ARGS)

clean:
	rm -rf $(VENV) $(DEMO)
