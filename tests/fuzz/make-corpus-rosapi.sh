#!/bin/bash
# SPDX-License-Identifier: MIT
# Seeds tests/fuzz/corpus-rosapi with RouterOS API byte streams: real-looking replies and
# commands, and broken ones. The first byte of each file is the fuzz target's chunk size
# selector. Run once; the files are committed.
set -euo pipefail
c=$(cd "$(dirname "$0")" && pwd)/corpus-rosapi
mkdir -p "$c"
# word W: a length byte (all < 0x80 here) + the bytes
w() { printf "\\x$(printf %02x "${#1}")%s" "$1"; }
end() { printf '\0'; }
{ printf '\1'; w '!re'; w '=.id=*1A'; w '=name=wg0'; w '=listen-port=51820'; w '.tag=3'; end; w '!done'; w '.tag=3'; end; } > "$c/print-reply"
{ printf '\5'; w '!trap'; w '=message=input does not match any value of interface'; w '.tag=9'; end; w '!done'; w '.tag=9'; end; } > "$c/trap"
{ printf '\2'; w '!done'; w '=ret=*2F'; end; } > "$c/add-ret"
{ printf '\3'; w '!fatal'; w 'not logged in'; end; } > "$c/fatal"
{ printf '\4'; w '!empty'; w '.tag=1'; end; w '!done'; w '.tag=1'; end; } > "$c/empty"
{ printf '\7'; w '!re'; w '=last-handshake=1w2d3h4m5s'; w '=persistent-keepalive=25s'; w '=rx=12345'; end; } > "$c/durations"
{ printf '\6'; w '/ip/route/print'; w '?dst-address=10.0.0.0/24'; w '?#|!'; w '=.proplist=.id,distance'; end; } > "$c/query"
{ printf '\0'; end; end; w '!done'; end; } > "$c/keepalives"
# two-byte length: a 200-byte comment
{ printf '\x0b'; w '!re'; printf '\x80\xd1=comment=%0200d' 0; end; } > "$c/two-byte-len"
# broken: control byte, truncated length, length beyond the limit
printf '\1\xf8' > "$c/control-byte"
printf '\1\xc0\x01' > "$c/truncated-len"
printf '\1\xf0\x7f\xff\xff\xff' > "$c/huge-len"
printf '\x10\x03!re\x05=a=b' > "$c/unterminated"
