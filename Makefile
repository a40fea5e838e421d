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
PURE_SRCS :=	$(MOD)/ngx_http_tier_router_extract.c \
		$(MOD)/ngx_http_tier_router_classify.c \
		$(MOD)/ngx_http_tier_router_rewrite.c \
		$(MOD)/ngx_http_tier_router_usage.c \
		$(MOD)/ngx_http_tier_router_price.c \
		$(MOD)/ngx_http_tier_router_hash.c \
		$(MOD)/ngx_http_tier_router_calibrate.c \
		$(MOD)/ngx_http_tier_router_model.c \
		$(MOD)/ngx_http_tier_router_state_schema.c
PURE_DEPS :=	$(PURE_SRCS:.c=.h)

.PHONY: all module cli unit deps test run stop bench clean model validate speed \
		fuzz fuzz-build

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

$(BUILD)/$(MOD).so: $(BUILD)/nginx/objs/Makefile $(wildcard $(MOD)/*.[ch])
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/$(MOD).so $@

cli: $(BUILD)/tier-router-classify $(BUILD)/tier-router-train \
	$(BUILD)/tier-router-speed

$(BUILD)/tier-router-classify: tools/tier_router_classify.c $(PURE_SRCS) \
		$(PURE_DEPS)
	mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I$(MOD) -o $@ tools/tier_router_classify.c \
	    $(PURE_SRCS) -ljansson -lcurl -lm

$(BUILD)/tier-router-train: tools/tier_router_train.c $(PURE_SRCS) \
		$(PURE_DEPS)
	mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I$(MOD) -o $@ tools/tier_router_train.c \
	    $(PURE_SRCS) -ljansson -lcurl -lm

$(BUILD)/tier-router-speed: tools/tier_router_speed.c $(PURE_SRCS) \
		$(PURE_DEPS)
	mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I$(MOD) -o $@ tools/tier_router_speed.c \
	    $(PURE_SRCS) -ljansson -lcurl -lm

# libFuzzer targets (clang), with AddressSanitizer and UBSan
FUZZ_CC ?=	clang
FUZZ_FLAGS :=	-g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined
FUZZ_TARGETS :=	$(patsubst fuzz/fuzz_%.c,$(BUILD)/fuzz/fuzz_%,\
		$(wildcard fuzz/fuzz_*.c))

fuzz-build: $(FUZZ_TARGETS)

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(PURE_SRCS) $(PURE_DEPS)
	mkdir -p $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $(WARN) -I$(MOD) -o $@ $< $(PURE_SRCS) \
	    -ljansson -lcurl -lm

# each target for FUZZ_SECONDS (60), from its corpus in fuzz/corpus
fuzz: fuzz-build
	./scripts/fuzz.sh

UNIT_TESTS :=	$(patsubst t/unit/%.c,$(BUILD)/%,$(wildcard t/unit/test_*.c))

unit: $(UNIT_TESTS)

$(BUILD)/test_%: t/unit/test_%.c $(PURE_SRCS) $(PURE_DEPS) t/unit/unit.h
	mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -I$(MOD) -It/unit -o $@ $< $(PURE_SRCS) \
	    -ljansson -lcurl -lm

# the shipped weights, again (t/model.t checks they are the same bytes)
model: $(BUILD)/tier-router-train
	$(BUILD)/tier-router-train t/data/routing/gsm8k_dev.jsonl \
	    t/data/routing/mmlu_dev.jsonl > models/default.json

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
