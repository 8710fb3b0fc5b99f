# nimbus: `make up` serves the example app, `make test` checks everything, `make bench`
# measures. Every step that a fresh machine needs is here; nothing is done by hand.

CARGO ?= cargo
# Host and guests share ./target, and the example manifests, tests and bench scripts find the
# builds there, so a CARGO_TARGET_DIR set by the caller (environment or make argument) must not
# move them.
override export CARGO_TARGET_DIR := $(CURDIR)/target
LISTEN ?= 127.0.0.1:3000
APP ?= guests/apps/hello

.DELETE_ON_ERROR:

.PHONY: up test bench bench-tools fuzz setup guests rust-guests host host-release lint unit e2e clean-data node-deps tools js-toolchain py-toolchain js-types warm-cache mail-tools

## Install the wasm32-wasip2 target (idempotent).
setup:
	@command -v rustup >/dev/null || { echo "rustup is required (https://rustup.rs)"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

EXAMPLE := guests/apps/hello
LANGUAGE_GUESTS := target/guests/js-hello.wasm target/guests/js-todo.wasm \
	target/guests/py-hello.wasm target/guests/py-todo.wasm
JS_SDK := $(wildcard guests/sdk/js/*.js)
PY_SDK := $(wildcard guests/sdk/python/nimbus/*.py)
JS_TOOLCHAIN := guests/js/node_modules/.package-lock.json
PY_TOOLCHAIN := target/tools/python/.installed
MAIL_TOOLS := target/tools/python/.mail-installed
# What the world `nimbus build` writes for a JavaScript or Python guest is made of.
WORLD := $(wildcard wit/*.wit) host/src/guest_wit.rs

## Build every guest component: Rust (target/wasm32-wasip2/release/*.wasm), JavaScript and
## Python (target/guests/*.wasm, by `nimbus build` of the example app, which writes each
## component's WIT world from its grants first).
guests: rust-guests $(LANGUAGE_GUESTS)

rust-guests: setup
	cd guests && $(CARGO) build --release

target/guests/js-%.wasm: guests/js/%/app.js guests/js/build.sh $(JS_SDK) $(WORLD) $(EXAMPLE)/nimbus.toml $(JS_TOOLCHAIN) | host
	./target/debug/nimbus build $(EXAMPLE) --component js-$*

target/guests/py-%.wasm: guests/python/%/app.py guests/python/build.sh $(PY_SDK) $(WORLD) $(EXAMPLE)/nimbus.toml $(PY_TOOLCHAIN) | host
	./target/debug/nimbus build $(EXAMPLE) --component py-$*

## componentize-js, esbuild and jco, pinned by guests/js/package-lock.json.
js-toolchain: $(JS_TOOLCHAIN)
$(JS_TOOLCHAIN): guests/js/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js (20 or newer) and npm are required to build the JavaScript guests"; exit 1; }
	cd guests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## The TypeScript declarations of wit/ in guests/sdk/js/types must be what `jco types` makes.
js-types: $(JS_TOOLCHAIN)
	@out=$$(mktemp -d) && (cd guests/js && npx --no-install jco types ../../wit --world-name app --out-dir $$out >/dev/null) \
	  && diff -r $$out guests/sdk/js/types >/dev/null; status=$$?; rm -rf $$out; \
	  [ $$status -eq 0 ] || { echo "guests/sdk/js/types is out of date with wit/: run (cd guests/js && npx jco types ../../wit --world-name app --out-dir ../sdk/js/types)"; exit 1; }

## componentize-py in a virtual environment (target/tools/python), pinned by
## guests/python/requirements.txt.
py-toolchain: $(PY_TOOLCHAIN)
$(PY_TOOLCHAIN): guests/python/requirements.txt
	@command -v python3 >/dev/null || { echo "Python 3.10 or newer is required to build the Python guests"; exit 1; }
	@python3 -c 'import venv, ensurepip' 2>/dev/null || { echo "Python's venv module is required to build the Python guests (Debian: apt-get install python3-venv)"; exit 1; }
	test -x target/tools/python/bin/pip || python3 -m venv target/tools/python
	target/tools/python/bin/pip install --quiet --disable-pip-version-check -r guests/python/requirements.txt
	touch $@

## The SMTP server the email tests send through (aiosmtpd, in the same virtual environment),
## pinned by tests/mail/requirements.txt.
mail-tools: $(MAIL_TOOLS)
$(MAIL_TOOLS): tests/mail/requirements.txt $(PY_TOOLCHAIN)
	target/tools/python/bin/pip install --quiet --disable-pip-version-check -r tests/mail/requirements.txt
	touch $@

## Compile every example component into the end-to-end tests' shared code cache once, so that
## tests running side by side do not each compile the same large JavaScript or Python guest.
warm-cache: guests host
	@data=$$(mktemp -d) && ./target/debug/nimbus check $(EXAMPLE) --data $$data --cache-dir target/e2e-cache; status=$$?; rm -rf $$data; exit $$status

## The official Supabase JS clients, pinned by tests/supabase/package-lock.json.
node-deps:
	@command -v npm >/dev/null || { echo "Node.js and npm are required for the Supabase client test"; exit 1; }
	cd tests/supabase && npm ci --no-audit --no-fund --loglevel=error

## Tools the tests run: Prometheus' promtool (target/tools), unpacked from Debian's package.
tools:
	./scripts/promtool.sh >/dev/null

## Build the host (dev profile; dependencies are optimised, see Cargo.toml).
host:
	$(CARGO) build -p nimbus

host-release:
	$(CARGO) build --release -p nimbus

## Serve the example app on $(LISTEN) with embedded storage.
up: guests host
	./target/debug/nimbus up $(APP) --listen $(LISTEN)

## Formatting and lints, as CI enforces them.
lint: setup
	$(CARGO) fmt --all -- --check
	cd guests && $(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd guests && $(CARGO) clippy --release -- -D warnings

## Every test: lints, unit tests, and end-to-end tests against the real binary and guests.
test: guests lint js-types node-deps tools mail-tools warm-cache
	RUST_BACKTRACE=0 $(CARGO) test --workspace

## Benchmarks (not part of `make test`): load test against native and wasmtime baselines
## (bench/run.sh also runs the criterion bench of one invocation, for its ceiling), auth and
## storage through the HTTP API against an open route and dd, normal requests' latency under a
## slowloris attack against without one, a guest's key-value read against a direct redb read
## (bench/kv.sh), logs, metrics and metering on against all off (bench/observe.sh), queue
## throughput, event latency and the event log's cost (bench/events.py), guests in Rust,
## JavaScript and Python against workerd (bench/languages.sh), image transformations against
## downloading the original (bench/images.sh), a mail-sending endpoint against the same
## endpoint sending nothing (bench/mail.sh), and the criterion
## bench of token and password checks.
## wrk, which the bench scripts load the servers with, from Debian's package when missing.
bench-tools:
	@command -v wrk >/dev/null || { command -v apt-get >/dev/null && { apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }; }; } \
	  || { echo "wrk is needed to run the benchmarks (Debian: apt-get install wrk)"; exit 1; }

bench: guests host-release bench-tools
	./bench/run.sh
	./bench/cold.sh
	./bench/baas.sh
	./bench/slowloris.sh
	./bench/kv.sh
	./bench/observe.sh
	./bench/events.py
	./bench/languages.sh
	./bench/images.sh
	./bench/mail.sh
	RUST_BACKTRACE=0 $(CARGO) bench -p nimbus-auth --bench tokens

## Fuzz the manifest parser, the route matcher and object key validation for FUZZ_SECONDS each
## (cargo-fuzz needs a nightly toolchain; `make test` runs property tests of the same code on
## stable, with their regression files).
FUZZ_SECONDS ?= 60
fuzz:
	@cargo +nightly --version >/dev/null 2>&1 || { echo "make fuzz needs a nightly toolchain (rustup toolchain install nightly); make test runs the property tests of the same code on stable"; exit 1; }
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	for target in manifest routes object_key; do \
	  CARGO_TARGET_DIR=$(CURDIR)/target/fuzz cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done
