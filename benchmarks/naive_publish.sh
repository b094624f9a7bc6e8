#!/bin/sh
# The publish script users write today, as the baseline of benchmarks/publish.py:
# for every registry, for every tag, `docker tag` then `docker push`, one after another.
#
#   benchmarks/naive_publish.sh IMAGE REGISTRY/NAME... -- TAG...
#
# e.g. naive_publish.sh sha256:abc 127.0.0.1:5000/acme/app 127.0.0.1:5001/acme/app \
#          -- 1.2.3 v1.2.3 sha-1234567 1.2 1 latest
set -eu
image=$1
shift
names=""
while [ "$1" != "--" ]; do
    names="$names $1"
    shift
done
shift
for name in $names; do
    for tag in "$@"; do
        docker tag "$image" "$name:$tag"
        docker push --quiet "$name:$tag" >/dev/null
    done
done
