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
# Local builds include `bcdr demo`; the operator's CLI alone (`cargo build -p bcdr`) leaves the
# simulation out.
DEMO_FEATURES := --features bcdr/demo

# Each app: its binary and its function folders under function-specs/.
APPS := health-check watchdog activation
# The watchdog on AWS Lambda: its binary becomes the zip's `bootstrap` (provided.al2023). It is
# built for x86_64, the same static musl target as the function apps: one toolchain and one
# C cross-compiler (musl-tools) for every package, and the function's `Architectures: [x86_64]`
# in infra/aws/ says the same. arm64 (Graviton) would cost a little less per invocation but needs
# an aarch64 musl C toolchain for the TLS crate; at one short invocation a minute the difference
# is cents a month.
LAMBDA_APP := watchdog-lambda
FUNCTIONS_health-check := health
FUNCTIONS_watchdog := watchdog status monitor badge
FUNCTIONS_activation := activate ready

.PHONY: help
help:
	@echo "make run      the whole story locally (bcdr demo): both regions, simulated Azure, an outage, failover, failback"
	@echo "              (make run PLAN=infra/local-plan-apim.json: behind an API Management pool instead of Traffic Manager)"
	@echo "make run-primary  the primary's health-check alone under 'bcdr host' (http://127.0.0.1:$(PORT)/api/health)"
	@echo "make test     build everything, package it, run every test (what CI runs)"
	@echo "make check    fmt, clippy with warnings denied, then test"
	@echo "make package  static release binaries and one zip per app in $(DIST)/ (and $(DIST)/watchdog-lambda.zip for AWS Lambda)"
	@echo "make bench    measure throughput, latency, start time, sizes and memory; run the watchdog simulation"
	@echo "make status-screenshot  render the watchdog status page in headless Chromium"
	@echo "make plan-schema  regenerate infra/failover-plan.schema.json from the plan's types"
	@echo "make checkov  lint infra/ (Bicep) with checkov; make settings-check: Bicep settings = what the binaries read"
	@echo "make cfn-lint  lint infra/aws/ (the Lambda watcher's CloudFormation) with cfn-lint"
	@echo "make what-if | deploy-primary | deploy-secondary   deploy to Azure (see README: Deploying to Azure)"
	@echo "make deploy-aws-watcher  deploy the watcher outside Azure on AWS Lambda (see README: The watcher outside Azure)"

# --- local run ---------------------------------------------------------------------------

.PHONY: run
run: build
	$(TARGET_DIR)/debug/bcdr demo --workdir $(TARGET_DIR)/demo $(if $(PLAN),--plan $(PLAN))

# The primary's app alone, on the local plan, until Ctrl-C.
.PHONY: run-primary
run-primary: build
	@rm -rf $(TARGET_DIR)/apps/health-check
	@$(call assemble,$(TARGET_DIR)/apps/health-check,$(TARGET_DIR)/debug/health-check,$(FUNCTIONS_health-check),infra/local-plan.json)
	@echo "Starting the primary app (health-check) on the local plan; try:"
	@echo "  curl -s http://127.0.0.1:$(PORT)/api/health"
	$(TARGET_DIR)/debug/bcdr host $(TARGET_DIR)/apps/health-check --port $(PORT)

