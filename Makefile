# cutover — the two commands that matter: `make demo` and `make test`.
CARGO ?= cargo
BIN := target/release/cutover
DEMO_DIR := sandbox/drill

.PHONY: all build demo demo-pgbouncer drill test lint fmt bench clean report-check

all: build

build:
	$(CARGO) build --release

## A real cutover on a sandbox it sets up and tears down itself: two PostgreSQL
## clusters behind HAProxy, pgbench writing through it, the logical cutover
## playbook with progress, then the audit of the run.
demo: build
	bash scripts/demo.sh

## The same cutover with the application behind PgBouncer: pause, switch its
## entry, resume, with no failed query.
demo-pgbouncer: build
	DEMO_VIA=pgbouncer bash scripts/demo.sh

## The engine alone, with nothing but local files: a shell-only cutover drill.
drill: build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	@cp playbooks/drill.yaml $(DEMO_DIR)/drill.yaml
	@$(BIN) plan $(DEMO_DIR)/drill.yaml
	@$(BIN) run $(DEMO_DIR)/drill.yaml --dry-run --fail-at switch --output text || test $$? -eq 3
	@DRILL_TOKEN=demo-secret $(BIN) run $(DEMO_DIR)/drill.yaml --approve go-ahead --operator demo
	@$(BIN) audit show --state-dir $(DEMO_DIR)/.cutover $$(ls $(DEMO_DIR)/.cutover/runs | tail -n 1)

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
	$(CARGO) build --release --example write_probe --example connect_probe
	bash bench/engine.sh $(BIN)
	bash bench/downtime.sh
	bash bench/postgres_copy.sh $(BIN)
	bash bench/mysql_copy.sh $(BIN)
	bash bench/postgres_tls.sh $(BIN)
	bash bench/prewarm.sh $(BIN)
	bash bench/templates.sh $(BIN)
	bash bench/estimates.sh $(BIN)
	bash bench/store.sh $(BIN)

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
