"""The control port: a Foolscap object through which the node's owner (test
harnesses, benchmarks) drives a running client node -- upload and download
local files, read memory usage, time uploads and downloads, ping servers."""
