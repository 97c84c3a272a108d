#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A delaying UDP relay for the netns tests (the host has no netem): datagrams to LISTEN are sent
# on to TARGET after the delay in milliseconds read from DELAY_FILE (re-read every second, so a
# test changes the latency while tunnels run); answers come back at once. One upstream socket
# per client address, so the target sees one stable source per client.
#   udp-delay-relay.py LISTEN_ADDR:PORT TARGET_ADDR:PORT DELAY_FILE
import asyncio
import sys
import time


def split(s):
    host, port = s.rsplit(':', 1)
    return host, int(port)


class Relay:
    def __init__(self, target, delay_file):
        self.target = target
        self.delay_file = delay_file
        self.delay = 0.0
        self.read_at = 0.0
        self.up = {}

    def current_delay(self):
        now = time.monotonic()
        if now - self.read_at >= 1:
            self.read_at = now
            try:
                with open(self.delay_file) as f:
                    self.delay = float(f.read().strip() or 0) / 1000
            except (OSError, ValueError):
                pass
        return self.delay


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, front, client):
        self.front, self.client = front, client

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.front.transport.sendto(data, self.client)


class Front(asyncio.DatagramProtocol):
    def __init__(self, relay):
        self.relay = relay

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.ensure_future(self.forward(data, addr))

    async def forward(self, data, addr):
        loop = asyncio.get_running_loop()
        up = self.relay.up.get(addr)
        if up is None:
            _, up = await loop.create_datagram_endpoint(lambda: Upstream(self, addr),
                                                        remote_addr=self.relay.target)
            self.relay.up[addr] = up
        delay = self.relay.current_delay()
        if delay > 0:
            loop.call_later(delay, up.transport.sendto, data)
        else:
            up.transport.sendto(data)


async def main():
    relay = Relay(split(sys.argv[2]), sys.argv[3])
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Front(relay), local_addr=split(sys.argv[1]))
    await asyncio.Event().wait()


asyncio.run(main())
