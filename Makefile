# Retouch: `make run` opens the app on the sample RAW; `make test` runs every test.
# Both set everything up first (a venv, the Python packages, Qt's system libraries when root).
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := resources/samples/sample.dng
PYTEST_ARGS ?=

.PHONY: setup run test lint bench bench-batch data train meter wb clean FORCE

KERNELS := $(VENV)/.kernels

setup: $(STAMP) $(KERNELS)

$(STAMP): pyproject.toml scripts/setup.sh
	PY=$(PY) PY_ASKED=$(if $(filter command line environment,$(origin PY)),yes) VENV=$(VENV) bash scripts/setup.sh
	touch $(STAMP)

# a venv whose python is gone (half deleted) is set up again: its stamp alone said "Nothing to be done"
ifneq ($(shell test -x $(BIN)/python || echo gone),)
$(STAMP): FORCE
endif
FORCE:

# The render kernels compiled into numba's cache once (half a minute on 2 cores), here rather than
# on the app's render thread at its first start; again when engine/lut changes.
# numba checks a kernel's cache against its own file only: one that inlines another file's function
# (blown.py, kernels._byte) kept the old one. Any change to engine/lut compiles them all afresh.
$(KERNELS): $(STAMP) $(wildcard engine/lut/*.py)
	@echo "setup: compiling the render kernels (once, about half a minute)"
	rm -f engine/lut/__pycache__/*.nbi engine/lut/__pycache__/*.nbc
	$(BIN)/python -m engine.lut
	touch $(KERNELS)

run: setup
	$(BIN)/retouch $(SAMPLE)

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: setup
	for b in replay preview blown raw_open auto app_start slider fit align export sharpen; do QT_QPA_PLATFORM=offscreen $(BIN)/python bench/$$b.py || exit 1; done

bench-batch: setup
	$(BIN)/python bench/batch.py

data: setup
	$(BIN)/python -m models.data.assemble

# The shipped weights (models/retouch/MODEL.md): the third session's recipe on the measured steps
# Auto starts with (the shipped meter's included), in two phases on one lr schedule, then the
# average of its last three kept checkpoints, stored in fp16 (computed in fp32). Re-running resumes.
TRAIN := $(BIN)/python -m models.retouch.train --run runs/ship --resume
train: data
	$(TRAIN) --width 8 --iterations 8000 --stop-at 2000 --keep-every 500 --auto-exposure true \
		--auto-white-balance true --meter true --seed 1 \
		--all-actions true --recon-weight 5 --lr 3e-4 --g-lr-mul 1.0
	$(TRAIN) --stop-at 4000 --flag-pre-step false
	$(BIN)/python -m models.retouch.export runs/ship/checkpoint-it3000.pt runs/ship/checkpoint-it3500.pt \
		runs/ship/checkpoint-it4000.pt -o runs/ship/retouch-fp32.onnx
	$(BIN)/python -m models.onnx_fp16 runs/ship/retouch-fp32.onnx -o runs/ship/retouch.onnx

# The shipped learned meter (models/meter/MODEL.md): ridge on the input photos, a few minutes.
meter: data
	$(BIN)/python -m models.meter.train -o runs/meter/meter.onnx

# The shipped colour constancy (models/wb/MODEL.md): the meter's samples, a few minutes each way.
wb: data
	$(BIN)/python -m models.wb.train -o runs/wb/wb.onnx

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
