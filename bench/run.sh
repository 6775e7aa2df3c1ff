#!/usr/bin/env bash
# Placeholder until the benchmark issue: `make bench` will compare the
# ceiling (one veth), bridge+netfilter and nsfast side by side in one run.
echo "nsfast bench: not implemented yet (benchmark issue); nothing measured."
echo "See docs/design.md for the datapath; 'make demo' shows it working."
exit 0
