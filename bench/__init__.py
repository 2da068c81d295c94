"""Benchmark harness: statsd-proxy against Etsy StatsD's proxy.js on one machine."""
