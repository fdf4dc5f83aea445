%% The workloads of bench/bench_workloads.c on Erlang/OTP processes.
%%
%%   erlc bench.erl && erl -noshell +P 4000000 -run bench main WORKLOAD N RUNS
%%
%% Prints one RESULT line per run. Processes that receive many messages
%% (skynet parents, the drivers, the fan-in receiver) use off-heap message
%% queues: with the default on-heap queue a process holding many messages
%% is garbage-collected over and over.
-module(bench).
-export([main/1]).

-define(RING_SIZE, 1000).
-define(FANIN_SENDERS, 4).
-define(OFF_HEAP, [{message_queue_data, off_heap}]).

main([Name, NStr, RunsStr]) ->
    process_flag(message_queue_data, off_heap),
    N = list_to_integer(NStr),
    Runs = list_to_integer(RunsStr),
    {Fun, Unit} = workload(Name),
    Failed = lists:foldl(
               fun(_, Acc) ->
                       {Value, Check} = Fun(N),
                       io:format("RESULT workload=~s n=~b value=~.1f unit=~s check=~s~n",
                                 [Name, N, float(Value), Unit, Check]),
                       Acc orelse Check =/= "ok"
               end, false, lists:seq(1, Runs)),
    halt(case Failed of true -> 1; false -> 0 end);
main([Name, NStr]) ->
    main([Name, NStr, "1"]).

workload("skynet") -> {fun skynet/1, "ns/leaf"};
workload("spawn") -> {fun spawn_bench/1, "ns/process"};
workload("pingpong") -> {fun pingpong/1, "ns/message"};
workload("ring") -> {fun ring/1, "ns/hop"};
workload("fanin") -> {fun fanin/1, "ns/message"};
workload("parked") -> {fun parked/1, "B/process"}.

now_ns() -> erlang:monotonic_time(nanosecond).

%% ------------------------------------------------------------------ skynet
skynet_node(Parent, Num, 1) ->
    Parent ! {sum, Num};
skynet_node(Parent, Num, Size) ->
    Self = self(),
    Child = Size div 10,
    [spawn_opt(fun() -> skynet_node(Self, Num + I * Child, Child) end,
               child_opts(Child)) || I <- lists:seq(0, 9)],
    Parent ! {sum, collect(10, 0)}.

child_opts(1) -> [];
child_opts(_) -> ?OFF_HEAP.

collect(0, Sum) -> Sum;
collect(K, Sum) -> receive {sum, V} -> collect(K - 1, Sum + V) end.

skynet(N) ->
    Self = self(),
    T0 = now_ns(),
    spawn_opt(fun() -> skynet_node(Self, 0, N) end, child_opts(N)),
    Sum = receive {sum, S} -> S end,
    Ns = (now_ns() - T0) / N,
    case N * (N - 1) div 2 of
        Sum -> {Ns, "ok"};
        Want -> {Ns, io_lib:format("fail:sum=~b,want=~b", [Sum, Want])}
    end.

%% ------------------------------------------------------------------- spawn
spawn_bench(N) ->
    Base = erlang:system_info(process_count),
    T0 = now_ns(),
    spawn_loop(N),
    wait_count(Base),
    {(now_ns() - T0) / N, "ok"}.

spawn_loop(0) -> ok;
spawn_loop(K) -> spawn(fun() -> ok end), spawn_loop(K - 1).

wait_count(Base) ->
    case erlang:system_info(process_count) > Base of
        true -> erlang:yield(), wait_count(Base);
        false -> ok
    end.

%% ---------------------------------------------------------------- pingpong
pong() ->
    receive
        {From, V} -> From ! V, pong();
        stop -> ok
    end.

pingpong(N) ->
    Pong = spawn(fun pong/0),
    T0 = now_ns(),
    Ok = ping(Pong, 0, N, 0),
    Ns = (now_ns() - T0) / (2 * N),
    Pong ! stop,
    {Ns, case Ok of N -> "ok"; _ -> "fail:wrong replies" end}.

ping(_, N, N, Ok) -> Ok;
ping(Pong, I, N, Ok) ->
    Pong ! {self(), I},
    receive V -> ping(Pong, I + 1, N, Ok + (case V of I -> 1; _ -> 0 end)) end.

%% -------------------------------------------------------------------- ring
ring_node(Driver, Index) ->
    receive {next, Next} -> ring_loop(Driver, Index, Next) end.

ring_loop(Driver, Index, Next) ->
    receive
        stop -> ok;
        0 -> Driver ! {last, Index}, ring_loop(Driver, Index, Next);
        V -> Next ! V - 1, ring_loop(Driver, Index, Next)
    end.

ring(N) ->
    Self = self(),
    Pids = list_to_tuple([spawn(fun() -> ring_node(Self, I) end)
                          || I <- lists:seq(0, ?RING_SIZE - 1)]),
    [element(I + 1, Pids) ! {next, element((I + 1) rem ?RING_SIZE + 1, Pids)}
     || I <- lists:seq(0, ?RING_SIZE - 1)],
    T0 = now_ns(),
    element(1, Pids) ! N,
    Last = receive {last, L} -> L end,
    Ns = (now_ns() - T0) / N,
    [P ! stop || P <- tuple_to_list(Pids)],
    {Ns, case N rem ?RING_SIZE of Last -> "ok"; _ -> "fail:token ended at the wrong node" end}.

%% ------------------------------------------------------------------- fanin
fanin(N) ->
    Self = self(),
    Per = N div ?FANIN_SENDERS,
    T0 = now_ns(),
    [spawn(fun() -> send_loop(Self, S, 0, Per) end) || S <- lists:seq(0, ?FANIN_SENDERS - 1)],
    Bad = fanin_loop(Per * ?FANIN_SENDERS, erlang:make_tuple(?FANIN_SENDERS, 0), 0),
    Ns = (now_ns() - T0) / (Per * ?FANIN_SENDERS),
    {Ns, case Bad of 0 -> "ok"; _ -> "fail:lost or reordered" end}.

send_loop(_, _, Per, Per) -> ok;
send_loop(To, S, I, Per) -> To ! {S, I}, send_loop(To, S, I + 1, Per).

fanin_loop(0, _, Bad) -> Bad;
fanin_loop(K, Next, Bad) ->
    receive
        {S, I} ->
            Bad1 = case element(S + 1, Next) of I -> Bad; _ -> Bad + 1 end,
            fanin_loop(K - 1, setelement(S + 1, Next, I + 1), Bad1)
    end.

%% ------------------------------------------------------------------ parked
vmrss_kib() ->
    {ok, Data} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- binary:split(Data, <<"\n">>, [global]), binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kib | _] = string:lexemes(binary_to_list(Line), " \t"),
    list_to_integer(Kib).

parked(N) ->
    Self = self(),
    Before = vmrss_kib(),
    Pids = [spawn(fun() -> Self ! parked, receive _ -> ok end end) || _ <- lists:seq(1, N)],
    wait_msgs(parked, N),
    After = vmrss_kib(),
    Base = erlang:system_info(process_count) - N,
    [P ! wake || P <- Pids],
    wait_count(Base),
    {(After - Before) * 1024 / N, "ok"}.

wait_msgs(_, 0) -> ok;
wait_msgs(M, K) -> receive M -> wait_msgs(M, K - 1) end.
