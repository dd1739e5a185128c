package main

import (
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:35947/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.10ms    3.36ms  61.09ms   79.40%
    Req/Sec     2.66k   389.72     3.40k    68.00%
  Latency Distribution
     50%  850.00us
     75%    7.21ms
     90%    9.89ms
     99%    1.20s
  26654 requests in 5.01s, 10.45MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   5316.02
Transfer/sec:      2.09MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 5316.02 || r.requests != 26654 || r.p50 != 850*time.Microsecond || r.p99 != 1200*time.Millisecond || r.bad != 9 {
		t.Fatalf("%+v", r)
	}
	if _, err := parseWrk("Requests/sec: 1\n  1 requests in 1s\n"); err == nil {
		t.Fatal("no latency distribution accepted")
	}
}
