"""The live side: feed contract v1, HTTP ingest's writer, the aggregator that
folds the streams per site, the snapshot it publishes, per-site health."""
