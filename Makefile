# petal - build, test, benchmark and demo.
#
#   make          build build/petal (and build/libpetal.a)
#   make deps     install the Debian packages petal needs (idempotent, non-interactive)
#   make test     everything below: unit tests, ASan+UBSan build, fuzz run, format check
#   make bench    speed figures (bench/)
#   make demo     the main job end to end
#   make models   download missing models into ./models (needs internet)

BUILD    ?= build
VARIANT  ?= release
TEST_DIR := tests

# Debian packages: build tools, libraries, and what the tests drive.
DEBIAN_PACKAGES := gcc make pkg-config clang libclang-rt-14-dev clang-format \
	libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libexif-dev libdnnl-dev \
	libcurl4-openssl-dev libmicrohttpd-dev libcjson-dev libssl-dev libcmocka-dev \
	flatbuffers-compiler libflatbuffers-dev g++ curl ca-certificates chromium

ifeq ($(VARIANT),asan)
  CC       := clang
  OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
  SANLINK  := -fsanitize=address,undefined
else ifeq ($(VARIANT),fuzz)
  CC       := clang
  OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=undefined -DPETAL_FUZZING
  SANLINK  := -fsanitize=address,undefined
else
  CC       ?= cc
  OPTFLAGS := -O2 -g
  SANLINK  :=
endif

CFLAGS_ALL := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-Isrc -pthread -MMD -MP $(OPTFLAGS) $(CFLAGS)
LIBS := -ljpeg -lpng -lwebp -lwebpdemux -lgif -lexif -ldnnl -lgomp -lcurl -lmicrohttpd \
	-lcjson -lcrypto -lm -lpthread

LIB_SRCS  := $(shell find src -name '*.c' ! -path 'src/cli/*' | sort)
CLI_SRCS  := $(shell find src/cli -name '*.c' | sort)
TEST_SRCS := $(shell find $(TEST_DIR) -name 'test_*.c' ! -path '*/fuzz/*' | sort)
COMMON_TEST_SRCS := $(shell find $(TEST_DIR)/common -name '*.c' | sort)
FUZZ_SRCS := $(shell find $(TEST_DIR)/fuzz -name 'fuzz_*.c' | sort)
BENCH_SRCS := $(shell find bench -name '*.c' | sort)

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
COMMON_TEST_OBJS := $(COMMON_TEST_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)
FUZZ_BINS := $(FUZZ_SRCS:$(TEST_DIR)/fuzz/%.c=$(BUILD)/fuzz/%)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)
LIBPETAL  := $(BUILD)/libpetal.a

.PHONY: all deps test test-unit test-asan test-fuzz check-format format bench demo models \
	fuzz-bins tests clean
.DEFAULT_GOAL := all
# Keep object files of tests between runs.
.SECONDARY:

all: $(BUILD)/petal

# V=1 shows the full compiler command lines.
ifeq ($(V),1)
  Q :=
  say := @true
else
  Q := @
  say := @printf '  %-6s %s\n'
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $@
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIBPETAL): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(say) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/petal: $(CLI_OBJS) $(LIBPETAL)
	$(say) LINK $@
	$(Q)$(CC) $(SANLINK) $(CLI_OBJS) $(LIBPETAL) $(LIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(COMMON_TEST_OBJS) $(LIBPETAL)
	@mkdir -p $(dir $@)
	$(say) TEST $@
	$(Q)$(CC) $(CFLAGS_ALL) -Itests $< $(COMMON_TEST_OBJS) $(LIBPETAL) -lcmocka $(LIBS) \
		$(SANLINK) -o $@

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(say) CC $@
	$(Q)$(CC) $(CFLAGS_ALL) -Itests -c $< -o $@

$(BUILD)/fuzz/%: $(TEST_DIR)/fuzz/%.c $(LIBPETAL)
	@mkdir -p $(dir $@)
	$(say) FUZZ $@
	$(Q)$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer $< $(LIBPETAL) $(LIBS) -o $@

$(BUILD)/bench/%: bench/%.c $(LIBPETAL)
	@mkdir -p $(dir $@)
	$(say) BENCH $@
	$(Q)$(CC) $(CFLAGS_ALL) -Ibench $< $(LIBPETAL) $(LIBS) -o $@

tests: $(BUILD)/petal $(TEST_BINS)
fuzz-bins: $(FUZZ_BINS)
bench-bins: $(BENCH_BINS)

deps:
	@sh tools/deps.sh $(DEBIAN_PACKAGES)

# The whole suite: release build + tests, ASan/UBSan build + tests, a short fuzz run and the
# format check. tools/run-tests.sh prints one summary line "N passed, N failed, N skipped".
# It ends with the wall time of the whole run, builds included.
test: deps
	@sh tools/fetch-models.sh models >/dev/null 2>&1 || \
		echo "petal: could not fetch every model; tests that need a missing one skip (fail under CI=true)"
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -j2 tests && \
	$(MAKE) --no-print-directory -j2 VARIANT=asan BUILD=$(BUILD)/asan tests && \
	$(MAKE) --no-print-directory -j2 VARIANT=fuzz BUILD=$(BUILD)/fuzzer fuzz-bins && \
	sh tools/run-tests.sh $(BUILD); \
	rc=$$?; echo "make test: $$(( $$(date +%s) - start )) s wall time"; exit $$rc

test-unit: tests
	@sh tools/run-tests.sh $(BUILD) unit

check-format:
	@sh tools/check-format.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

bench: deps
	@$(MAKE) --no-print-directory -j2 all bench-bins
	@sh tools/run-bench.sh $(BUILD)

# The demo needs the MobileNetV2 backbone: found in ./models, $PETAL_MODEL_DIR or
# ../shared/models, or downloaded (with its SHA-256 checked) on a machine with internet.
demo: deps
	@$(MAKE) --no-print-directory -j2 all
	@sh tools/fetch-models.sh models
	@sh tools/demo.sh $(BUILD)

models:
	@sh tools/fetch-models.sh models

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
