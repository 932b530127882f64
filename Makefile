# bootapp: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what is missing (Debian packages via apt-get, the kernel and
# systemd-boot .debs via apt-get download into the cache).

GO ?= go
export BOOTAPP_CACHE ?= $(HOME)/.cache/bootapp
DEMO_OUT ?= output/hello
E2E_TIMEOUT ?= 50m
TESTSUMMARY ?= bin/testsummary

.PHONY: all deps demo demo-node demo-java demo-build test check e2e bench fmt vet generate clean fuzz fuzz-short race

all: check

## deps: install host tools (qemu, ovmf, e2fsprogs, dosfstools, mtools) and fetch the kernel.
deps:
	./scripts/deps.sh

## demo: build examples/hello into an image and boot it in QEMU (Ctrl-C stops it cleanly).
demo: deps demo-build
	@echo
	@echo "Booting $(DEMO_OUT) in QEMU. When the app is up: curl http://127.0.0.1:8080/"
	@echo "Ctrl-C powers the VM off (ACPI). Run 'make demo' again: the count survives, it lives on $(DEMO_OUT)/hello-data.raw."
	bin/mkbootapp run $(DEMO_OUT)

## demo-node, demo-java: the same for examples/node (npm ci, the node
## runtime) and examples/java (javac and jar, the java runtime); the runtimes
## come from the cache that `make deps` fills (mkbootapp fetch --runtime).
demo-node: deps
	$(GO) build -o bin/mkbootapp ./cmd/mkbootapp
	cd examples/node && npm ci --omit=dev --no-audit --no-fund
	bin/mkbootapp build --app examples/node --port 8080 --health-path /healthz -o output/node
	@echo "Booting output/node. When the app is up: curl http://127.0.0.1:8080/"
	bin/mkbootapp run output/node

demo-java: deps
	$(GO) build -o bin/mkbootapp ./cmd/mkbootapp
	examples/java/build.sh output/java-jar
	bin/mkbootapp build --app output/java-jar/app.jar --port 8080 --health-path /healthz -o output/java
	@echo "Booting output/java. When the app is up: curl http://127.0.0.1:8080/"
	bin/mkbootapp run output/java

demo-build:
	$(GO) build -o bin/mkbootapp ./cmd/mkbootapp
	CGO_ENABLED=0 $(GO) build -o bin/hello ./examples/hello
	bin/mkbootapp build --app bin/hello --port 8080 --health-path /healthz -o $(DEMO_OUT)

## test: the whole suite, end-to-end boots in QEMU included (what CI runs). It
## prints each package's result and the output of failed tests, then the skipped
## tests with their reasons, and ends with one line "N passed, N failed, N skipped"
## (internal/cmd/testsummary reads go test -json); it fails when anything failed.
# TEST_P packages run at once (go test -p): two keep both of CI's cores busy
# (a TCG guest runs on one host thread) and halve the suite's time; more would
# start more guests than cores. The longest package, builder, takes about 11
# minutes on its own.
TEST_P ?= 2
test: deps vet fmt race
	$(GO) build -o $(TESTSUMMARY) ./internal/cmd/testsummary
	BOOTAPP_E2E=1 $(GO) test -json -count=1 -p $(TEST_P) -timeout $(E2E_TIMEOUT) ./... 2>&1 | $(TESTSUMMARY)

## check: fast checks only (no QEMU boots).
# The portable run forces the non-Linux code paths (extents of the whole
# file, read/write copies, no hole punching) on Linux; the cross builds and
# vets keep macOS and Windows compiling.
check: vet fmt
	$(GO) test ./...
	$(GO) test -tags bootapp_portable ./image/... ./internal/blocks/...
	GOOS=darwin $(GO) build ./... && GOOS=windows $(GO) build ./...
	GOOS=darwin $(GO) vet ./... && GOOS=windows $(GO) vet ./...

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: every fuzz target for FUZZTIME each (default 5s), one at a time;
## stops at the first failure and names the reproducer (scripts/fuzz.sh).
.PHONY: fuzz race
fuzz:
	./scripts/fuzz.sh

# fuzz-short: every fuzz target for 2 s. Not part of make test: random
# inputs would make CI's answer change from run to run; the inputs fuzzing
# found are kept in testdata/fuzz and go test runs them on every run.
fuzz-short:
	FUZZTIME=2s ./scripts/fuzz.sh

## race: the fast tests of the packages that run goroutines, under the race
## detector (no QEMU boots). Skipped: TestResourceUse (its RSS budget does
## not hold with the detector's shadow memory) and internal/deb's
## TestRealPackages (decoding the real kernel package takes minutes under
## the detector; TestParallelXZ* race the same decoder on synthetic data).
# image/internal/deflate starts no goroutine (vmdk and gce run it in
# parallel and are checked): under the detector its exhaustive edge-case
# tests take a minute and a half for nothing.
RACE_PKGS ?= $(shell $(GO) list ./builder/... ./image/... ./internal/qemu/... ./initramfs/... ./internal/deb/... ./kernel/... ./cmd/mkbootapp/... ./cmd/bootapp-init/... | grep -v /image/internal/deflate)
race:
	env -u BOOTAPP_E2E $(GO) test -race -count=1 -p $(TEST_P) -skip '^(TestResourceUse|TestRealPackages)$$' $(RACE_PKGS)

## bench: build-time, size and encoder benchmarks (writes docs/benchmarks.md).
bench: deps
	./scripts/bench.sh

## generate: rebuild the embedded guest init and the Packer HCL2 spec.
generate:
	$(GO) generate ./internal/initbin/... ./packer-plugin/...

clean:
	rm -rf output bin