.PHONY: build
build:
	$(CARGO) build --workspace --bins $(DEMO_FEATURES)

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
	$(CARGO) build --release --target $(MUSL_TARGET) $(foreach a,$(APPS) $(LAMBDA_APP),-p $(a))
	@mkdir -p $(DIST)
	@for app in $(APPS) $(LAMBDA_APP); do \
	  rm -rf $(DIST)/$$app $(DIST)/$$app.zip; \
	done
	@$(foreach a,$(APPS),$(call assemble,$(DIST)/$(a),$(RELEASE_DIR)/$(a),$(FUNCTIONS_$(a)),infra/failover-plan.json) && \
	  (cd $(DIST)/$(a) && zip -q -X -r ../$(a).zip .) && echo "packaged $(DIST)/$(a).zip ($$(stat -c %s $(DIST)/$(a).zip) bytes)";)
	@mkdir -p $(DIST)/$(LAMBDA_APP) && \
	  cp $(RELEASE_DIR)/$(LAMBDA_APP) $(DIST)/$(LAMBDA_APP)/bootstrap && chmod 0755 $(DIST)/$(LAMBDA_APP)/bootstrap && \
	  cp infra/failover-plan.json $(DIST)/$(LAMBDA_APP)/failover-plan.json && chmod 0644 $(DIST)/$(LAMBDA_APP)/failover-plan.json && \
	  (cd $(DIST)/$(LAMBDA_APP) && zip -q -X -r ../$(LAMBDA_APP).zip .) && \
	  echo "packaged $(DIST)/$(LAMBDA_APP).zip ($$(stat -c %s $(DIST)/$(LAMBDA_APP).zip) bytes; bootstrap for provided.al2023, x86_64)"

# --- tests -------------------------------------------------------------------------------

.PHONY: test
test: build package azurite-install checkov cfn-lint settings-check
	BCDR_DIST=$(CURDIR)/$(DIST) $(CARGO) test --workspace --no-fail-fast $(DEMO_FEATURES)

.PHONY: check
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets $(DEMO_FEATURES) -- -D warnings
	$(CARGO) clippy -p bcdr --all-targets -- -D warnings
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

# --- infrastructure: Bicep lint, settings cross-check, deployment --------------------------

# checkov parses and lints infra/ offline (no Bicep compiler is needed). It runs from a venv
# under .tools/, installed once per pinned version.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .tools/checkov-venv
CHECKOV_REPORT := $(TARGET_DIR)/checkov.json

.PHONY: checkov-install
checkov-install:
	@if [ "$$($(CHECKOV_VENV)/bin/checkov --version 2>/dev/null)" != "$(CHECKOV_VERSION)" ]; then \
	  command -v python3 >/dev/null || { echo "error: python3 is missing; install Python 3.9 or later (checkov runs on it)" >&2; exit 1; }; \
	  echo "installing checkov $(CHECKOV_VERSION) into $(CHECKOV_VENV) (about a minute, once)"; \
	  rm -rf $(CHECKOV_VENV); \
	  python3 -m venv $(CHECKOV_VENV) || { echo "error: python3 -m venv failed; on Debian install the python3-venv package" >&2; exit 1; }; \
	  $(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION) || \
	    { echo "error: pip could not install checkov==$(CHECKOV_VERSION) into $(CHECKOV_VENV)" >&2; rm -rf $(CHECKOV_VENV); exit 1; }; \
	fi

# Fails on any Bicep file checkov cannot parse and on any failed check that
# infra/checkov-skips.yaml does not accept with a reason (checkov's own exit code covers neither
# precisely: a parsing error leaves it unchanged).
.PHONY: checkov
checkov: checkov-install
	@mkdir -p $(dir $(CHECKOV_REPORT))
	@$(CHECKOV_VENV)/bin/checkov -d infra --framework bicep --skip-download -o json \
	  >$(CHECKOV_REPORT) 2>$(CHECKOV_REPORT).log || true
	@$(CHECKOV_VENV)/bin/python infra/checkov-gate.py $(CHECKOV_REPORT) infra/checkov-skips.yaml

# cfn-lint validates the Lambda watcher's CloudFormation template offline, against the AWS
# resource specification it bundles. From its own venv under .tools/, like checkov. Any error
# or warning fails; a rule skipped must be in infra/aws/.cfnlintrc with its reason.
CFN_LINT_VERSION := 1.58.0
CFN_LINT_VENV := .tools/cfn-lint-venv

