# Build, test and run the tier router module.
#
# The module is built against the headers of Debian's packaged nginx
# (nginx-dev) with --with-compat, so the stock /usr/sbin/nginx loads it.

SHELL :=	/bin/bash
NGX_SRC ?=	/usr/share/nginx/src
BUILD ?=	build
CC ?=		cc
CFLAGS ?=	-O2 -g
WARN :=		-Wall -Wextra -Wno-unused-parameter -Werror
MOD :=		ngx_http_tier_router_module
CORE :=		$(MOD)/core
# the pure core: one static library for the CLIs, the unit tests and the
# fuzzers; tr_fetch.c (libcurl) apart, linked only where it is used
CORE_SRCS :=	$(filter-out $(CORE)/tr_fetch.c,$(wildcard $(CORE)/tr_*.c))
CORE_HDRS :=	$(wildcard $(CORE)/tr_*.h)
CORE_LIB :=	$(BUILD)/core/libtr_core.a
CORE_LIBS :=	$(CORE_LIB) -ljansson -lm
FETCH_OBJ :=	$(BUILD)/core/tr_fetch.o

.PHONY: all module cli unit deps test run stop bench clean model validate speed \
		check-weights \
		fuzz fuzz-build deb

all: module cli unit

module: $(BUILD)/$(MOD).so

$(BUILD)/nginx/objs/Makefile: config
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags \
	    && ./configure "$${NGX_CONF_FLAGS[@]}" \
	       --with-cc-opt="-O2 -g -Werror" \
	       --add-dynamic-module=$(CURDIR) --builddir=objs > configure.log

$(BUILD)/$(MOD).so: $(BUILD)/nginx/objs/Makefile \
		$(wildcard $(MOD)/core/*.[ch] $(MOD)/ngx/*.[ch])
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/$(MOD).so $@

cli: $(BUILD)/tier-router-classify $(BUILD)/tier-router-train \
	$(BUILD)/tier-router-fit \
	$(BUILD)/tier-router-speed

$(BUILD)/core/%.o: $(CORE)/%.c $(CORE_HDRS)
	mkdir -p $(BUILD)/core
	$(CC) $(CFLAGS) $(WARN) -I$(CORE) -c -o $@ $<

$(CORE_LIB): $(patsubst $(CORE)/%.c,$(BUILD)/core/%.o,$(CORE_SRCS))
	rm -f $@
	ar rcs $@ $^

$(BUILD)/tier-router-%: tools/tier_router_%.c $(CORE_LIB) $(CORE_HDRS)
	$(CC) $(CFLAGS) $(WARN) -I$(CORE) -o $@ $< $(CORE_LIBS)

# libFuzzer targets (clang), with AddressSanitizer and UBSan
FUZZ_CC ?=	clang
FUZZ_FLAGS :=	-g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined
FUZZ_TARGETS :=	$(patsubst fuzz/fuzz_%.c,$(BUILD)/fuzz/fuzz_%,\
		$(wildcard fuzz/fuzz_*.c))

fuzz-build: $(FUZZ_TARGETS)

FUZZ_OBJS :=	$(patsubst $(CORE)/%.c,$(BUILD)/fuzz/core/%.o,$(CORE_SRCS))

$(BUILD)/fuzz/core/%.o: $(CORE)/%.c $(CORE_HDRS)
	mkdir -p $(BUILD)/fuzz/core
	$(FUZZ_CC) $(FUZZ_FLAGS) $(WARN) -I$(CORE) -c -o $@ $<

$(BUILD)/fuzz/libtr_core.a: $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(BUILD)/fuzz/libtr_core.a $(CORE_HDRS)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(WARN) -I$(CORE) -o $@ $< \
	    $(BUILD)/fuzz/libtr_core.a -ljansson -lm

# each target for FUZZ_SECONDS (60), from its corpus in fuzz/corpus
fuzz: fuzz-build
	./scripts/fuzz.sh

UNIT_TESTS :=	$(patsubst t/unit/%.c,$(BUILD)/%,$(wildcard t/unit/test_*.c))

unit: $(UNIT_TESTS)

$(BUILD)/test_%: t/unit/test_%.c $(CORE_LIB) $(CORE_HDRS) t/unit/unit.h
	$(CC) $(CFLAGS) $(WARN) -I$(CORE) -It/unit -o $@ $< $(TEST_EXTRA) \
	    $(CORE_LIBS)

# the catalog's tests fetch it too
$(BUILD)/test_price: TEST_EXTRA = $(FETCH_OBJ) -lcurl
$(BUILD)/test_price: $(FETCH_OBJ)

# the shipped weights, again (t/model.t checks they are the same bytes)
model: $(BUILD)/tier-router-train
	$(BUILD)/tier-router-train t/data/routing/gsm8k_dev.jsonl \
	    t/data/routing/mmlu_dev.jsonl > models/default.json

# the answer checks' weights on the project's corpus, with the held-out
# APGR; the numbers go into tr_check_math_default (core/tr_check.c)
check-weights: $(BUILD)/tier-router-fit
	perl tools/tier-router-check-corpus > t/data/checks/math.jsonl
	$(BUILD)/tier-router-fit t/data/checks/math.jsonl

# the classifier and the model per KB, beside a jansson parse
speed: cli
	$(BUILD)/tier-router-speed --model models/default.json \
	    t/data/routing/gsm8k_dev.jsonl
	$(BUILD)/tier-router-speed --model models/default.json \
	    t/data/routing/mmlu_dev.jsonl

# the learned scorer on the half of the data it was not trained on
validate: cli
	./scripts/validate-model.sh

deps:
	./scripts/deps.sh --tests

# the Debian package libnginx-mod-http-tier-router (debian/,
# docs/packaging.md), built with dpkg-buildpackage from a copy of the
# tracked files in $(BUILD)/deb/src, so that the tree keeps no build
# leftovers: the .deb, .buildinfo and .changes land in $(BUILD)/deb,
# lintian's verdict (no error, no warning) in $(BUILD)/deb/lintian.txt.
# Built again only when a tracked file is newer.
DEB_DIR :=	$(BUILD)/deb
DEB_FILES :=	$(wildcard $(shell git ls-files 2>/dev/null))

deb: $(DEB_DIR)/.built

$(DEB_DIR)/.built: $(DEB_FILES)
	./scripts/deps.sh --deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	git ls-files -z | tar -c --null -T - -f - | tar -x -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b --jobs=auto \
	    > ../build.log 2>&1 || { tail -30 ../build.log; exit 1; }
	lintian --fail-on error,warning $(DEB_DIR)/*.changes \
	    > $(DEB_DIR)/lintian.txt 2>&1 \
	    || { cat $(DEB_DIR)/lintian.txt; exit 1; }
	ls $(DEB_DIR)/*.deb
	touch $@

test: all
	prove -r t/

run: all
	./scripts/run-example.sh

stop:
	./scripts/run-example.sh stop

bench: all
	./bench/run.sh

clean:
	rm -rf $(BUILD)
