%% Request/reply round trip on Erlang/OTP: gen_server:call to a gen_server
%% that answers X + 1 (the workload of bench/bench_request.cpp).
%%
%%   erlc request.erl && erl -noshell -run request main request N RUNS
%%
%% A client process makes N calls in a row and reports ns per round trip.
%% Prints one RESULT line per run.
-module(request).
-behaviour(gen_server).
-export([main/1, init/1, handle_call/3, handle_cast/2]).

main([Name, NStr, RunsStr]) ->
    "request" = Name,
    N = list_to_integer(NStr),
    Runs = list_to_integer(RunsStr),
    Failed = lists:foldl(
               fun(_, Acc) ->
                       {Value, Check} = run(N),
                       io:format("RESULT workload=~s n=~b value=~.1f unit=ns/round-trip check=~s~n",
                                 [Name, N, float(Value), Check]),
                       Acc orelse Check =/= "ok"
               end, false, lists:seq(1, Runs)),
    halt(case Failed of true -> 1; false -> 0 end);
main([Name, NStr]) ->
    main([Name, NStr, "1"]).

init([]) -> {ok, nostate}.
handle_call(X, _From, State) -> {reply, X + 1, State}.
handle_cast(_, State) -> {noreply, State}.

run(N) ->
    Self = self(),
    spawn(fun() ->
                  {ok, Server} = gen_server:start(?MODULE, [], []),
                  T0 = erlang:monotonic_time(nanosecond),
                  Ok = calls(Server, 0, N),
                  T1 = erlang:monotonic_time(nanosecond),
                  gen_server:stop(Server),
                  Self ! {done, (T1 - T0) / N, Ok}
          end),
    receive
        {done, Ns, true} -> {Ns, "ok"};
        {done, Ns, false} -> {Ns, "wrong-reply"}
    end.

calls(_Server, N, N) -> true;
calls(Server, I, N) ->
    case gen_server:call(Server, I, infinity) of
        R when R =:= I + 1 -> calls(Server, I + 1, N);
        _ -> false
    end.