.PHONY: cfn-lint-install
cfn-lint-install:
	@if [ "$$($(CFN_LINT_VENV)/bin/cfn-lint --version 2>/dev/null)" != "cfn-lint $(CFN_LINT_VERSION)" ]; then \
	  command -v python3 >/dev/null || { echo "error: python3 is missing; install Python 3.9 or later (cfn-lint runs on it)" >&2; exit 1; }; \
	  echo "installing cfn-lint $(CFN_LINT_VERSION) into $(CFN_LINT_VENV) (once)"; \
	  rm -rf $(CFN_LINT_VENV); \
	  python3 -m venv $(CFN_LINT_VENV) || { echo "error: python3 -m venv failed; on Debian install the python3-venv package" >&2; exit 1; }; \
	  $(CFN_LINT_VENV)/bin/pip install --quiet --disable-pip-version-check cfn-lint==$(CFN_LINT_VERSION) || \
	    { echo "error: pip could not install cfn-lint==$(CFN_LINT_VERSION) into $(CFN_LINT_VENV)" >&2; rm -rf $(CFN_LINT_VENV); exit 1; }; \
	fi

.PHONY: cfn-lint
cfn-lint: cfn-lint-install
	cd infra/aws && $(abspath $(CFN_LINT_VENV))/bin/cfn-lint --non-zero-exit-code informational -- *.yaml
	@echo "cfn-lint: infra/aws/ has no errors, warnings or findings"

# Every app setting a handler reads is set by the Bicep for that app, and nothing else is.
.PHONY: settings-check
settings-check:
	$(CARGO) test -p bcdr-e2e --test e2e infra::

# Deployment. Needs the Azure CLI logged in (`az login`), the Bicep CLI (`az bicep install`),
# both resource groups created, and the secrets in the environment (see README, "Deploying to
# Azure"). BCDR_PEER_REGION=down deploys one region while the other is out.
AZ ?= az
BCDR_PEER_REGION ?= up
export BCDR_PEER_REGION

define require-az
	command -v $(AZ) >/dev/null || { echo "error: the Azure CLI ($(AZ)) is missing: install it, then run az login and az bicep install" >&2; exit 1; }; \
	$(AZ) account show --output none 2>/dev/null || { echo "error: the Azure CLI is not logged in: run az login (and az account set --subscription ...)" >&2; exit 1; }
endef

# require-env(NAME...): each variable is set and not empty.
define require-env
	for v in $(1); do \
	  if [ -z "$${!v:-}" ]; then echo "error: $$v is not set (see README, Deploying to Azure)" >&2; exit 1; fi; \
	done
endef

# require-zip(app): the package from `make package`.
define require-zip
	test -s $(DIST)/$(1).zip || { echo "error: $(DIST)/$(1).zip is missing: make package builds it (is $(1) in APPS?)" >&2; exit 1; }
endef

# The settings that carry the plan's alert channel URLs (alerts.channels[].urlSetting).
ALERT_URL_SETTINGS = $(shell python3 -c 'import json; p = json.load(open("infra/failover-plan.json")); print(" ".join(c["urlSetting"] for c in p.get("alerts", {}).get("channels", [])))')

# deployment-output(rg, deployment, output)
deployment-output = $(AZ) deployment group show -g $(1) -n $(2) --query properties.outputs.$(3).value -o tsv

.PHONY: deploy-primary
deploy-primary: package
	@$(call require-az)
	@$(call require-env,BCDR_PRIMARY_RG BCDR_SECONDARY_RG BCDR_HEALTH_KEY)
	@$(call require-zip,health-check)
	@echo "deploying the primary region into $$BCDR_PRIMARY_RG (peer region $$BCDR_PEER_REGION)"
	$(AZ) deployment group create -g "$$BCDR_PRIMARY_RG" -n bcdr-primary \
	  -f infra/main.bicep -p infra/primary.bicepparam --output none
	@app=$$($(call deployment-output,"$$BCDR_PRIMARY_RG",bcdr-primary,healthCheckApp)) && \
	test -n "$$app" || { echo "error: the deployment bcdr-primary names no health-check app" >&2; exit 1; }; \
	echo "deploying $(DIST)/health-check.zip to $$app" && \
	$(AZ) functionapp deployment source config-zip -g "$$BCDR_PRIMARY_RG" -n "$$app" --src $(DIST)/health-check.zip --output none && \
	echo "registering the watchdog's function key (BCDR_HEALTH_KEY) on $$app" && \
	$(AZ) functionapp keys set -g "$$BCDR_PRIMARY_RG" -n "$$app" --key-type functionKeys --key-name bcdr-watchdog \
	  --key-value "$$BCDR_HEALTH_KEY" --output none && \
	echo "primary deployed: https://$$($(AZ) functionapp show -g "$$BCDR_PRIMARY_RG" -n "$$app" --query defaultHostName -o tsv)/api/health"

