# The failover bundle's commands. `make test` is what CI runs; it installs what it needs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
MUSL_TARGET := x86_64-unknown-linux-musl
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
RELEASE_DIR := $(TARGET_DIR)/$(MUSL_TARGET)/release
DIST := dist
PORT ?= 7071

# Each app: its binary and its function folders under function-specs/.
APPS := health-check watchdog activation
FUNCTIONS_health-check := health
FUNCTIONS_watchdog := watchdog status
FUNCTIONS_activation := activate ready

.PHONY: help
help:
	@echo "make run      run the primary app locally under 'bcdr host' (http://127.0.0.1:$(PORT)/api/health)"
	@echo "make test     build everything, package it, run every test (what CI runs)"
	@echo "make check    fmt, clippy with warnings denied, then test"
	@echo "make package  static release binaries and one zip per app in $(DIST)/"
	@echo "make bench    measure throughput, latency, start time, sizes and memory; run the watchdog simulation"
	@echo "make status-screenshot  render the watchdog status page in headless Chromium"

# --- local run ---------------------------------------------------------------------------

.PHONY: run
run: build
	@rm -rf $(TARGET_DIR)/apps/health-check
	@$(call assemble,$(TARGET_DIR)/apps/health-check,$(TARGET_DIR)/debug/health-check,$(FUNCTIONS_health-check),infra/local-plan.json)
	@echo "Starting the primary app (health-check) on the local plan; try:"
	@echo "  curl -s http://127.0.0.1:$(PORT)/api/health"
	$(TARGET_DIR)/debug/bcdr host $(TARGET_DIR)/apps/health-check --port $(PORT)

.PHONY: build
build:
	$(CARGO) build --workspace --bins

# --- packages ------------------------------------------------------------------------------

# assemble(dir, binary, functions, plan): the layout of a deployable function app.
define assemble
	mkdir -p $(1) && \
	cp host.json $(1)/host.json && \
	for f in $(3); do mkdir -p $(1)/$$f && cp function-specs/$$f/function.json $(1)/$$f/function.json; done && \
	cp $(2) $(1)/handler && chmod 0755 $(1)/handler && \
	cp $(4) $(1)/failover-plan.json
endef

.PHONY: musl-toolchain
musl-toolchain:
	@if ! rustup target list --installed 2>/dev/null | grep -qx $(MUSL_TARGET); then \
	  echo "installing the Rust target $(MUSL_TARGET)"; \
	  rustup target add $(MUSL_TARGET) || { echo "error: cannot install the Rust target $(MUSL_TARGET) (rustup target add failed)" >&2; exit 1; }; \
	fi
	@if ! command -v musl-gcc >/dev/null; then \
	  echo "installing musl-tools (the C compiler wrapper the TLS crate needs for a static build)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null; } || \
	    { echo "error: cannot install musl-tools with apt-get; install it (Debian package musl-tools) and run again" >&2; exit 1; }; \
	fi

.PHONY: package
package: musl-toolchain
	$(CARGO) build --release --target $(MUSL_TARGET) $(foreach a,$(APPS),-p $(a))
	@mkdir -p $(DIST)
	@for app in $(APPS); do \
	  rm -rf $(DIST)/$$app $(DIST)/$$app.zip; \
	done
	@$(foreach a,$(APPS),$(call assemble,$(DIST)/$(a),$(RELEASE_DIR)/$(a),$(FUNCTIONS_$(a)),infra/failover-plan.json) && \
	  (cd $(DIST)/$(a) && zip -q -X -r ../$(a).zip .) && echo "packaged $(DIST)/$(a).zip ($$(stat -c %s $(DIST)/$(a).zip) bytes)";)

# --- tests -------------------------------------------------------------------------------

.PHONY: test
test: build package azurite-install
	BCDR_DIST=$(CURDIR)/$(DIST) $(CARGO) test --workspace --no-fail-fast

.PHONY: check
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(MAKE) test

# --- Azurite (the Azure Storage emulator the state store tests start) ---------------------

AZURITE_DIR := tests/azurite

