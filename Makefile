# ngx_farm: the nginx module, the agent, their tests, demo and benchmark.
#
#   make            build build/ngx_http_farm_module.so and build/farm-agent
#   make deps       install the Debian packages everything here needs
#   make test       deps + build + every test; ends with "N passed, N failed"
#   make test-asan  every test under AddressSanitizer + UBSan: the agent and
#                   unit tests, and the t/ suites with the module built with
#                   both and loaded into nginx (docs/testing.md)
#   make check-layers  the module's includes follow its layers, no cycle
#   make fuzz       every libFuzzer target for FUZZ_TIME seconds (60);
#                   make fuzz-short: 15 s each (CI); make fuzz-cov: the
#                   source coverage they reached; docs/testing.md
#   make demo       the gateway with its built-in registry and three agents
#                   on 127.0.0.1, traffic and a failover (REGISTRY=redis or
#                   REGISTRY=consul: the same with Redis or a Consul dev
#                   agent as the registry)
#   make demo-stop  stop what the demo started
#   make bench      throughput and scale against stock nginx, rate limits
#
#   NGINX_SRC=/path/to/nginx make   build the module against an nginx tree

CC        ?= cc
BUILD     := build
STRICT    := -std=gnu99 -Wall -Wextra -Werror -O2 -g
SANITIZE  := -fsanitize=address,undefined -fno-omit-frame-pointer
ASAN      := $(BUILD)/asan

# without the nginx-dev package, the tree "make demo" unpacked from it
# (scripts/deps.sh demo)
NGINX_DEV_TREE := build/nginx-dev/usr/share/nginx/src
ifeq ($(wildcard /usr/share/nginx/src/configure),)
ifneq ($(wildcard $(NGINX_DEV_TREE)/configure),)
export NGINX_SRC ?= $(CURDIR)/$(NGINX_DEV_TREE)
endif
endif