.PHONY: deploy-secondary
deploy-secondary: package
	@$(call require-az)
	@$(call require-env,BCDR_PRIMARY_RG BCDR_SECONDARY_RG BCDR_HEALTH_KEY BCDR_ACTIVATION_KEY BCDR_ACTIVATION_SECRET $(ALERT_URL_SETTINGS))
	@$(call require-zip,activation)
	@$(call require-zip,watchdog)
	@echo "deploying the secondary region into $$BCDR_SECONDARY_RG (peer region $$BCDR_PEER_REGION)"
	$(AZ) deployment group create -g "$$BCDR_SECONDARY_RG" -n bcdr-secondary \
	  -f infra/main.bicep -p infra/secondary.bicepparam --output none
	@activation=$$($(call deployment-output,"$$BCDR_SECONDARY_RG",bcdr-secondary,activationApp)) && \
	watchdog=$$($(call deployment-output,"$$BCDR_SECONDARY_RG",bcdr-secondary,watchdogApp)) && \
	test -n "$$activation" -a -n "$$watchdog" || { echo "error: the deployment bcdr-secondary names no watchdog or activation app" >&2; exit 1; }; \
	echo "deploying $(DIST)/activation.zip to $$activation" && \
	$(AZ) functionapp deployment source config-zip -g "$$BCDR_SECONDARY_RG" -n "$$activation" --src $(DIST)/activation.zip --output none && \
	echo "registering the watchdog's function key (BCDR_ACTIVATION_KEY) on $$activation" && \
	$(AZ) functionapp keys set -g "$$BCDR_SECONDARY_RG" -n "$$activation" --key-type functionKeys --key-name bcdr-watchdog \
	  --key-value "$$BCDR_ACTIVATION_KEY" --output none && \
	echo "deploying $(DIST)/watchdog.zip to $$watchdog" && \
	$(AZ) functionapp deployment source config-zip -g "$$BCDR_SECONDARY_RG" -n "$$watchdog" --src $(DIST)/watchdog.zip --output none && \
	for extra in $$($(AZ) deployment group show -g "$$BCDR_SECONDARY_RG" -n bcdr-secondary --query 'properties.outputs.extraWatcherApps.value[]' -o tsv); do \
	  echo "deploying $(DIST)/watchdog.zip to $$extra (another watcher)" && \
	  $(AZ) functionapp deployment source config-zip -g "$$BCDR_SECONDARY_RG" -n "$$extra" --src $(DIST)/watchdog.zip --output none || exit 1; \
	done && \
	echo "secondary deployed: watchdog $$watchdog (GET /api/status), activation $$activation"

# The watcher outside Azure, on AWS Lambda (infra/aws/watchdog-lambda.yaml). Needs the AWS CLI
# configured for the account and region, a bucket there for the package (BCDR_AWS_CODE_BUCKET),
# and the secondary deployed with BCDR_AWS_ISSUER and BCDR_AWS_WATCHER_ROLE_ARN set, which
# creates the identity it acts as (see README, "The watcher outside Azure").
AWS ?= aws
BCDR_AWS_WATCHER ?= bcdr-aws-watchdog

