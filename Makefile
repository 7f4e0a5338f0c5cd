# The two set-up commands of README.md:  `make book`  and  `make test`.
# Both create .venv, install torch ($(TORCH)) then requirements.txt (the package with its extras)
# at the versions pinned in constraints.txt.
PYTHON      ?= python3
VENV        ?= .venv
TORCH       ?= torch==2.13.0
# Empty: torch from the default index.  A PyTorch wheel index picks the build, e.g. the CPU-only
# one on Linux (no CUDA download): make book TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
BIN          = $(VENV)/bin

.PHONY: install book test portability constraints chromium clean

install: $(VENV)/.installed

# torch is installed on its own line, without the constraints: its version and build (CPU, CUDA,
# macOS) are the reader's choice, so constraints.txt pins neither it nor what only it needs.
$(VENV)/.installed: requirements.txt pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)") "$(TORCH)"
	$(BIN)/pip install --quiet -c constraints.txt -r requirements.txt
	touch $@

# Executes every chapter (profile auto: fast, or full where its GPU run is on record) and writes _build/html.
book: install
	EMERGENCE_PROGRESS=0 $(BIN)/jupyter-book build . --all -W -n --keep-going

# The fast-profile site (built as `make book` builds it), then the unit tests, the acceptance
# tests, every notebook under nbval and the headless-browser check of that site.  The build
# fills the run cache, so the tests and nbval do not train again.
test: export EMERGENCE_PROFILE := fast
test: install chromium book
	EMERGENCE_PROGRESS=0 $(BIN)/python -m pytest

# the portability audit: the acceptance tests over >= 6 seeds and two CPU kernel dispatches; about an hour on 2 cores
portability: install
	$(BIN)/python tests/portability.py

# constraints.txt pins every package of a green install, so a fresh clone resolves the same
# versions a year from now.  Update it deliberately: `make constraints` resolves the newest
# versions the ranges in pyproject.toml allow in a scratch venv and freezes them (minus this
# package, torch and what only torch needs); then `make test` from a fresh clone, and commit
# constraints.txt only if it passes.  The pins apply on the Python they were frozen with; other
# Pythons resolve the ranges.
CONSTRAINTS_VENV = _build/constraints-venv
TORCH_ONLY       = torch|triton|nvidia-.*|cuda-.*|sympy|mpmath|networkx|filelock|fsspec
constraints:
	rm -rf $(CONSTRAINTS_VENV)
	$(PYTHON) -m venv $(CONSTRAINTS_VENV)
	$(CONSTRAINTS_VENV)/bin/pip install --quiet $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)") "$(TORCH)"
	$(CONSTRAINTS_VENV)/bin/pip install --quiet -r requirements.txt
	py=$$($(CONSTRAINTS_VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	{ echo "# The versions of a green install, frozen by \`make constraints\` (Makefile: update deliberately)."; \
	  echo "# \`make install\` runs \`pip install -c constraints.txt -r requirements.txt\`.  Not pinned: this"; \
	  echo "# package, torch and what only torch needs (TORCH picks them).  The pins hold on Python $$py only."; \
	  $(CONSTRAINTS_VENV)/bin/pip freeze --exclude-editable | grep -v -i -E '^($(TORCH_ONLY))==' \
	    | sed "s/\$$/ ; python_version == \"$$py\"/"; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(CONSTRAINTS_VENV)

# The browser for tests/test_site.py: Debian's Chromium, installed when missing and possible.
chromium:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	    || command -v google-chrome >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "tests/test_site.py needs Chromium: install it, or set CHROMIUM=/path/to/chrome"; fi

clean:
	rm -rf _build
