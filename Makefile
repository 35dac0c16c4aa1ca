# The stable interface of this project; ./run installs what make needs on a
# fresh Debian machine, then calls these targets.
#   make demo               lab up, dry-run with diffs, deploy, per-host summary, VM smoke test
#   make smoke              boot a small VM on every KVM node of the lab (python -m report.smoke)
#   make test               the whole test suite (unit + live lab)
#   make lab-up [NODES=N] [PERSONAS="kvm04=minimal ..."]
#                           start the Docker lab (2 masters + N KVM nodes, each host
#                           a persona: lab/personas.py)
#   make lab-down           remove the lab

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYINFRA := $(VENV)/bin/pyinfra
NODES ?= 4
PERSONAS ?=
LAB_INVENTORY := lab/inventory.py

.PHONY: venv demo test unit lab-up lab-down report smoke bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed
	@# The project's modules compiled ahead (quick when up to date): where
	@# PYTHONDONTWRITEBYTECODE is set, as on this project's machines, every
	@# pyinfra run would otherwise compile them again (about 60 ms a run).
	@PYTHONDONTWRITEBYTECODE= $(PY) -m compileall -q cluster facts operations report lab >/dev/null

lab-up: venv
	$(PY) -m lab up --nodes $(NODES) $(foreach p,$(PERSONAS),--persona $(p))

lab-down: venv
	$(PY) -m lab down

demo: lab-up
	@echo "==> What the deploy would change (dry run, with diffs)"
	$(PYINFRA) $(LAB_INVENTORY) deploy.py --dry --diff
	@echo "==> Applying the deploy"
	$(PYINFRA) -y $(LAB_INVENTORY) deploy.py
	@echo "==> Per-host summary"
	$(PY) -m report.summary $(LAB_INVENTORY)
	@echo "==> A VM on every KVM node (smoke test)"
	$(PY) -m report.smoke $(LAB_INVENTORY)

report: venv
	$(PY) -m report.summary $(LAB_INVENTORY)

smoke: venv
	$(PY) -m report.smoke $(LAB_INVENTORY)

unit: venv
	$(PY) -m pytest -m 'not lab'

test: venv
	$(PY) -m pytest

bench: venv
	$(PY) -m lab.bench
