-- wrk script: POST the body in the file named by $BENCH_BODY as JSON.
-- wrk formats the request once, so the client side costs the same for the
-- plain proxy and the module.

local path = os.getenv("BENCH_BODY")
assert(path, "BENCH_BODY is not set")

local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
-- the tenant of the budget server (the other servers ignore it)
wrk.headers["Authorization"] = "Bearer sk-bench"
