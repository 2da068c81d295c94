"""statsd-proxy: a StatsD sharding proxy that routes every series to one shard."""

__version__ = "0.1.0"
