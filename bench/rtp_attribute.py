#!/usr/bin/env python3
# Instructions (or cache misses) per datagram of the RTP receive path, by stage.
#   bench/rtp_attribute.sh build/release/bench/rtp_callgrind [trace] [mode] [event]
# runs rtp_callgrind under callgrind at 4 and 8 passes (--dump-instr=yes) and calls this script:
#   rtp_attribute.py <binary> <out at N passes> <out at 2N passes> <datagrams of N passes> [event]
# Every instruction of the binary is charged its own cost (2N minus N passes) and classified by
# its inline chain (addr2line -i): the innermost frame that names a stage wins. A call from the
# binary into another object (libc's memcpy) is charged, inclusive, to its call site. `event` is
# the column of callgrind's event list (0 = Ir; with --cache-sim=yes 4 = D1mr, 5 = D1mw,
# 7 = DLmr, 8 = DLmw).
import collections
import re
import subprocess
import sys


def parse(path, binary, event):
    own = collections.Counter()
    calls = collections.Counter()
    name = binary.split('/')[-1]
    ob = cob = None
    in_call = False
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('ob='):
                ob = line[3:]
            elif line.startswith('cob='):
                cob = line[4:]
            elif line.startswith('fn='):
                cob = None
            elif line.startswith('calls='):
                in_call = True
            elif line.startswith('0x'):
                p = line.split()
                addr = int(p[0], 16)
                cost = int(p[2 + event]) if len(p) > 2 + event else 0
                mine = ob is not None and ob.endswith(name)
                if in_call:
                    in_call = False
                    if mine and cob is not None and not cob.endswith(name):
                        calls[addr] += cost
                    cob = None
                elif mine:
                    own[addr] += cost
    return own, calls


def chains(binary, addrs):
    # addr2line prints (function, location) per inline frame, innermost first; a 0x0 after
    # every address marks where its frames end.
    text = ''.join('0x%x\n0x0\n' % a for a in addrs)
    out = subprocess.run(['addr2line', '-i', '-f', '-C', '-e', binary], input=text,
                         capture_output=True, text=True, check=True).stdout.split('\n')
    result, frames, i, k = {}, [], 0, 0
    while i + 1 < len(out) and k < len(addrs):
        fn, loc = out[i], out[i + 1]
        i += 2
        if fn == '??' and loc.startswith('??:'):
            result[addrs[k]] = frames
            frames, k = [], k + 1
        else:
            frames.append(fn)
    return result


def stage(names, is_call):
    def has(x):
        return any(x in n for n in names)
    if has('_start'):
        return None  # the whole program, inclusive
    if has('rtp_bench::advance') or (names and names[0] == 'main'):
        return 'driver: trace advance and loop (untimed in rtp_bench)'
    if has('parse_rtp'):
        return 'accept: parse_rtp'
    if has('rtp_ingest'):
        return 'accept: binding, stats, timestamp'
    if any(re.search(r'jitter_(core|intake|ring|delay|seq|nack|sequence|frame)|jitter_buffer<', n)
           for n in names):
        return 'jitter: release' if has('try_pop') else 'jitter: insert'
    if has('rtp_jitter_feed') or has('payload_store'):
        push = has('try_push') or has('::insert')
        if is_call and push:
            return 'copy 1: payload into the feed buffer'
        return 'feed: push' if push else 'feed: pop'
    if has('au_queue') or has('consumer::try_pop') or has('::pop('):
        return 'depacketizer: unit queue'
    if has('buffer_pool') or has('pool_') or has('writable'):
        return 'copy 2: payload into the pool buffer' if is_call else 'pool: acquire, append, publish, release'
    if has('au_assembler') or has('h264_depacketizer'):
        return 'copy 2: payload into the pool buffer' if is_call else 'depacketizer: H.264 + assembler'
    if has('receiver::pass') or has('receiver::drain'):
        return 'bench loop (the application)'
    return 'other: ' + (names[-1][:60] if names else '?')


def main():
    binary, a, b, datagrams = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    event = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    pa, pb = parse(a, binary, event), parse(b, binary, event)
    diff = collections.Counter()
    for kind in (0, 1):
        for addr in set(pa[kind]) | set(pb[kind]):
            v = pb[kind].get(addr, 0) - pa[kind].get(addr, 0)
            if v:
                diff[(addr, kind)] += v
    ch = chains(binary, sorted({addr for addr, _ in diff}))
    per_stage = collections.Counter()
    for (addr, kind), v in diff.items():
        s = stage(ch.get(addr, []), kind == 1)
        if s is not None:
            per_stage[s] += v / datagrams
    for s, v in sorted(per_stage.items()):
        print('%8.1f  %s' % (v, s))
    print('%8.1f  total' % sum(per_stage.values()))


if __name__ == '__main__':
    main()
