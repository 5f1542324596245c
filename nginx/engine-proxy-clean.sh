#!/bin/sh
# engine-proxy: a socket left by a proxy that was killed would make nginx's bind() fail.
rm -f /run/engine/docker.sock
