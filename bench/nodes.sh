#!/bin/sh
# Nodes benchmark: liblunatic (bench_nodes) and Erlang distribution
# (peers/erlang/nodes.erl, needs erlang-nox) side by side, two OS processes on
# loopback each. Usage: bench/nodes.sh BUILD_DIR [round_trips] [messages]
set -e
build=${1:?usage: nodes.sh BUILD_DIR [round_trips] [messages]}
trips=${2:-20000}
msgs=${3:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
"$build/bench/bench_nodes" "$trips" "$msgs"
if command -v erlc >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    erlc -o "$tmp" "$here/peers/erlang/nodes.erl"
    host=$(hostname -s)
    erl -sname bench_b -setcookie lunbench -noshell -pa "$tmp" &
    b=$!
    sleep 1
    erl -sname bench_a -setcookie lunbench -noshell -pa "$tmp" \
        -eval "nodes:main('bench_b@$host', $trips, $msgs), halt()."
    kill $b 2>/dev/null || true
    rm -rf "$tmp"
else
    echo "erlc not found (apt install erlang-nox): Erlang side skipped"
fi
