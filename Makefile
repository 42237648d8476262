# edgegen: `make train export` builds everything, `make test` checks it.
# Every target depends on the virtual environment, so each works on a fresh clone.

PYTHON_SYS ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
QUICK      ?= 0
# QUICK=1 is a tiny smoke run: it must never overwrite the shipped models or the
# committed reports, so its outputs default to scratch/ (RUNS=... etc. still win)
ifeq ($(QUICK),1)
QUICKFLAG  := --quick
SCRATCH    ?= scratch
RUNS       ?= $(SCRATCH)/runs
MODELS     ?= $(SCRATCH)/models
REPORTS    ?= $(SCRATCH)/reports
DATA       ?= $(SCRATCH)/data
endif
RUNS       ?= runs
MODELS     ?= edgegen/models
REPORTS    ?= reports
DATA       ?= data
# torch threads per training process; 1 is the safe choice on a shared 2-core machine
THREADS    ?= 1
JOBS       ?= 2
# torch threads of the work that runs alone after the parallel jobs: the drum report, and the
# letter style model (which trains after the GAN study)
ALONE_THREADS ?= 2
STYLE_THREADS ?= $(ALONE_THREADS)
# processes per machine for train-ddp (torchrun, DistributedDataParallel)
NPROC      ?= 2
TORCHRUN   := $(VENV)/bin/torchrun --standalone --nproc-per-node=$(NPROC)

export EDGEGEN_THREADS := $(THREADS)

# Debian font packages the letter style model trains on (DESIGN 3.1; keep in step with
# edgegen/training/letters/fonts.py ALLOWED_PACKAGES). Never the reserved ones (URW base35,
# Liberation, Noto, TeX Gyre, Croscore): those are for evaluation only.
FONT_PACKAGES := fonts-dejavu-extra fonts-freefont-ttf fonts-crosextra-carlito fonts-crosextra-caladea \
	fonts-open-sans fonts-roboto fonts-lato fonts-cantarell fonts-ebgaramond fonts-linuxlibertine \
	fonts-inconsolata fonts-comic-neue fonts-firacode fonts-league-spartan fonts-junicode fonts-cabin \
	fonts-hack fonts-adf-accanthis fonts-adf-gillius fonts-adf-baskervald fonts-adf-universalis \
	fonts-adf-verana fonts-adf-berenis fonts-adf-ikarius fonts-adf-libris fonts-adf-tribun \
	fonts-adf-mekanus fonts-adf-romande fonts-beteckna fonts-breip fonts-dkg-handwriting \
	fonts-humor-sans fonts-isabella fonts-jura fonts-oldstandard fonts-sil-gentium fonts-sil-charis \
	fonts-sil-andika fonts-quicksand fonts-yanone-kaffeesatz fonts-go fonts-courier-prime \
	fonts-averia-gwf fonts-kristi fonts-fantasque-sans fonts-blankenburg fonts-cmu fonts-lmodern

.PHONY: install data fonts train train-letters train-drums train-ddp export web test bench report clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON_SYS) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	# torch first and pinned: the CPU wheel; an unpinned torch pulls a multi-GB CUDA build
	$(VENV)/bin/pip install torch==2.13.0
	$(VENV)/bin/pip install -e '.[train,dev,font]'
	touch $@

install: $(VENV)/.installed

data: install
	$(PY) -m edgegen.training.letters data --data $(DATA)/letters $(QUICKFLAG)

# Installs the font packages that are missing (apt, as root); without root or apt it prints a
# note and the style model trains on the fonts already present. QUICK=1 needs none of them.
fonts:
	@missing=""; for p in $(FONT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "fonts: all $(words $(FONT_PACKAGES)) font packages installed"; \
	elif [ "$(QUICK)" = "1" ]; then echo "fonts: QUICK=1 uses matplotlib's fonts only; not installing$$missing"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		avail=""; for p in $$missing; do apt-cache show $$p >/dev/null 2>&1 && avail="$$avail $$p" || echo "fonts: no package $$p here; skipped"; done; \
		[ -z "$$avail" ] || apt-get install -y --no-install-recommends $$avail || echo "fonts: apt-get failed; continuing with the fonts present"; \
	else echo "fonts: not root (or no apt-get): not installing$$missing; training uses the fonts present"; fi

train: train-letters train-drums

train-letters: install fonts
	$(PY) -m edgegen.training.letters all --data $(DATA)/letters --fonts-data $(DATA)/fonts --runs $(RUNS)/letters --reports $(REPORTS)/letters --jobs $(JOBS) --style-threads $(STYLE_THREADS) $(QUICKFLAG)

train-drums: install
	$(PY) -m edgegen.training.drums all --runs $(RUNS)/drums --reports $(REPORTS)/drums --jobs $(JOBS) --report-threads $(ALONE_THREADS) $(QUICKFLAG)

# The default training under torchrun: NPROC processes on this machine, one model replica each.
train-ddp: install fonts
	$(TORCHRUN) -m edgegen.training.letters all --data $(DATA)/letters --fonts-data $(DATA)/fonts --runs $(RUNS)/letters --reports $(REPORTS)/letters $(QUICKFLAG)
	$(TORCHRUN) -m edgegen.training.drums all --runs $(RUNS)/drums --reports $(REPORTS)/drums $(QUICKFLAG)

export: install
	$(PY) -m edgegen.export all --runs $(RUNS) --out $(MODELS) $(QUICKFLAG)

# The web page's onnxruntime-web files: npm ci installs the version package-lock.json pins, and only the
# wasm-only ES module, its loader and the .wasm are copied next to the page (package data of edgegen.web).
WEB_VENDOR := edgegen/web/static/vendor
ORT_DIST   := node_modules/onnxruntime-web/dist
WEB_FILES  := ort.wasm.bundle.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm

$(WEB_VENDOR)/.copied: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(WEB_VENDOR)
	cp $(addprefix $(ORT_DIST)/,$(WEB_FILES)) $(WEB_VENDOR)/
	touch $@

web: $(WEB_VENDOR)/.copied

test: install web
	$(PY) -m pytest -q

bench: install web
	$(PY) scripts/bench_inference.py --runs $(RUNS) --out $(REPORTS)/bench.json
	$(PY) scripts/bench_playback.py --out $(REPORTS)/bench.json
	$(PY) scripts/bench_web.py --out $(REPORTS)/bench.json

report: install
	$(PY) -m edgegen.training.letters report --runs $(RUNS)/letters --reports $(REPORTS)/letters
	$(PY) -m edgegen.training.drums report --runs $(RUNS)/drums --reports $(REPORTS)/drums

clean:
	rm -rf $(RUNS) $(DATA) build dist *.egg-info .pytest_cache scratch node_modules $(WEB_VENDOR)
