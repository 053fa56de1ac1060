# tandem's front door. Each target does its own setup on a fresh Debian machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_WERROR=ON

.PHONY: all bootstrap configure build test quickstart bench install deb clean format

all: build

bootstrap:
	@bash scripts/bootstrap

configure: bootstrap
	@cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS) >/dev/null

build: configure
	@ninja -C $(BUILD_DIR) -j $(JOBS)

# Unit, conformance and end-to-end tests through ctest.
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Brings up a control plane with a fresh home and walks through what exists.
quickstart: build
	@bash scripts/quickstart

bench: build
	@bash bench/run_all

# Installs under PREFIX (bin/, libexec/tandem/, include/tandem/, share/); DESTDIR is honoured.
PREFIX ?= /usr/local
install: build
	@cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# The Debian package, $(BUILD_DIR)/tandem_<version>_<arch>.deb (installs under /usr).
deb: build
	@cd $(BUILD_DIR) && cpack -G DEB

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
