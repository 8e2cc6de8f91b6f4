# rmem: every build, test, demo, bench and install target.
#
#   make            build rmemd, rmemctl, rmem-bench, librmem, examples, tests,
#                   mm-bench
#   make test       install missing packages, build, run every test
#   make demo       run a program bigger than its local limit through rmemd
#   make asan-test  the tests under AddressSanitizer + UBSan (build-asan/)
#   make valgrind-test  the mm/ unit tests under valgrind
#   make bench      rmem-bench against a fresh rmemd, then mm-bench
#   make bench-compare  rmem against swap file, zram and memcached (root)
#   make run        rmemd in the foreground with its defaults
#   make install    PREFIX=/usr/local DESTDIR=

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
CFLAGS  ?= -O2 -g
SAN     ?=

PKGS      := libuv libprotobuf-c openssl numa liblz4
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) check 2>/dev/null)
LIBS_SERVER = $(shell pkg-config --libs libuv libprotobuf-c openssl numa liblz4 2>/dev/null)
LIBS_CLIENT = $(shell pkg-config --libs libprotobuf-c openssl 2>/dev/null)
LIBS_CHECK  = $(shell pkg-config --libs check 2>/dev/null)

WARN      := -std=c11 -Wall -Wextra -Wshadow -Werror
ALLCFLAGS  = $(WARN) $(CFLAGS) $(SAN) -fPIC -pthread -D_GNU_SOURCE \
             -Iproto -I$(BUILD)/gen $(PKG_CFLAGS)
LDFLAGS   += $(SAN) -pthread

GEN       := $(BUILD)/gen
PB_C      := $(GEN)/rmem.pb-c.c
PB_H      := $(GEN)/rmem.pb-c.h

