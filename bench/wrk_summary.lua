-- Makes wrk print its summary as one JSON line (after the marker bench/wrk.py looks for):
-- request count, duration and errors from wrk's counters, p50 and p99 from its latency
-- histogram in microseconds, instead of the rounded text that --latency prints.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_SUMMARY {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
