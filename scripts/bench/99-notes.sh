#!/usr/bin/env bash
# What the measurements showed and is not yet done: kept by hand in notes.md.
cat "$(dirname "$0")/notes.md"
