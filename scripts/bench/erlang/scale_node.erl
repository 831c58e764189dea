%% One Erlang node of the multi-node benchmarks: the Erlang side of the same network
%% (scripts/bench/cluster.ts compiles this and drives it; not a benchmark by itself).
%%
%% Commands arrive as lines on stdin, words separated by spaces; events leave as lines
%% on stdout. Times are wall-clock milliseconds (os:system_time), as on the aemp side.
%% - `connect NODE...`: connects to those nodes (the hubs, to each other); prints
%%   `connected`.
%% - `go HUB GROUP N`: connects to HUB (the mesh forms by itself: global connects every
%%   node to every other), monitors pg GROUP, joins a new process to it, and prints
%%   `full AT` the first time the group has N members here.
%% - `gname N`: registers a new process with `global` under {member, node()} and prints
%%   `gfull AT` once `global` knows N names here (polled every millisecond).
%% - `latency GROUP N`: monitors pg GROUP, prints `watching`, keeps the arrival time of
%%   every join, prints `latDone` after N of them.
%% - `setter GROUP COUNT INTERVAL`: every INTERVAL ms (0: in one loop) joins a new
%%   process to GROUP and keeps the time just before; prints `setDone` after COUNT.
%% - `report`: `report LINKS SENT ARRIVED`, SENT and ARRIVED being comma-separated
%%   times (`-` when empty): the setter's join times, a watcher's arrival times.
%% - `exit`.
-module(scale_node).
-export([start/0, start_hub/0]).

%% A member runs the pg scope; a hub (only there for others to connect to) does not,
%% so that pg sends it nothing.
start() ->
    {ok, _} = pg:start(pg),
    start_hub().

start_hub() ->
    Self = self(),
    spawn_link(fun() -> read_loop(Self) end),
    io:format("ready~n"),
    loop(#{sent => [], arrived => []}).

read_loop(Main) ->
    case io:get_line("") of
        eof -> halt(0);
        {error, _} -> halt(0);
        Line -> Main ! {cmd, string:lexemes(string:trim(Line), " ")}, read_loop(Main)
    end.

now_ms() -> os:system_time(microsecond) / 1000.

say(Format, Args) -> io:format(Format ++ "~n", Args).

member() -> spawn(fun() -> receive stop -> ok end end).

loop(State) ->
    receive
        {cmd, Words} -> loop(command(Words, State));
        {sent, T} -> loop(State#{sent := [T | maps:get(sent, State)]});
        {arrived, T} -> loop(State#{arrived := [T | maps:get(arrived, State)]})
    end.

command(["connect" | Nodes], State) ->
    [true = net_kernel:connect_node(list_to_atom(Node)) || Node <- Nodes],
    say("connected", []),
    State;
command(["go", Hub, Group, N], State) ->
    true = net_kernel:connect_node(list_to_atom(Hub)),
    G = list_to_atom(Group),
    Expect = list_to_integer(N),
    spawn(fun() -> {Ref, Pids} = pg:monitor(G), count(Ref, length(Pids), Expect) end),
    pg:join(G, member()),
    State;
command(["gname", N], State) ->
    yes = global:register_name({member, node()}, member()),
    Expect = list_to_integer(N),
    spawn(fun() -> poll_names(Expect) end),
    State;
command(["latency", Group, N], State) ->
    Main = self(),
    Expect = list_to_integer(N),
    spawn(fun() ->
        {Ref, _} = pg:monitor(list_to_atom(Group)),
        say("watching", []),
        watch(Ref, Main, 0, Expect)
    end),
    State;
command(["setter", Group, Count, Interval], State) ->
    Main = self(),
    G = list_to_atom(Group),
    spawn(fun() -> set_loop(Main, G, list_to_integer(Count), list_to_integer(Interval)) end),
    State;
command(["report"], State) ->
    say("report ~b ~s ~s", [length(nodes()), times(maps:get(sent, State)), times(maps:get(arrived, State))]),
    State;
command(["exit"], _State) ->
    halt(0).

count(_Ref, Have, Expect) when Have >= Expect -> say("full ~.3f", [now_ms()]);
count(Ref, Have, Expect) ->
    receive
        {Ref, join, _, Pids} -> count(Ref, Have + length(Pids), Expect);
        {Ref, leave, _, Pids} -> count(Ref, Have - length(Pids), Expect)
    end.

poll_names(Expect) ->
    case length(global:registered_names()) >= Expect of
        true -> say("gfull ~.3f", [now_ms()]);
        false -> timer:sleep(1), poll_names(Expect)
    end.

watch(_Ref, _Main, Seen, Expect) when Seen >= Expect -> say("latDone", []);
watch(Ref, Main, Seen, Expect) ->
    receive
        {Ref, join, _, Pids} -> Main ! {arrived, now_ms()}, watch(Ref, Main, Seen + length(Pids), Expect)
    end.

set_loop(_Main, _G, 0, _Interval) -> say("setDone", []);
set_loop(Main, G, Count, Interval) ->
    P = member(),
    T = now_ms(),
    pg:join(G, P),
    Main ! {sent, T},
    Interval > 0 andalso timer:sleep(Interval),
    set_loop(Main, G, Count - 1, Interval).

times([]) -> "-";
times(List) -> lists:join(",", [io_lib:format("~.3f", [T]) || T <- lists:reverse(List)]).
