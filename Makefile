# Entry points of the course. `make help` lists them.
# The course runs in a virtual environment in .venv, created on first use with $(PYTHON).

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := notebooks,test,grading,site
SUBMISSIONS ?= submissions
CELL_TIMEOUT ?= 600
# The data set of the notebook runs, passed as VAE_COURSE_DATASET (default: that variable;
# empty is the offline default), e.g. make course DATASET=mnist
DATASET ?= $(VAE_COURSE_DATASET)
# CPU threads per notebook run, passed as VAE_COURSE_THREADS (1 is fastest for the small models on 2 cores)
THREADS ?= $(or $(VAE_COURSE_THREADS),1)

.DEFAULT_GOAL := help
.PHONY: help setup course figures site test lab student grade constraints clean

help:
	@echo "make course    set up .venv, run every notebook (default mode), build the website and slides in build/site/"
	@echo "               (all under build/: executed notebooks, figures, student version; git status stays clean)"
	@echo "make site      rebuild build/site/ from the executed notebooks of the last make course, without running them"
	@echo "make test      set up .venv, run the unit tests and every notebook in fast mode (pytest + nbval)"
	@echo "make lab       set up .venv, open JupyterLab on notebooks/"
	@echo "make figures   run every notebook (default mode) and write the committed figures/ folder"
	@echo "Options: DATASET=mnist (data set of the runs; empty: offline default), THREADS=1 (per notebook)"
	@echo "make student   release the student version of the notebooks (scripts/release.py)"
	@echo "make grade SUBMISSIONS=path [SCHEDULER=tcp://host:8786]   grade submissions in the sandbox, on Dask"
	@echo "make clean     remove build/ and release/"
	@echo "Python used to create .venv: PYTHON=$(PYTHON) (override: make course PYTHON=python3.12)"

$(VPY):
	@echo ">>> Creating the virtual environment $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when pyproject.toml or constraints.txt changed since the last install.
$(STAMP): pyproject.toml constraints.txt | $(VPY)
	@echo ">>> Installing vae-course[$(EXTRAS)] into $(VENV) (pinned by constraints.txt)"
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $@
	@echo ">>> $(VENV) is ready"

# The JavaScript the website serves (widget manager, require.js, reveal.js: site/package.json),
# fetched once with npm into build/js-cache/ (without npm the site falls back and has no slides).
JS := build/js-cache/.complete
$(JS): site/package.json | $(STAMP)
	$(VPY) scripts/build_site.py --fetch-js

setup: $(STAMP) $(JS)

# Both run every notebook with VAE_COURSE_DATASET=$(DATASET) and THREADS threads; course writes
# everything under build/ (figures in build/figures), figures writes the committed figures/.
COURSE_ENV = VAE_COURSE_DATASET="$(DATASET)" VAE_COURSE_THREADS="$(THREADS)"

course: $(STAMP) $(JS)
	@echo ">>> Running every notebook in the default mode (minutes on a laptop CPU), then building build/site/"
	$(COURSE_ENV) $(VPY) scripts/build_course.py --figures build/figures

figures: $(STAMP)
	@echo ">>> Running every notebook in the default mode to regenerate figures/"
	$(COURSE_ENV) $(VPY) scripts/build_course.py --figures figures --no-site

site: $(STAMP) $(JS)
	@echo ">>> Rebuilding build/site/ from build/executed/ (the notebooks are not run)"
	$(VPY) scripts/build_site.py

# One pytest run: unit tests in tests/ and every notebook under nbval, fast mode.
# Figures made by the tests go to build/test-figures, never to the committed figures/.
# pytest's exit status is also written to build/pytest-exit-status for .ci/run.
test: $(STAMP) $(JS)
	@echo ">>> Running the unit tests and every notebook (VAE_COURSE_FAST=1)"
	@mkdir -p build/test-figures
	@status=0; \
	OMP_NUM_THREADS=1 VAE_COURSE_FAST=1 VAE_COURSE_FIGURES="$(CURDIR)/build/test-figures" MPLBACKEND=Agg \
	  $(VPY) -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=$(CELL_TIMEOUT) tests notebooks || status=$$?; \
	echo $$status > build/pytest-exit-status; \
	if [ $$status -ne 0 ]; then echo ">>> pytest failed (exit status $$status)"; fi; \
	exit $$status

lab: $(STAMP)
	@echo ">>> Starting JupyterLab on notebooks/ (Ctrl-C to stop)"
	$(VPY) -m jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

student: $(STAMP)
	$(VPY) scripts/release.py

# Each notebook runs in a bubblewrap sandbox (install the Debian/Ubuntu package bubblewrap first: make
# installs nothing system-wide). SCHEDULER=tcp://host:8786 grades on a Dask cluster of several machines
# (README, "Grading on several machines"); empty: a LocalCluster with one worker per CPU here.
SCHEDULER ?=
grade: $(STAMP)
	$(VPY) scripts/grade.py "$(SUBMISSIONS)" $(if $(SCHEDULER),--scheduler "$(SCHEDULER)")

# Re-pin constraints.txt from the current .venv (after a dependency change and a green `make test`).
constraints: $(STAMP)
	@echo ">>> Writing constraints.txt from $(VENV)"
	@{ sed -n '1,3p' constraints.txt; \
	  $(VPY) -m pip freeze --exclude-editable | grep -v -i -E '^(vae[-_]course|torchvision)==' | sed -E 's/\+[A-Za-z0-9.]+$$//'; \
	  grep -A1 '^# Not installed' constraints.txt || true; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt

clean:
	@echo ">>> Removing build/ and release/"
	rm -rf build release