REGISTRY_SRCS := $(wildcard registry/*.c)
REGISTRY_HDRS := $(wildcard registry/*.h)
AGENT_SRCS    := $(wildcard agent/*.c)
AGENT_HDRS    := $(wildcard agent/*.h)
AGENT_LIBS    := -levent -lhiredis -ljansson -lcurl -lhttp_parser

MODULE_SRCS   := $(wildcard ngx_farm_module/*.c ngx_farm_module/*.h) \
                 $(wildcard kong-compat/kong*.c kong-compat/kong*.h) \
                 $(REGISTRY_SRCS) $(REGISTRY_HDRS) config \
                 html/farm-dashboard.html scripts/dashboard-html.pl

UNIT_TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
UNIT_SRCS     := $(REGISTRY_SRCS) ngx_farm_module/ngx_http_farm_pick.c \
                 ngx_farm_module/ngx_http_farm_limit_window.c \
                 ngx_farm_module/ngx_http_farm_consumers.c \
                 ngx_farm_module/ngx_http_farm_check_parse.c \
                 ngx_farm_module/ngx_http_farm_hide_args.c \
                 ngx_farm_module/ngx_http_farm_consumers_reply.c
UNIT_HDRS     := $(REGISTRY_HDRS) ngx_farm_module/ngx_http_farm_pick.h \
                 ngx_farm_module/ngx_http_farm_limit_window.h \
                 ngx_farm_module/ngx_http_farm_consumers.h \
                 ngx_farm_module/ngx_http_farm_check_parse.h \
                 ngx_farm_module/ngx_http_farm_hide_args.h \
                 ngx_farm_module/ngx_http_farm_consumers_reply.h
UNIT_FLAGS    := -Iregistry -Ingx_farm_module
UNIT_LIBS     := -lcmocka -ljansson

.PHONY: all module agent unit deps test test-unit test-agent test-nginx test-tcc \
        test-asan check-layers fuzz fuzz-build fuzz-short fuzz-cov \
        fuzz-srcs demo demo-stop bench clean

all: module agent

module: $(BUILD)/ngx_http_farm_module.so

agent: $(BUILD)/farm-agent

unit: $(UNIT_TESTS)

# The compiler $(CC) is: tcc when scripts/deps.sh demo installed it on a
# machine without one (Debian's tcc package makes itself cc until gcc is
# installed); then scripts/tcc-compat.h comes first in every file.  Its
# name and path are kept in build/cc-name, rewritten when they change, so a
# module and farm-agent built with tcc are built again once cc is gcc.
CC_PATH   := $(realpath $(shell command -v $(CC) 2>/dev/null))
ifeq ($(notdir $(CC_PATH)),tcc)
STRICT    += -include scripts/tcc-compat.h
endif

$(BUILD)/cc-name: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CC_PATH)' | cmp -s - $@ || echo '$(CC) $(CC_PATH)' > $@

FORCE:

$(BUILD)/ngx_http_farm_module.so: $(MODULE_SRCS) scripts/build-module.sh \
        $(BUILD)/cc-name
	@mkdir -p $(BUILD)
	CC='$(CC)' FARM_OUT='$(abspath $(BUILD))' ./scripts/build-module.sh

# the module with clang, ASan and UBSan, and its positive control
$(ASAN)/ngx_http_farm_module.so: $(MODULE_SRCS) scripts/build-module.sh \
        $(wildcard tests/asan/control/*)
	@mkdir -p $(ASAN)
	FARM_ASAN=1 ./scripts/build-module.sh

$(BUILD)/farm-agent: $(AGENT_SRCS) $(AGENT_HDRS) $(REGISTRY_SRCS) $(REGISTRY_HDRS) \
        $(BUILD)/cc-name
	@mkdir -p $(BUILD)
	$(CC) $(STRICT) -Iregistry -o $@ $(AGENT_SRCS) $(REGISTRY_SRCS) $(AGENT_LIBS)

$(BUILD)/farm-agent-asan: $(AGENT_SRCS) $(AGENT_HDRS) $(REGISTRY_SRCS) $(REGISTRY_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(STRICT) $(SANITIZE) -Iregistry -o $@ $(AGENT_SRCS) $(REGISTRY_SRCS) $(AGENT_LIBS)

$(BUILD)/tests/%: tests/%.c $(UNIT_SRCS) $(UNIT_HDRS)
	@mkdir -p $(BUILD)/tests
	$(CC) $(STRICT) $(UNIT_FLAGS) -o $@ $< $(UNIT_SRCS) $(UNIT_LIBS) -lm

$(BUILD)/tests-asan/%: tests/%.c $(UNIT_SRCS) $(UNIT_HDRS)
	@mkdir -p $(BUILD)/tests-asan
	$(CC) $(STRICT) $(SANITIZE) $(UNIT_FLAGS) -o $@ $< $(UNIT_SRCS) $(UNIT_LIBS) -lm

deps:
	./scripts/deps.sh

check-layers:
	./scripts/check-layers.pl

test: deps
	$(MAKE) all unit
	./tests/run.pl

test-unit: unit
	./tests/run.pl --only unit

test-agent: agent
	./tests/run.pl --only agent

test-nginx: all
	./tests/run.pl --only nginx

# make test-asan T='t/10-health.t t/12-breaker.t' runs only those.
# Every sanitizer report lands as a file in $(ASAN)/reports (scripts/nginx-asan
# for nginx, log_path for the rest); run.pl counts each as a failure of the
# test during which it appeared and prints it.  tests/asan/control.t proves
# that a bug in a module is caught.
test-asan: deps
	$(MAKE) $(BUILD)/farm-agent-asan $(ASAN)/ngx_http_farm_module.so \
	    $(patsubst tests/%.c,$(BUILD)/tests-asan/%,$(wildcard tests/test_*.c))
	FARM_AGENT_BINARY=$(CURDIR)/$(BUILD)/farm-agent-asan \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/$(ASAN)/reports/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(ASAN)/reports/asan \
	TEST_NGINX_BINARY=$(CURDIR)/scripts/nginx-asan \
	TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(ASAN)/ngx_http_farm_module.so \
	    ./tests/run.pl --sanitizer-dir $(ASAN)/reports \
	        $(or $(T),$(BUILD)/tests-asan tests/agent t tests/asan)

# The module and farm-agent built with tcc, as `make demo` builds them on a
# machine without gcc (scripts/deps.sh demo), in build/tcc/, through the
# suites of the demo's path: the built-in registry, farm-agent registering
# with it, failover.  CI runs it so that code tcc cannot build is caught
# before a newcomer meets it.
TCC_SUITES := t/13-failover.t t/51-builtin-registry.t t/52-builtin-api.t \
              t/53-agent-builtin.t t/54-builtin-reload.t tests/agent/05-app.t

test-tcc: deps
	$(MAKE) CC=tcc BUILD=$(BUILD)/tcc $(BUILD)/tcc/ngx_http_farm_module.so \
	    $(BUILD)/tcc/farm-agent
	FARM_AGENT_BINARY=$(CURDIR)/$(BUILD)/tcc/farm-agent \
	TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(BUILD)/tcc/ngx_http_farm_module.so \
	    ./tests/run.pl $(or $(T),$(TCC_SUITES))

# libFuzzer targets (fuzz/): clang with ASan and UBSan; each links only
# the code it drives.

FUZZ_CC       ?= clang
FUZZ_TIME     ?= 60
FUZZ_FLAGS    := -std=gnu99 -g -O1 -fno-omit-frame-pointer \
                 -fsanitize=fuzzer,address,undefined \
                 -fno-sanitize-recover=undefined -Wall -Wextra -Werror
FUZZ_TARGETS  := record consul url events consumers limit options check \
                 hide_args credis jwt cors xform multipart gzip echo
FUZZ_BINS     := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))

FUZZ_SRCS_record    = $(REGISTRY_SRCS)
FUZZ_SRCS_consul    = $(REGISTRY_SRCS)
FUZZ_SRCS_url       = $(REGISTRY_SRCS)
FUZZ_SRCS_events    = $(REGISTRY_SRCS)
FUZZ_SRCS_consumers = ngx_farm_module/ngx_http_farm_consumers.c
FUZZ_SRCS_limit     = ngx_farm_module/ngx_http_farm_limit_window.c
FUZZ_SRCS_options   = agent/options.c agent/options_values.c agent/log.c \
                      agent/token.c \
                      $(REGISTRY_SRCS)
FUZZ_SRCS_check     = ngx_farm_module/ngx_http_farm_check_parse.c
FUZZ_SRCS_hide_args = ngx_farm_module/ngx_http_farm_hide_args.c
FUZZ_SRCS_credis    = ngx_farm_module/ngx_http_farm_consumers_reply.c
# kong-compat's plugin engines
FUZZ_SRCS_jwt       = kong-compat/kong_jwt.c kong-compat/kong_json.c
FUZZ_SRCS_cors      = kong-compat/kong_cors.c
FUZZ_SRCS_xform     = kong-compat/kong_xform.c kong-compat/kong_xform_conf.c \
                      kong-compat/kong_xform_body.c kong-compat/kong_json.c \
                      kong-compat/kong_multipart.c
FUZZ_SRCS_multipart = kong-compat/kong_multipart.c
FUZZ_SRCS_gzip      = kong-compat/kong_gzip.c
FUZZ_SRCS_echo      = kong-compat/kong_echo.c kong-compat/kong_uuid.c \
                      kong-compat/kong_json.c kong-compat/kong_multipart.c \
                      kong-compat/kong_xform.c kong-compat/kong_xform_conf.c \
                      kong-compat/kong_xform_body.c kong-compat/kong_path.c

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	$(MAKE) fuzz-build
	./fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-short: deps
	$(MAKE) fuzz-build
	./fuzz/run.sh 15 $(FUZZ_TARGETS)
	$(MAKE) fuzz-kong KONG_FUZZ_TIME=15

# source coverage of what the fuzzers reached (llvm-cov); after make fuzz
fuzz-cov:
	./fuzz/cov.sh $(FUZZ_TARGETS)

fuzz-srcs:
	@echo $(FUZZ_SRCS_$(FUZZ_TARGET))

REGISTRY ?= builtin

# only the packages the demo needs (scripts/deps.sh demo): no test tools,
# no Consul build unless REGISTRY=consul
# (the module and farm-agent are built side by side)
demo:
	./scripts/deps.sh demo $(REGISTRY)
	$(MAKE) -j2 all
	REGISTRY=$(REGISTRY) ./scripts/demo.sh start

demo-stop:
	./scripts/demo.sh stop

bench: deps
	$(MAKE) all kong
	./scripts/bench.sh

clean:
	rm -rf $(BUILD) t/servroot* .bench-limit .bench-core .bench-agent .bench-health .bench-queue \
	    .bench-metrics .bench-kong-plugins .bench-kong-routes .bench-kong-creds .bench-consul

# kong-compat/: the Kong declarative configuration engine (plain C, no
# nginx).  Its unit tests (tests/test_kong_*.c) link it instead of the
# module's sources; `make kong` builds the farm-kong CLI; `make fuzz-kong`
# runs the loader's libFuzzer harness for KONG_FUZZ_TIME seconds.
KONG_SRCS     := $(filter-out kong-compat/farm_kong.c,$(wildcard kong-compat/*.c))
KONG_HDRS     := $(wildcard kong-compat/*.h)
KONG_LIBS     := -lyaml -lpcre2-8 -lm -ljansson -lcrypto -lz -lxxhash
KONG_FUZZ_TIME ?= 60

.PHONY: kong fuzz-kong

kong: $(BUILD)/farm-kong

$(BUILD)/farm-kong: kong-compat/farm_kong.c $(KONG_SRCS) $(KONG_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(STRICT) -Ikong-compat -o $@ $< $(KONG_SRCS) $(KONG_LIBS)

$(BUILD)/tests/test_kong_%: tests/test_kong_%.c $(KONG_SRCS) $(KONG_HDRS) \
        $(wildcard tests/*.h)
	@mkdir -p $(BUILD)/tests
	$(CC) $(STRICT) -Ikong-compat -o $@ $< $(KONG_SRCS) -lcmocka $(KONG_LIBS)

$(BUILD)/tests-asan/test_kong_%: tests/test_kong_%.c $(KONG_SRCS) $(KONG_HDRS) \
        $(wildcard tests/*.h)
	@mkdir -p $(BUILD)/tests-asan
	$(CC) $(STRICT) $(SANITIZE) -Ikong-compat -o $@ $< $(KONG_SRCS) -lcmocka $(KONG_LIBS)

$(BUILD)/fuzz/fuzz_kong: kong-compat/fuzz/fuzz_kong.c $(KONG_SRCS) $(KONG_HDRS)
	@mkdir -p $(BUILD)/fuzz
	clang -std=gnu99 -Wall -Wextra -Werror -g -O1 \
	    -fsanitize=fuzzer,address,undefined -Ikong-compat \
	    -o $@ $< $(KONG_SRCS) $(KONG_LIBS)

fuzz-kong: $(BUILD)/fuzz/fuzz_kong
	@mkdir -p $(BUILD)/fuzz/kong-corpus
	$(BUILD)/fuzz/fuzz_kong -max_total_time=$(KONG_FUZZ_TIME) \
	    -max_len=16384 -dict=kong-compat/fuzz/kong.dict \
	    $(BUILD)/fuzz/kong-corpus kong-compat/fuzz/corpus


.SECONDEXPANSION:

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $$(FUZZ_SRCS_$$*) $(wildcard fuzz/*.h) \
        $(REGISTRY_HDRS) $(UNIT_HDRS) $(AGENT_HDRS) $(KONG_HDRS)
	@mkdir -p $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -Iregistry -Ingx_farm_module -Iagent -Ifuzz \
	    -Ikong-compat -o $@ $< $(FUZZ_SRCS_$*) -ljansson -lcrypto -lpcre2-8 -lz -lxxhash
