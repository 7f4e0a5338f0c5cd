# The two set-up commands of README.md:  `make book`  and  `make test`.
# Both create .venv, install torch ($(TORCH)) then requirements.txt and the package.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin

.PHONY: install book test clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -r requirements.txt -e .
	touch $@

# Executes every chapter (profile auto: fast on a CPU, full on a GPU) and writes _build/html.
book: install
	EMERGENCE_PROGRESS=0 $(BIN)/jupyter-book build . --all -W -n --keep-going

# Unit tests, acceptance tests and every notebook under nbval, with the fast profile.
test: install
	EMERGENCE_PROFILE=fast EMERGENCE_PROGRESS=0 $(BIN)/python -m pytest

clean:
	rm -rf _build
