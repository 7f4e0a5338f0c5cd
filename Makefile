# The two set-up commands of README.md:  `make book`  and  `make test`.
# Both create .venv, install torch ($(TORCH)) then requirements.txt and the package.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin

.PHONY: install book test chromium clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -r requirements.txt -e .
	touch $@

# Executes every chapter (profile auto: fast on a CPU, full on a GPU) and writes _build/html.
book: install
	EMERGENCE_PROGRESS=0 $(BIN)/jupyter-book build . --all -W -n --keep-going

# The fast-profile site (built as `make book` builds it), then the unit tests, the acceptance
# tests, every notebook under nbval and the headless-browser check of that site.  The build
# fills the run cache, so the tests and nbval do not train again.
test: export EMERGENCE_PROFILE := fast
test: install chromium book
	EMERGENCE_PROGRESS=0 $(BIN)/python -m pytest

# The browser for tests/test_site.py: Debian's Chromium, installed when missing and possible.
chromium:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	    || command -v google-chrome >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "tests/test_site.py needs Chromium: install it, or set CHROMIUM=/path/to/chrome"; fi

clean:
	rm -rf _build