.PHONY: deploy-aws-watcher
deploy-aws-watcher: package
	@command -v $(AWS) >/dev/null || { echo "error: the AWS CLI ($(AWS)) is missing: install it and configure the account (aws configure)" >&2; exit 1; }
	@$(call require-az)
	@$(call require-env,BCDR_SECONDARY_RG BCDR_AWS_CODE_BUCKET BCDR_HEALTH_KEY BCDR_ACTIVATION_KEY BCDR_ACTIVATION_SECRET)
	@$(call require-zip,watchdog-lambda)
	@client=$$($(call deployment-output,"$$BCDR_SECONDARY_RG",bcdr-secondary,awsWatcherClientId)) && \
	tenant=$$($(call deployment-output,"$$BCDR_SECONDARY_RG",bcdr-secondary,tenantId)) && \
	state=$$($(call deployment-output,"$$BCDR_SECONDARY_RG",bcdr-secondary,stateUrl)) && \
	activation=$$($(call deployment-output,"$$BCDR_SECONDARY_RG",bcdr-secondary,activationUrl)) && \
	test -n "$$client" || { echo "error: the deployment bcdr-secondary has no AWS watcher identity: set BCDR_AWS_ISSUER and BCDR_AWS_WATCHER_ROLE_ARN and run make deploy-secondary" >&2; exit 1; }; \
	key="bcdr/watchdog-lambda-$$(sha256sum $(DIST)/watchdog-lambda.zip | cut -c1-16).zip" && \
	echo "uploading $(DIST)/watchdog-lambda.zip to s3://$$BCDR_AWS_CODE_BUCKET/$$key" && \
	$(AWS) s3 cp --only-show-errors $(DIST)/watchdog-lambda.zip "s3://$$BCDR_AWS_CODE_BUCKET/$$key" && \
	echo "deploying the stack $(BCDR_AWS_WATCHER) (the function, its schedule, role, logs and alarms)" && \
	$(AWS) cloudformation deploy --stack-name $(BCDR_AWS_WATCHER) --template-file infra/aws/watchdog-lambda.yaml \
	  --capabilities CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset --parameter-overrides \
	  CodeBucket="$$BCDR_AWS_CODE_BUCKET" CodeKey="$$key" WatcherName=$(BCDR_AWS_WATCHER) \
	  StateContainerUrl="$$state" AzureTenantId="$$tenant" AzureClientId="$$client" ActivationUrl="$$activation" \
	  ActivationKey="$$BCDR_ACTIVATION_KEY" ActivationSecret="$$BCDR_ACTIVATION_SECRET" HealthKey="$$BCDR_HEALTH_KEY" \
	  AlertTeamsUrl="$${BCDR_ALERT_TEAMS_URL:-}" AlertWebhookUrl="$${BCDR_ALERT_WEBHOOK_URL:-}" && \
	echo "AWS watcher deployed: $(BCDR_AWS_WATCHER) (logs: /aws/lambda/$(BCDR_AWS_WATCHER))"

# What a deployment of each region would change, without changing anything.
.PHONY: what-if
what-if:
	@$(call require-az)
	@$(call require-env,BCDR_PRIMARY_RG BCDR_SECONDARY_RG BCDR_HEALTH_KEY BCDR_ACTIVATION_KEY BCDR_ACTIVATION_SECRET $(ALERT_URL_SETTINGS))
	$(AZ) deployment group what-if -g "$$BCDR_PRIMARY_RG" -n bcdr-primary -f infra/main.bicep -p infra/primary.bicepparam
	$(AZ) deployment group what-if -g "$$BCDR_SECONDARY_RG" -n bcdr-secondary -f infra/main.bicep -p infra/secondary.bicepparam

# --- plan schema ---------------------------------------------------------------------------

# Regenerates the plan's JSON Schema from the Rust types; a bcdr-core test fails while the
# committed file differs.
.PHONY: plan-schema
plan-schema:
	$(CARGO) run -q -p bcdr $(DEMO_FEATURES) -- plan schema > infra/failover-plan.schema.json.tmp
	mv infra/failover-plan.schema.json.tmp infra/failover-plan.schema.json
	@echo "wrote infra/failover-plan.schema.json"
