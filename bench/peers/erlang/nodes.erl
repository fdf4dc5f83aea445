%% Erlang distribution counterpart of bench/bench_nodes.c: two nodes on
%% loopback (two OS processes); ping-pong round trip and one-way throughput of
%% small messages between a process on each. bench/nodes.sh runs it:
%%   erl -sname bench_b ... (idle) and
%%   erl -sname bench_a ... -eval 'nodes:main(bench_b@host, Trips, Msgs)'
-module(nodes).
-export([main/3, echo/0, sink/2]).

echo() ->
    receive {From, V} -> From ! {self(), V}, echo() end.

sink(0, From) -> From ! done;
sink(N, _) -> receive {From, _} -> sink(N - 1, From) end.

pingpong(_, 0) -> ok;
pingpong(Echo, N) ->
    Echo ! {self(), N},
    receive {Echo, _} -> pingpong(Echo, N - 1) end.

blast(_, 0) -> ok;
blast(Sink, N) -> Sink ! {self(), N}, blast(Sink, N - 1).

main(Node, Trips, Msgs) ->
    true = net_kernel:connect_node(Node),
    Echo = spawn(Node, nodes, echo, []),
    pingpong(Echo, 1000),
    T0 = erlang:monotonic_time(microsecond),
    pingpong(Echo, Trips),
    T1 = erlang:monotonic_time(microsecond),
    io:format("RESULT erlang_pingpong_rtt ~.2f us~n", [(T1 - T0) / Trips]),
    Sink = spawn(Node, nodes, sink, [Msgs, self()]),
    T2 = erlang:monotonic_time(microsecond),
    blast(Sink, Msgs),
    receive done -> ok end,
    T3 = erlang:monotonic_time(microsecond),
    io:format("RESULT erlang_throughput ~.1f msg/s~n", [Msgs * 1.0e6 / (T3 - T2)]),
    ok.
