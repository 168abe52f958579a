"""The city benchmark on a local Redis Cluster (``bench/city.py --cluster``):
processes, fold throughput, latency, failover and memory, one module each."""
