-- wrk script: GET /obtener-ruc/<ruc> over the RUCs listed in the file given
-- after `--`, uniformly at random; in file order when the second argument is
-- "sequential" (to warm a cache); or Zipf-distributed with exponent 1.0 when
-- it is "zipf" (the file's n-th RUC is asked with weight 1/n, so a few
-- thousand RUCs get most lookups, as with real customer lists). Requests are
-- formatted once, in init, so that wrk spends the same little CPU per request
-- whatever the list's size.
local requests, mode, turn, cumulative = {}, "uniform", 0, {}

function init(args)
  for ruc in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", "/obtener-ruc/" .. ruc)
  end
  mode = args[2] or "uniform"
  if mode == "zipf" then
    local total = 0
    for rank = 1, #requests do
      total = total + 1 / rank
      cumulative[rank] = total
    end
  end
end

-- The rank whose cumulative weight first reaches a uniform draw.
local function zipf_rank()
  local wanted = math.random() * cumulative[#cumulative]
  local low, high = 1, #cumulative
  while low < high do
    local middle = math.floor((low + high) / 2)
    if cumulative[middle] < wanted then low = middle + 1 else high = middle end
  end
  return low
end

function request()
  if mode == "sequential" then
    turn = turn % #requests + 1
    return requests[turn]
  elseif mode == "zipf" then
    return requests[zipf_rank()]
  end
  return requests[math.random(#requests)]
end
