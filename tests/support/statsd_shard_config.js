// Etsy StatsD 0.9 configuration for one pipeline-test shard. StatsD evaluates
// this file as a JavaScript expression, so the settings that differ per shard
// come from environment variables set by tests/support/pipeline_statsd.py.
(function () {
  const env = process.env;
  return {
    address: "127.0.0.1",
    port: Number(env.STATSD_SHARD_PORT),
    mgmt_address: "127.0.0.1",
    mgmt_port: Number(env.STATSD_SHARD_MGMT_PORT),
    flushInterval: Number(env.STATSD_SHARD_FLUSH_INTERVAL_MS),
    backends: ["./backends/graphite"],
    graphiteHost: "127.0.0.1",
    graphitePort: Number(env.STATSD_SHARD_GRAPHITE_PORT),
    graphite: {
      // Keys become <shard>.<type>.<metric name>.<field>. Two shards with one prefix
      // would write the same key and second, and InfluxDB keeps only the last write.
      legacyNamespace: false,
      globalPrefix: env.STATSD_SHARD_NAME,
    },
    // An idle counter flushes a zero count every interval, which leaves sums unchanged.
    deleteIdleStats: false,
    automaticConfigReload: false,
  };
})()
