-- GET with the access token from BENCH_TOKEN (any bearer-authenticated route).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
