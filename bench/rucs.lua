-- wrk script: GET /obtener-ruc/<ruc> over the RUCs listed in the file given
-- after `--`, uniformly at random, or in file order when the second argument
-- is "sequential" (to warm a cache). Requests are formatted once, in init, so
-- that wrk spends the same little CPU per request whatever the list's size.
local requests, sequential, turn = {}, false, 0

function init(args)
  for ruc in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", "/obtener-ruc/" .. ruc)
  end
  sequential = args[2] == "sequential"
end

function request()
  if sequential then
    turn = turn % #requests + 1
    return requests[turn]
  end
  return requests[math.random(#requests)]
end
