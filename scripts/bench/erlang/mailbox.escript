#!/usr/bin/env escript
%% -*- erlang -*-
%%! -smp enable +sbwt none
%%
%% The Erlang side of npm run bench:mailbox (scripts/bench/mailbox.ts runs this when
%% `escript` is on PATH and prints aemp's figures against these). One JSON object per
%% line on stdout:
%% - selective receive: a process with 1,000 messages of another tag queued takes
%%   messages tagged `wanted` one by one (each receive walks the 1,000 others, as
%%   aemp's getCond tests them), 2,000 timed after 500 and after 20,000 earlier
%%   takes; microseconds per receive, best of 3;
%% - spawn + kill: processes that block in a receive, spawned and then killed
%%   (exit(Pid, kill)), processes per second, best of 3.
-mode(compile).

main(_) ->
    Others = 1000,
    lists:foreach(fun(Taken) ->
        Us = lists:min([selective(Others, Taken, 2000) || _ <- lists:seq(1, 3)]),
        io:format("{\"bench\":\"selective\",\"others\":~b,\"taken\":~b,\"us\":~.4f}~n", [Others, Taken, Us])
    end, [500, 20000]),
    N = 100000,
    Rate = lists:max([spawn_kill(N) || _ <- lists:seq(1, 3)]),
    io:format("{\"bench\":\"spawn_kill\",\"n\":~b,\"per_s\":~.1f}~n", [N, Rate]).

%% Microseconds per receive of a `wanted` message behind `Others` other messages,
%% measured over `M` receives after `Taken` untimed ones, with at least 100,000
%% wanted messages queued at the start (as scripts/bench/mailbox.ts does).
selective(Others, Taken, M) ->
    Parent = self(),
    Pid = spawn(fun() ->
        receive go -> ok end,
        take(Taken),
        T0 = erlang:monotonic_time(nanosecond),
        take(M),
        T1 = erlang:monotonic_time(nanosecond),
        Parent ! {us, (T1 - T0) / 1000 / M}
    end),
    [Pid ! {other, I} || I <- lists:seq(1, Others)],
    [Pid ! {wanted, I} || I <- lists:seq(1, max(100000, Taken + 2 * M))],
    Pid ! go,
    receive {us, Us} -> Us end.

take(0) -> ok;
take(K) -> receive {wanted, _} -> take(K - 1) end.

%% Processes per second: spawn N that wait in a receive, then kill them all.
spawn_kill(N) ->
    T0 = erlang:monotonic_time(nanosecond),
    Pids = [spawn(fun() -> receive never -> ok end end) || _ <- lists:seq(1, N)],
    [exit(P, kill) || P <- Pids],
    wait_dead(lists:last(Pids)),
    T1 = erlang:monotonic_time(nanosecond),
    N / ((T1 - T0) / 1.0e9).

wait_dead(Pid) ->
    case is_process_alive(Pid) of
        true -> erlang:yield(), wait_dead(Pid);
        false -> ok
    end.
