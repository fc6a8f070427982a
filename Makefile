# cutover — the two commands that matter: `make demo` and `make test`.
CARGO ?= cargo
BIN := target/release/cutover
DEMO_DIR := sandbox/demo

.PHONY: all build demo test lint fmt bench clean report-check

all: build

build:
	$(CARGO) build --release

## A real run on a local sandbox: a shell-only drill with maintenance mode,
## a checkpoint, an approval gate, then the audit of the run.
demo: build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	@cp playbooks/drill.yaml $(DEMO_DIR)/drill.yaml
	@echo "== plan =="
	@$(BIN) plan $(DEMO_DIR)/drill.yaml
	@echo; echo "== dry run, rehearsing a failure at 'switch' =="
	@$(BIN) run $(DEMO_DIR)/drill.yaml --dry-run --fail-at switch --output text || test $$? -eq 3
	@echo; echo "== live run =="
	@DRILL_TOKEN=demo-secret $(BIN) run $(DEMO_DIR)/drill.yaml --approve go-ahead --operator demo
	@echo; echo "== audit =="
	@$(BIN) audit list --state-dir $(DEMO_DIR)/.cutover
	@$(BIN) audit show --state-dir $(DEMO_DIR)/.cutover $$(ls $(DEMO_DIR)/.cutover/runs | tail -n 1)
	@$(BIN) audit verify --state-dir $(DEMO_DIR)/.cutover $$(ls $(DEMO_DIR)/.cutover/runs | tail -n 1)

## fmt check + clippy (warnings are errors) + every test.
test:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --all-targets

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

## Engine overhead and validate/plan speed; figures go to docs/benchmarks.md.
bench: build
	bash bench/engine.sh $(BIN)

## Renders the HTML audit report of a drill run and screenshots it in headless
## Chromium (Debian package `chromium`), to look at: sandbox/report.png.
report-check: build
	@rm -rf sandbox/report && mkdir -p sandbox/report && cp playbooks/drill.yaml sandbox/report/
	@$(BIN) run sandbox/report/drill.yaml --dry-run --fail-at smoke --output text >/dev/null || true
	@DRILL_TOKEN=drill-token $(BIN) run sandbox/report/drill.yaml --approve go-ahead --output text >/dev/null
	@$(BIN) audit report --state-dir sandbox/report/.cutover $$(ls sandbox/report/.cutover/runs | tail -n 1) --out sandbox/report/report.html
	@chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
	  --disable-component-update --disable-sync --user-data-dir=$$(mktemp -d) --window-size=1000,1200 \
	  --screenshot=$(CURDIR)/sandbox/report.png file://$(CURDIR)/sandbox/report/report.html 2>/dev/null
	@echo "screenshot: sandbox/report.png"

clean:
	rm -rf sandbox
