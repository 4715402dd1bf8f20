# Two commands do all the set-up on a fresh machine:
#   make run    the pipeline on the embedded Apache Kafka broker, with a sample hot list and a
#               simulated camera feed
#   make test   the whole test suite (it starts its own Kafka brokers)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The embedded broker is Apache Kafka, run by Java 17+ from jars Maven fetches once from Maven
# Central (streams/kafka/kafka-broker.pom.xml) into ~/.cache/alpr (or ALPR_KAFKA_JARS).
KAFKA_STAMP := $(VENV)/.kafka-jars
# The browser tests use Debian's chromium (playwright drives it; it downloads no browser); the
# deployment tests validate deploy/kafka/docker-compose.yml with Debian's docker-compose.
CHROMIUM := /usr/bin/chromium
COMPOSE := /usr/bin/docker-compose
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JAVA_AND_MAVEN := $(shell command -v java >/dev/null && command -v mvn >/dev/null && echo yes)

.PHONY: run test lint loadtest clean java

# The worker's read kernel (native/: Rust, built by maturin) needs cargo: rustup's when there,
# else Debian's (rustc 1.63, which the crate and its lock file keep to).
$(STAMP): pyproject.toml native/pyproject.toml native/Cargo.toml native/Cargo.lock $(wildcard native/src/*.rs)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	command -v cargo >/dev/null || test -x "$$HOME/.cargo/bin/cargo" || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq cargo; }
	PATH="$$PATH:$$HOME/.cargo/bin" $(BIN)/python -m pip install --quiet ./native
	touch $(STAMP)

java:
ifneq ($(JAVA_AND_MAVEN),yes)
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jre-headless maven
endif

$(KAFKA_STAMP): $(STAMP) streams/kafka/kafka-broker.pom.xml | java
	$(BIN)/python -c "from streams.kafka.broker import kafka_jars; print('Apache Kafka jars in', kafka_jars())"
	touch $(KAFKA_STAMP)

$(CHROMIUM) $(COMPOSE):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium docker-compose

run: $(STAMP) $(KAFKA_STAMP)
	$(BIN)/alpr run

# Two pytest workers, each with its own Kafka broker; a file's tests stay on one worker (its
# module fixtures start once). Files go out in collection order (tests/conftest.py: the broker
# files first, the short unit files last), so that both workers finish together.
test: $(STAMP) $(KAFKA_STAMP) $(CHROMIUM) $(COMPOSE)
	$(BIN)/ruff check streams tests loadtest
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

# A one-minute city-scale run (5,000 cameras, 5,000 reads/s, 1 M hot-list entries); prints the summary.
loadtest: $(STAMP) $(KAFKA_STAMP)
	$(BIN)/python -m loadtest run --duration 60

lint: $(STAMP)
	$(BIN)/ruff check streams tests loadtest
	$(BIN)/mypy

clean:
	-$(BIN)/alpr broker stop
	rm -rf .alpr .pytest_cache .hypothesis
