#!/usr/bin/env bash
# clang-format is enforced: every C source and header is formatted as
# `make format` would leave it (the root .clang-format, kernel style).
# TAP; needs clang-format (scripts/deps.sh).
cd "$(dirname "$0")/../.." || exit 1
echo "1..1"
if ! command -v clang-format >/dev/null; then
	echo "not ok 1 - clang-format is installed (scripts/deps.sh)"
	exit 1
fi
if out=$(make -s --no-print-directory check-format 2>&1); then
	echo "ok 1 - every C file is clang-formatted (make check-format)"
else
	echo "not ok 1 - every C file is clang-formatted (run make format)"
	grep -m 20 'error:' <<<"$out" | sed 's/^/#   /'
	exit 1
fi