# Installs the version pinned by $(AZURITE_DIR)/package-lock.json, once.
.PHONY: azurite-install
azurite-install:
	@if [ ! -x $(AZURITE_DIR)/node_modules/.bin/azurite-blob ]; then \
	  command -v npm >/dev/null || { echo "error: npm is missing; install Node.js 20 or later (Azurite runs on it)" >&2; exit 1; }; \
	  echo "installing Azurite into $(AZURITE_DIR)/node_modules"; \
	  npm ci --prefix $(AZURITE_DIR) --no-fund --no-audit --loglevel=error || \
	    { echo "error: npm ci failed in $(AZURITE_DIR)" >&2; exit 1; }; \
	fi

# Runs Azurite in the foreground on the usual port, with its data in target/azurite.
.PHONY: azurite
azurite: azurite-install
	@mkdir -p target/azurite
	node $(AZURITE_DIR)/node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort 10000 \
	  --location target/azurite --skipApiVersionCheck --loose --disableTelemetry

# --- benchmarks ----------------------------------------------------------------------------

.PHONY: bench-tools
bench-tools:
	@if ! command -v wrk >/dev/null; then \
	  echo "installing wrk (load generator)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || \
	    { echo "error: cannot install wrk with apt-get" >&2; exit 1; }; \
	fi

.PHONY: bench
bench: package bench-tools
	$(CARGO) build --release -p bcdr-e2e --bin bench --bin bare-hyper --bin simulate
	$(TARGET_DIR)/release/bench --dist $(DIST) --release-dir $(RELEASE_DIR) --baseline $(TARGET_DIR)/release/bare-hyper
	@echo
	@echo "Watchdog fault simulation: the real decision core, default policy, 30 simulated days"
	$(TARGET_DIR)/release/simulate

.PHONY: clean
clean:
	$(CARGO) clean
	rm -rf $(DIST)

# --- status page screenshot ----------------------------------------------------------------

# Renders the watchdog's status page (as the status_page test leaves it after an outage story)
# in headless Chromium and keeps the screenshot for the docs.
STATUS_PAGE := $(abspath $(TARGET_DIR))/status-page.html
STATUS_PNG := handlers/watchdog/docs/status-page.png
CHROMIUM_FLAGS := --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars

.PHONY: chromium-install
chromium-install:
	@if ! command -v chromium >/dev/null; then \
	  echo "installing chromium (headless browser for the status page screenshot)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	    { echo "error: cannot install chromium with apt-get (needs root and Debian's package lists); install the Debian package chromium and run again" >&2; exit 1; }; \
	fi

.PHONY: status-screenshot
status-screenshot: chromium-install
	$(CARGO) test -p watchdog --test status_page
	@test -s $(STATUS_PAGE) || { echo "error: the test did not write $(STATUS_PAGE)" >&2; exit 1; }
	@mkdir -p $(dir $(STATUS_PNG)) && rm -f $(STATUS_PNG)
	@profile=$$(mktemp -d) && log=$$(mktemp) && trap 'rm -rf "$$profile" "$$log"' EXIT && \
	chromium $(CHROMIUM_FLAGS) --user-data-dir="$$profile" --window-size=1100,900 \
	  --screenshot=$(STATUS_PNG) file://$(STATUS_PAGE) >"$$log" 2>&1 || \
	  { echo "error: chromium could not take the screenshot:" >&2; cat "$$log" >&2; exit 1; }; \
	size=$$(stat -c %s $(STATUS_PNG) 2>/dev/null || echo 0); \
	if [ "$$size" -le 10240 ]; then echo "error: $(STATUS_PNG) is missing or too small ($$size bytes) to show the page" >&2; cat "$$log" >&2; exit 1; fi; \
	echo "wrote $(STATUS_PNG) ($$size bytes)"; \
	dom=$$(chromium $(CHROMIUM_FLAGS) --user-data-dir="$$profile" --dump-dom file://$(STATUS_PAGE) 2>"$$log") || \
	  { echo "error: chromium could not load the page:" >&2; cat "$$log" >&2; exit 1; }; \
	circles=$$(grep -o '<circle' <<<"$$dom" | wc -l); \
	if [ "$$circles" -eq 0 ] || ! grep -q '</svg>' <<<"$$dom"; then echo "error: the rendered page has no timeline (SVG with probe dots)" >&2; exit 1; fi; \
	echo "the rendered page's timeline has $$circles probe dots"
