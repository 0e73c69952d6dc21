"""The upload helper: a node service that encodes and places the shares of
clients' CHK uploads, and the client side that sends uploads through it."""
