"""statsd-operator: runs StatsD shards for StatsdCluster objects and publishes their ring."""
