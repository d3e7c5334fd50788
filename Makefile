# ragqa: `make run` and `make test` set up everything on a fresh machine (venv, packages, models).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RAGQA := $(VENV)/bin/ragqa
# The built llama-cpp-python wheel is cached outside the repo (models go to ~/.cache/ragqa/models), so only
# the first run pays for them.
CACHE ?= $(HOME)/.cache/ragqa
LLAMA_CPP_VERSION := 0.3.36
# llama.cpp is built for the CPUs people have, not for the build machine: one CPU back end per CPU generation
# (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS), the fastest for this CPU picked at run time, and none with the AMX
# back end, whose kernels crash on virtualized Sapphire Rapids (llama.cpp issue 20824); tools/llama_wheel.py
# leaves that one out and makes the package load the others. A -march=native wheel died with an illegal
# instruction when the cache moved to another CPU. The cache folder is named after the flags, so a wheel built
# with other flags is never picked up; `ragqa doctor` says which CPU features the loaded back end uses.
ARCH := $(shell uname -m)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON
LLAMA_BUILD_NAME := $(ARCH)-cpu-variants-noamx
LLAMA_FLAGS_ID := $(shell cat tools/llama_wheel.py <(echo '$(LLAMA_CMAKE_ARGS)') | sha256sum | cut -c1-8)
WHEELS := $(CACHE)/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(LLAMA_BUILD_NAME)-$(LLAMA_FLAGS_ID)
LLAMA_WHEEL := $(WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-py3-none-linux_$(ARCH).whl
STAMP := $(VENV)/.installed
PORT ?= 8501
TEST_MODELS := all-minilm-l6-v2 multilingual-e5-small smollm2-135m qwen2.5-coder-1.5b


.PHONY: help install models doctor run reindex browser-deps qemu-deps test test-fast lint fmt bench clean clean-llama

help:
	@echo "make run        set up, pull the default models, index data/sample, start the app on 127.0.0.1:$(PORT)"
	@echo "make test       set up, pull the test models, run every test (fast and slow)"
	@echo "make test-fast  unit tests only (fakes, no models)"
	@echo "make reindex SOURCES='dir1 dir2'   make the index mirror those folders (the nightly job)"
	@echo "make doctor     check that llama.cpp and each installed model run on this CPU (prompt and generation speed)"
	@echo "make lint | fmt | bench | clean | clean-llama (drop the cached llama-cpp-python wheel: rebuilt next time)"

$(STAMP): pyproject.toml Makefile $(LLAMA_WHEEL)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch 2.13.0 is the CPU build; any other version pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	@# the wheel, not whatever llama-cpp-python of the same version is installed or in pip's own cache
	$(PY) -m pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEEL)
	$(PY) -m pip install --quiet --find-links $(WHEELS) -e '.[dev]'
	@touch $@

# llama-cpp-python compiles from source (about 13 minutes on 2 cores: 14 CPU variants): built once into the
# cache (the folder's id covers the flags and tools/llama_wheel.py), never taken from pip's own cache
$(LLAMA_WHEEL):
	@echo "building llama-cpp-python $(LLAMA_CPP_VERSION) with $(LLAMA_CMAKE_ARGS) (minutes)"
	rm -rf $(WHEELS).part && mkdir -p $(WHEELS).part/built
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PYTHON) -m pip wheel --no-deps --no-cache-dir \
		--no-binary llama-cpp-python --wheel-dir $(WHEELS).part/built llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(PYTHON) tools/llama_wheel.py $(WHEELS).part/built/$(notdir $(LLAMA_WHEEL)) $(WHEELS).part
	rm -rf $(WHEELS).part/built $(WHEELS) && mv $(WHEELS).part $(WHEELS)

install: $(STAMP)

models: install
	$(RAGQA) models pull

# Loads llama.cpp and every installed model in child processes: a build that does not run on this CPU is one
# readable line here, not a crash in the middle of the app or the tests.
doctor: install
	$(RAGQA) doctor

run: models
	$(RAGQA) doctor
	$(RAGQA) ingest data/sample --if-empty
	$(RAGQA) app --port $(PORT)

# The nightly job: make the collection mirror SOURCES (see docs/nightly.md).
SOURCES ?= data/sample
reindex: models
	$(RAGQA) reindex $(SOURCES)

# The browser test drives Debian's Chromium (no browser download: Playwright only talks to it).
browser-deps:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else echo "the browser test needs Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# The portability test runs the llama.cpp build on emulated older CPUs with QEMU's user mode (Debian's qemu-user).
qemu-deps:
	@test "$(ARCH)" != x86_64 || command -v qemu-x86_64 >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user; \
		else echo "the portability test needs QEMU: sudo apt-get install qemu-user" >&2; fi; }

# The Chinese OCR test draws its page with Noto Sans CJK SC (SIL OFL), taken from the mplfonts wheel on PyPI
# (no font package is installed; the wheel and the font are cached) and checked by its sha256.
CJK_FONT := $(CACHE)/fonts/NotoSansCJKsc-Regular.otf
CJK_FONT_SHA256 := 1652500938055a232cfbfa321de6ebaadfc5635dd9f75e369bc991d14a6512dd
$(CJK_FONT): | install
	@mkdir -p $(CACHE)/downloads $(dir $@)
	$(PY) -m pip download --quiet --no-deps --dest $(CACHE)/downloads mplfonts==0.0.11
	$(PY) -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[3]))' \
		$(CACHE)/downloads/mplfonts-0.0.11-py3-none-any.whl $@.part mplfonts/fonts/NotoSansCJKsc-Regular.otf
	echo "$(CJK_FONT_SHA256)  $@.part" | sha256sum --check --quiet && mv $@.part $@

test: install browser-deps qemu-deps $(CJK_FONT)
	$(RAGQA) models pull $(TEST_MODELS)
	$(RAGQA) doctor
	REQUIRE_BROWSER_TEST=1 TEST_CJK_FONT=$(CJK_FONT) TEST_LLAMA_WHEEL=$(LLAMA_WHEEL) $(PY) -m pytest -q -ra

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy rag ingest app

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every figure of the speed goals in one run (about 1.5 hours on 2 cores); needs ../shared/datasets.
# Each script prints its figures beside their goal; the sec-10q index is kept in $(BENCH_DIR) for reuse.
SHARED ?= ../shared/datasets
BENCH_DIR ?= $(CACHE)/bench
bench: models
	$(PY) benchmarks/ingest_vs_naive.py $(SHARED)/sec-10q/docs
	$(PY) benchmarks/embedder_backends.py $(SHARED)/scifact
	$(RAGQA) ingest $(SHARED)/sec-10q/docs --index $(BENCH_DIR)/sec-10q
	$(PY) benchmarks/ttft.py $(BENCH_DIR)/sec-10q 20 3
	$(PY) benchmarks/ask_overhead.py 3
	$(PY) benchmarks/search_latency.py 10000 100000

clean:
	rm -rf $(VENV) data/index .pytest_cache .ruff_cache .mypy_cache

clean-llama:
	rm -rf $(WHEELS) $(WHEELS).part $(STAMP)