PROTO_SRC  := proto/frame.c
MM_SRC     := $(wildcard mm/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
TOOLS_SRC  := client/rmemctl.c client/rmem-bench.c
LIB_SRC    := $(filter-out $(TOOLS_SRC),$(wildcard client/*.c))
EX_SRC     := $(wildcard client/examples/*.c)
UNIT_SRC   := $(wildcard tests/unit/*.c)
INTEG_SRC  := $(wildcard tests/integration/*.c)
TEST_SRC   := tests/runner.c $(UNIT_SRC) $(INTEG_SRC)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROTO_OBJ  := $(call obj,$(PROTO_SRC)) $(BUILD)/obj/gen/rmem.pb-c.o
MM_OBJ     := $(call obj,$(MM_SRC))
SERVER_OBJ := $(call obj,$(SERVER_SRC))
LIB_OBJ    := $(call obj,$(LIB_SRC))
TEST_OBJ   := $(call obj,$(TEST_SRC))

RMEMD      := $(BUILD)/rmemd
RMEMCTL    := $(BUILD)/rmemctl
BENCH      := $(BUILD)/rmem-bench
LIBSO      := $(BUILD)/librmem.so
LIBA       := $(BUILD)/librmem.a
EXAMPLES   := $(patsubst client/examples/%.c,$(BUILD)/examples/%,$(EX_SRC))
TESTS      := $(BUILD)/rmem-tests
MMBENCH    := $(BUILD)/mm-bench
LIBS_MM     = $(shell pkg-config --libs numa liblz4 2>/dev/null)

.PHONY: all deps test unit-test asan-test valgrind-test demo bench run \
        install clean
.SUFFIXES:

all: $(RMEMD) $(RMEMCTL) $(BENCH) $(LIBSO) $(LIBA) $(EXAMPLES) $(TESTS) $(MMBENCH)

deps:
	@sh deploy/install-deps.sh

# The suite list is generated from the test files so a new test file needs
# no edit elsewhere: every `Suite *name_suite(void)` is one suite.
$(GEN)/suites.h: $(UNIT_SRC) $(INTEG_SRC) | $(GEN)
	@{ for f in $(UNIT_SRC); do \
	     sed -n 's/^Suite \*\([a-z0-9_]*_suite\)(void).*/UNIT_SUITE(\1)/p' $$f; done; \
	   for f in $(INTEG_SRC); do \
	     sed -n 's/^Suite \*\([a-z0-9_]*_suite\)(void).*/INTEGRATION_SUITE(\1)/p' $$f; done; \
	 } > $@.tmp && mv $@.tmp $@

$(PB_C) $(PB_H): proto/rmem.proto | $(GEN)
	protoc-c --c_out=$(GEN) -Iproto proto/rmem.proto

$(GEN):
	@mkdir -p $@

$(BUILD)/obj/gen/rmem.pb-c.o: $(PB_C)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Wno-shadow -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.c $(GEN)/suites.h | $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -MMD -MP -Imm -Iserver -Iclient -Itests \
	    -DRMEM_BUILD_DIR='"$(abspath $(BUILD))"' -c $< -o $@

$(BUILD)/obj/client/examples/%.o: client/examples/%.c | $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -MMD -MP -Iclient -c $< -o $@

$(BUILD)/obj/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -MMD -MP -c $< -o $@

$(RMEMD): $(call obj,server/main.c) $(SERVER_OBJ) $(MM_OBJ) $(PROTO_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SERVER)

$(LIBA): $(LIB_OBJ) $(PROTO_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ) $(PROTO_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,librmem.so.1 -o $@ $^ $(LIBS_CLIENT)

$(RMEMCTL): $(call obj,client/rmemctl.c) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CLIENT)

$(BENCH): $(call obj,client/rmem-bench.c) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CLIENT) -lm

$(BUILD)/examples/%: $(BUILD)/obj/client/examples/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CLIENT)

$(TESTS): $(TEST_OBJ) $(SERVER_OBJ) $(MM_OBJ) $(LIB_OBJ) $(PROTO_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SERVER) $(LIBS_CHECK)

# mm/ microbenchmarks (buddy, slab, malloc side by side): mm/ alone.
$(MMBENCH): $(call obj,tests/bench/mm_bench.c) $(MM_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_MM)

# Every test: mm/ unit suites, then integration suites against a real rmemd.
# The runner ends with Check's summary line and exits non-zero on failure.
test: deps
	@$(MAKE) --no-print-directory all
	$(TESTS)

unit-test: all
	$(TESTS) --unit

asan-test: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:handle_sigbus=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    build-asan/rmem-tests

valgrind-test: deps
	@$(MAKE) --no-print-directory all
	CK_FORK=no valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
	    -q $(TESTS) --unit

demo: deps
	@$(MAKE) --no-print-directory all
	@sh client/examples/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@sh tests/bench/bench.sh $(BUILD)

run: all
	$(RMEMD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/rmem
	install -m 755 $(RMEMD) $(RMEMCTL) $(BENCH) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/librmem.so.1
	ln -sf librmem.so.1 $(DESTDIR)$(PREFIX)/lib/librmem.so
	install -m 644 client/rmem.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 deploy/rmemd.conf $(DESTDIR)$(PREFIX)/share/rmem/

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# rmem-bench's workloads, memcached pager and fault floor (tests/bench/*.c),
# and the side-by-side comparison with swap, zram and memcached (needs root).
BENCH_SRC := $(filter-out tests/bench/mm_bench.c,$(wildcard tests/bench/*.c))
$(BENCH): $(call obj,$(BENCH_SRC))
$(BENCH): LIBS_CLIENT += $(LIBA)

.PHONY: bench-compare
bench-compare:
	@[ "$$(id -u)" = 0 ] || { echo "bench-compare: needs root (swapon, zram, memory cgroups): run it as root, e.g. sudo make bench-compare" >&2; exit 1; }
	@sh deploy/install-deps.sh
	@sh deploy/install-deps.sh bench
	@$(MAKE) --no-print-directory all
	@bash tests/bench/compare.sh $(BUILD)
