# Two entry points for users and CI: `make demo` and `make test`. Both create .venv on first use
# (with the test and demo extras: the demo draws its curves with matplotlib).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# pip byte-compiles every installed file on one core (about half of a cached install); compileall -j 0
# does the same work on every core afterwards. Installs run with --no-compile, then $(COMPILE) <venv>.
COMPILE = python -m compileall -q -j 0
# Tests run on 2 cores in CI. One pytest worker more than there are cores: the tests' processes often wait
# (on the CLI subprocesses they start, and on this VM on files that the host's memory reclaim dropped from
# the page cache), and a worker per core left a core idle for 100-170 s of a 640-700 s run; with one more,
# 28 s of 626 s. loadfile runs each module on one worker, so that module fixtures (exports, trained runs)
# are built once, not once per worker, and in the order tests/conftest.py gives (the longest modules
# first), not by their number of tests. PYTEST_EXTRA adds options (.ci/run: --durations=20).
WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
PYTEST_ARGS ?= -n $(WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_EXTRA)

.PHONY: demo test test-low test-beam test-jax venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# The stamp depends on setup.cfg so a changed dependency list reinstalls.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --no-compile -e '.[test,demo]'
	$(BIN)/$(COMPILE) $(VENV)/lib
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/albert-demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The low end of every declared range (ci/constraints-low.txt: TensorFlow 2.20, Keras 3.13, keras-hub 0.29.1),
# with tf-models-official (a reference that pins TensorFlow 2.20): the core model, training, export and
# conversion tests, and every parity test against tf-models-official (which `make test` skips on 2.21).
VENV_LOW := .venv-low
LOW_TESTS := tests/layers tests/models/test_backbone.py tests/models/test_pretrainer.py \
	tests/models/test_classifier.py tests/training/test_optimizers.py tests/training/test_runner.py \
	tests/checkpoints/test_keras_hub_converter.py tests/checkpoints/test_original.py \
	tests/checkpoints/test_huggingface_parity.py tests/export/test_saved_model.py tests/test_compat.py \
	tests/training/test_nonfinite.py

$(VENV_LOW)/.installed: setup.cfg pyproject.toml ci/constraints-low.txt
	$(PYTHON) -m venv $(VENV_LOW)
	$(VENV_LOW)/bin/python -m pip install --upgrade pip
	$(VENV_LOW)/bin/python -m pip install --no-compile -c ci/constraints-low.txt -e '.[test,reference]'
	$(VENV_LOW)/bin/$(COMPILE) $(VENV_LOW)/lib
	touch $@

test-low: $(VENV_LOW)/.installed
	ALBERT_TF_REQUIRE_REFERENCE=1 $(VENV_LOW)/bin/python -m pytest $(PYTEST_ARGS) $(LOW_TESTS)
	ALBERT_TF_REQUIRE_REFERENCE=1 $(VENV_LOW)/bin/python -m pytest $(PYTEST_ARGS) -m tf_models_official \
		tests/text tests/tasks tests/models tests/test_metrics.py tests/data_prep/test_squad.py tests/data_prep/test_glue.py

# The Apache Beam runner's tests, in their own environment: apache-beam pins protobuf below 7, which the
# model proto bundled with sentencepiece 0.2.3 rejects (0.2.2 accepts both), so Beam and the main test
# environment cannot share one set of packages.
VENV_BEAM := .venv-beam

$(VENV_BEAM)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV_BEAM)
	$(VENV_BEAM)/bin/python -m pip install --upgrade pip
	$(VENV_BEAM)/bin/python -m pip install --no-compile -e '.[test,beam]' 'sentencepiece==0.2.2'
	$(VENV_BEAM)/bin/$(COMPILE) $(VENV_BEAM)/lib
	touch $@

test-beam: $(VENV_BEAM)/.installed
	$(VENV_BEAM)/bin/python -m pytest -p no:xdist tests/data_prep/test_pretraining_beam.py

# The models under KERAS_BACKEND=jax in an environment without TensorFlow (the accelerator machine has
# JAX and no TensorFlow): albert_tf with --no-deps (its requirements name TensorFlow) plus
# ci/requirements-jax.txt. Runs tests/jax and the existing tests that are backend-neutral as they stand.
VENV_JAX := .venv-jax
JAX_TESTS := tests/jax tests/checkpoints/test_huggingface_parity.py tests/checkpoints/test_huggingface_heads.py \
	tests/layers/test_serialization.py

$(VENV_JAX)/.installed: setup.cfg pyproject.toml ci/requirements-jax.txt
	$(PYTHON) -m venv $(VENV_JAX)
	$(VENV_JAX)/bin/python -m pip install --upgrade pip
	$(VENV_JAX)/bin/python -m pip install --no-compile -r ci/requirements-jax.txt
	$(VENV_JAX)/bin/python -m pip install --no-compile --no-deps -e .
	$(VENV_JAX)/bin/$(COMPILE) $(VENV_JAX)/lib
	touch $@

# Then `model.fit` on JAX from the engine's tf.data readers (tests/training/test_fit_on_jax.py) and original TF1
# checkpoints loaded into JAX models (tests/checkpoints/test_original_on_jax.py), which need TensorFlow and JAX in
# one environment: the main one plus the `jax` extra (not in `test`: jax 0.10 needs NumPy 2, and
# `make test-low` tests NumPy 1.26.4; `make test` skips the modules without jax).
$(VENV)/.installed-jax: $(VENV)/.installed
	$(BIN)/python -m pip install --no-compile -e '.[jax]'
	$(BIN)/$(COMPILE) $(VENV)/lib
	touch $@

test-jax: $(VENV_JAX)/.installed $(VENV)/.installed-jax
	KERAS_BACKEND=jax $(VENV_JAX)/bin/python -m pytest -p no:xdist $(JAX_TESTS)
	ALBERT_TF_REQUIRE_JAX=1 $(BIN)/python -m pytest -p no:xdist tests/training/test_fit_on_jax.py \
		tests/checkpoints/test_original_on_jax.py

clean:
	rm -rf $(VENV) $(VENV_LOW) $(VENV_BEAM) $(VENV_JAX) build *.egg-info
