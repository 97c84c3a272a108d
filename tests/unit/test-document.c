/* SPDX-License-Identifier: MIT */
/* One case per validation rule of docs/protocol.md: a valid base document, one mutation, and
 * the exact one-line message (JSON path + value) the rule must produce. */
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "tap.h"

#define K1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define K2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define K3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
#define K4 "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="
#define K5 "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="

/* A hub-and-spoke node with an exit peer and a CGNAT peer: every optional field once. */
static const char base_doc[] =
        "{\"schema\": \"wgfleet/desired-state/v1\", \"node\": \"n1\", \"revision\": 7,"
        " \"issued_at\": \"2026-11-22T00:00:00Z\", \"expires_at\": \"2036-11-22T00:00:00Z\","
        " \"interfaces\": [{"
        "  \"name\": \"wg0\", \"listen_port\": 51820, \"addresses\": [\"10.0.0.1/24\", \"fd00::1/64\"],"
        "  \"mtu\": 1420, \"fwmark\": 51820, \"route_table\": \"main\", \"public_key\": \"" K4 "\","
        "  \"peers\": ["
        "   {\"name\": \"hub\", \"public_key\": \"" K1 "\", \"endpoint\": \"192.0.2.1:51820\","
        "    \"endpoint_alt\": [\"hub.example.net:51820\"],"
        "    \"allowed_ips\": [\"10.0.0.0/24\", \"192.168.0.0/16\"], \"persistent_keepalive\": 25},"
        "   {\"name\": \"exit1\", \"public_key\": \"" K2 "\", \"endpoint\": \"[2001:db8::1]:51820\","
        "    \"allowed_ips\": [\"0.0.0.0/0\", \"::/0\"]},"
        "   {\"name\": \"cgnat\", \"public_key\": \"" K3 "\", \"allowed_ips\": [\"10.1.0.0/24\", \"fd00:1::/64\"],"
        "    \"preshared_key_ref\": \"cgnat.psk\"}"
        "  ],"
        "  \"routes\": [{\"dst\": \"192.168.7.0/24\", \"via\": \"hub\"}],"
        "  \"exit\": [\"exit1\"],"
        "  \"forwarding\": true, \"masquerade\": {\"out_interface\": \"eth0\"},"
        "  \"netmap\": [{\"local\": \"192.168.1.0/24\", \"overlay\": \"172.16.1.0/24\"}],"
        "  \"services\": [{\"name\": \"nas-web\", \"address\": \"10.0.5.7\", \"protocol\": \"tcp\","
        "                \"port\": 443, \"target\": \"192.168.1.10:8443\"}]"
        " }]}";

/* A second interface for the cross-interface rules. */
#define IFACE2 "{\"name\": \"wg1\", \"listen_port\": 51821, \"addresses\": [\"10.9.0.1/24\"], \"peers\": []}"

struct mut {
        const char *path;  /* "interfaces[0].peers[1].name"; "[n]" with n == size appends */
        const char *value; /* JSON text; NULL deletes */
};

struct rule_case {
        const char *rule;
        struct mut muts[3];
        const char *raw;    /* instead of base_doc + muts */
        const char *expect; /* the whole message, or a prefix ending in "..." */
};

static const struct rule_case cases[] = {
        /* syntax and structure */
        { "json syntax", .raw = "{\"schema\": ", .expect = "document: not valid JSON (line 1 column 11: ..." },
        { "top level is an object", .raw = "[1, 2]", .expect = "document: an array is not a JSON object" },
        { "duplicate keys", .raw = "{\"node\": \"a\", \"node\": \"b\"}",
          .expect = "document: not valid JSON (line 1 column 20: duplicate object key near '\"node\"')" },
        { "NUL in strings", .raw = "{\"node\": \"a\\u0000b\"}",
          .expect = "document: not valid JSON (line 1 column 19: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"')" },
        { "UTF-8", .raw = "{\"node\": \"\xc3\x28\"}",
          .expect = "document: not valid JSON (line 1 column 10: unable to decode byte 0xc3 near '\"')" },
        { "trailing garbage", .raw = "{} {}", .expect = "document: not valid JSON (line 1 column 4: end of file expected near '{')" },
        { "required field", { { "node", NULL } }, .expect = "node: is missing (required)" },
        { "required field (interface)", { { "interfaces[0].listen_port", NULL } },
          .expect = "interfaces[0].listen_port: is missing (required)" },
        { "required field (peer)", { { "interfaces[0].peers[0].allowed_ips", NULL } },
          .expect = "interfaces[0].peers[0].allowed_ips: is missing (required)" },
        { "string type", { { "node", "5" } }, .expect = "node: 5 is not a string" },
        { "array type", { { "interfaces", "{}" } }, .expect = "interfaces: an object is not an array" },
        { "interface object type", { { "interfaces[0]", "\"wg0\"" } }, .expect = "interfaces[0]: \"wg0\" is not an object" },
        { "peer object type", { { "interfaces[0].peers[1]", "[]" } }, .expect = "interfaces[0].peers[1]: an array is not an object" },
        { "string element type", { { "interfaces[0].addresses[1]", "true" } },
          .expect = "interfaces[0].addresses[1]: true is not a string" },
        /* top level */
        { "schema", { { "schema", "\"wgfleet/desired-state/v2\"" } },
          .expect = "schema: \"wgfleet/desired-state/v2\" is not \"wgfleet/desired-state/v1\"" },
        { "node name", { { "node", "\"n1; rm -rf /\"" } },
          .expect = "node: \"n1; rm -rf /\" is not a node name (1-253 of A-Z a-z 0-9 . _ -, starting with a letter or digit)" },
        { "node name control characters", { { "node", "\"n1\\nX\"" } },
          .expect = "node: \"n1\\x0aX\" is not a node name ..." },
        { "revision non-negative", { { "revision", "-1" } }, .expect = "revision: -1 is not a revision (>= 0)" },
        { "revision integer", { { "revision", "7.5" } }, .expect = "revision: 7.5 is not an integer" },
        { "revision integer (string)", { { "revision", "\"7\"" } }, .expect = "revision: \"7\" is not an integer" },
        { "revision 64-bit", .raw = "{\"revision\": 18446744073709551616}",
          .expect = "document: not valid JSON (line 1 column 33: too big integer near '18446744073709551616')" },
        { "issued_at RFC 3339", { { "issued_at", "\"2026-11-22 00:00:00\"" } },
          .expect = "issued_at: \"2026-11-22 00:00:00\" is not an RFC 3339 time (e.g. 2026-11-22T00:00:00Z)" },
        { "expires_at RFC 3339", { { "expires_at", "\"2026-02-30T00:00:00Z\"" } },
          .expect = "expires_at: \"2026-02-30T00:00:00Z\" is not an RFC 3339 time (e.g. 2026-11-22T00:00:00Z)" },
        { "expires_at after issued_at", { { "expires_at", "\"2026-11-21T23:59:59Z\"" } },
          .expect = "expires_at: \"2026-11-21T23:59:59Z\" is not after issued_at" },
        /* interface */
        { "interface name length", { { "interfaces[0].name", "\"wg0123456789abcd\"" } },
          .expect = "interfaces[0].name: \"wg0123456789abcd\" is not an interface name (1-15 printable ASCII bytes, no '/' or ':')" },
        { "interface name empty", { { "interfaces[0].name", "\"\"" } },
          .expect = "interfaces[0].name: \"\" is not an interface name ..." },
        { "interface name slash", { { "interfaces[0].name", "\"wg/0\"" } },
          .expect = "interfaces[0].name: \"wg/0\" is not an interface name ..." },
        { "interface name whitespace", { { "interfaces[0].name", "\"wg 0\"" } },
          .expect = "interfaces[0].name: \"wg 0\" is not an interface name ..." },
        { "interface name non-ASCII", { { "interfaces[0].name", "\"wg\xc3\xa9\"" } },
          .expect = "interfaces[0].name: \"wg\xc3\xa9\" is not an interface name ..." },
        { "interface name dot-dot", { { "interfaces[0].name", "\"..\"" } },
          .expect = "interfaces[0].name: \"..\" is not an interface name ..." },
        { "listen_port low", { { "interfaces[0].listen_port", "0" } },
          .expect = "interfaces[0].listen_port: 0 is not a port (1-65535)" },
        { "listen_port high", { { "interfaces[0].listen_port", "65536" } },
          .expect = "interfaces[0].listen_port: 65536 is not a port (1-65535)" },
        { "address CIDR", { { "interfaces[0].addresses[0]", "\"10.0.0.300/24\"" } },
          .expect = "interfaces[0].addresses[0]: \"10.0.0.300/24\" is not a CIDR" },
        { "address prefix length v4", { { "interfaces[0].addresses[0]", "\"10.0.0.1/33\"" } },
          .expect = "interfaces[0].addresses[0]: \"10.0.0.1/33\" has an invalid prefix length" },
        { "address prefix length v6", { { "interfaces[0].addresses[1]", "\"fd00::1/129\"" } },
          .expect = "interfaces[0].addresses[1]: \"fd00::1/129\" has an invalid prefix length" },
        { "address prefix 0", { { "interfaces[0].addresses[0]", "\"10.0.0.1/0\"" } },
          .expect = "interfaces[0].addresses[0]: \"10.0.0.1/0\" has prefix length 0 (an interface address needs a subnet)" },
        { "address duplicate", { { "interfaces[0].addresses[2]", "\"10.0.0.1/16\"" } },
          .expect = "interfaces[0].addresses[2]: \"10.0.0.1/16\" is listed twice (also [0])" },
        { "mtu range", { { "interfaces[0].mtu", "100" } }, .expect = "interfaces[0].mtu: 100 is not an MTU (576-65535)" },
        { "mtu IPv6 minimum", { { "interfaces[0].mtu", "1200" } },
          .expect = "interfaces[0].mtu: 1200 is below 1280, the IPv6 minimum, and addresses[1] is IPv6 (the kernel would drop it)" },
        { "fwmark range", { { "interfaces[0].fwmark", "-1" } }, .expect = "interfaces[0].fwmark: -1 is not a fwmark (0-4294967295)" },
        { "route_table name", { { "interfaces[0].route_table", "\"local\"" } },
          .expect = "interfaces[0].route_table: \"local\" is not a route table (\"main\" or a number 1-4294967295, not 253 default or 255 local)" },
        { "route_table reserved number", { { "interfaces[0].route_table", "255" } },
          .expect = "interfaces[0].route_table: 255 is not a route table (1-4294967295, not 253 default or 255 local)" },
        { "route_table zero", { { "interfaces[0].route_table", "0" } },
          .expect = "interfaces[0].route_table: 0 is not a route table ..." },
        { "route_metric range", { { "interfaces[0].route_metric", "4294967296" } },
          .expect = "interfaces[0].route_metric: 4294967296 is not a route metric (0-4294967295)" },
        { "interface key", { { "interfaces[0].public_key", "\"" "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==" "\"" } },
          .expect = "interfaces[0].public_key: \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==\" is not a key (44 characters of base64, 32 bytes)" },
        { "secrets refused (interface)", { { "interfaces[0].private_key", "\"" K5 "\"" } },
          .expect = "interfaces[0].private_key: is refused: secrets never travel in a document (the node generates its private key; use preshared_key_ref)" },
        /* peers */
        { "peer name", { { "interfaces[0].peers[0].name", "\"-hub\"" } },
          .expect = "interfaces[0].peers[0].name: \"-hub\" is not a peer name (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)" },
        { "peer key base64", { { "interfaces[0].peers[1].public_key", "\"not a key\"" } },
          .expect = "interfaces[0].peers[1].public_key: \"not a key\" is not a key (44 characters of base64, 32 bytes)" },
        { "peer key length", { { "interfaces[0].peers[1].public_key", "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"" } },
          .expect = "interfaces[0].peers[1].public_key: \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\" is not a key ..." },
        { "peer key all-zero", { { "interfaces[0].peers[1].public_key", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"" } },
          .expect = "interfaces[0].peers[1].public_key: \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\" is the all-zero key" },
        { "endpoint host:port", { { "interfaces[0].peers[0].endpoint", "\"192.0.2.1\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"192.0.2.1\" is not host:port" },
        { "endpoint port", { { "interfaces[0].peers[0].endpoint", "\"192.0.2.1:0\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"192.0.2.1:0\" has no valid port (1-65535)" },
        { "endpoint v6 needs brackets", { { "interfaces[0].peers[0].endpoint", "\"2001:db8::1:51820\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"2001:db8::1:51820\" is not host:port" },
        { "endpoint bracketed v6", { { "interfaces[0].peers[0].endpoint", "\"[2001:db8::zz]:51820\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"[2001:db8::zz]:51820\" has an invalid IPv6 address" },
        { "endpoint IPv4 literal", { { "interfaces[0].peers[0].endpoint", "\"192.0.2.300:51820\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"192.0.2.300:51820\" has an invalid IPv4 address" },
        { "endpoint host name", { { "interfaces[0].peers[0].endpoint", "\"hub..example.net:51820\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"hub..example.net:51820\" has an invalid host name (labels of 1-63 letters, digits, '-', '_')" },
        { "endpoint host name label", { { "interfaces[0].peers[0].endpoint", "\"-hub.example.net:51820\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"-hub.example.net:51820\" has an invalid host name ..." },
        { "endpoint_alt syntax", { { "interfaces[0].peers[0].endpoint_alt[1]", "\"hub example:1\"" } },
          .expect = "interfaces[0].peers[0].endpoint_alt[1]: \"hub example:1\" is not host:port" },
        { "endpoint_alt without endpoint", { { "interfaces[0].peers[0].endpoint", NULL } },
          .expect = "interfaces[0].peers[0].endpoint_alt: is given without an endpoint" },
        { "allowed_ips CIDR", { { "interfaces[0].peers[2].allowed_ips[1]", "\"10.0.0.300/32\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[1]: \"10.0.0.300/32\" is not a CIDR" },
        { "allowed_ips host bits", { { "interfaces[0].peers[2].allowed_ips[0]", "\"10.1.0.1/24\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[0]: \"10.1.0.1/24\" has host bits set" },
        { "allowed_ips v6 prefix length", { { "interfaces[0].peers[2].allowed_ips[1]", "\"fd00:1::/129\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[1]: \"fd00:1::/129\" has an invalid prefix length" },
        { "allowed_ips loopback", { { "interfaces[0].peers[2].allowed_ips[2]", "\"127.0.0.0/24\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[2]: \"127.0.0.0/24\" is a loopback prefix (no tunnel can carry it)" },
        { "allowed_ips multicast v6", { { "interfaces[0].peers[2].allowed_ips[2]", "\"ff02::/16\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[2]: \"ff02::/16\" is a multicast prefix (WireGuard carries unicast only)" },
        { "allowed_ips v4-mapped", { { "interfaces[0].peers[2].allowed_ips[2]", "\"::ffff:10.2.0.0/112\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[2]: \"::ffff:10.2.0.0/112\" is an IPv4-mapped IPv6 prefix (write the IPv4 prefix instead)" },
        { "address multicast", { { "interfaces[0].addresses[0]", "\"239.1.1.1/24\"" } },
          .expect = "interfaces[0].addresses[0]: \"239.1.1.1/24\" is a multicast prefix (WireGuard carries unicast only)" },
        { "route dst loopback", { { "interfaces[0].routes[0].dst", "\"::1/128\"" } },
          .expect = "interfaces[0].routes[0].dst: \"::1/128\" is the loopback address (no tunnel can carry it)" },
        { "allowed_ips duplicate", { { "interfaces[0].peers[2].allowed_ips[2]", "\"10.1.0.0/24\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[2]: \"10.1.0.0/24\" is listed twice (also [0])" },
        { "persistent_keepalive range", { { "interfaces[0].peers[0].persistent_keepalive", "65536" } },
          .expect = "interfaces[0].peers[0].persistent_keepalive: 65536 is out of range (0-65535 seconds, 0 = off)" },
        { "persistent_keepalive negative", { { "interfaces[0].peers[0].persistent_keepalive", "-5" } },
          .expect = "interfaces[0].peers[0].persistent_keepalive: -5 is out of range ..." },
        { "preshared_key_ref file name", { { "interfaces[0].peers[2].preshared_key_ref", "\"../../etc/shadow\"" } },
          .expect = "interfaces[0].peers[2].preshared_key_ref: \"../../etc/shadow\" is not a file name in secrets_dir (1-255 bytes, no '/', no leading '.', no whitespace)" },
        { "secrets refused (peer)", { { "interfaces[0].peers[2].preshared_key", "\"" K5 "\"" } },
          .expect = "interfaces[0].peers[2].preshared_key: is refused: secrets never travel ..." },
        /* cross-field rules */
        { "duplicate interface", { { "interfaces[1]", IFACE2 }, { "interfaces[1].name", "\"wg0\"" } },
          .expect = "interfaces[1].name: \"wg0\" is a duplicate interface (also interfaces[0])" },
        { "duplicate listen_port", { { "interfaces[1]", IFACE2 }, { "interfaces[1].listen_port", "51820" } },
          .expect = "interfaces[1].listen_port: 51820 is also the port of interfaces[0] \"wg0\"" },
        { "same address on two interfaces", { { "interfaces[1]", IFACE2 }, { "interfaces[1].addresses[1]", "\"fd00::1/128\"" } },
          .expect = "interfaces[1].addresses[1]: \"fd00::1/128\" is also an address of interfaces[0] \"wg0\"" },
        { "same prefix on two interfaces, one table", { { "interfaces[1]", IFACE2 },
                                                        { "interfaces[1].peers[0]", "{\"name\": \"x\", \"public_key\": \"" K5 "\", \"allowed_ips\": [\"192.168.0.0/16\"]}" } },
          .expect = "interfaces[1].peers[0].allowed_ips[0]: \"192.168.0.0/16\" is also an allowed IP of interfaces[0] \"wg0\" peer \"hub\" in the same route table" },
        { "duplicate peer name", { { "interfaces[0].peers[2].name", "\"hub\"" } },
          .expect = "interfaces[0].peers[2].name: \"hub\" is a duplicate peer name (also peers[0])" },
        { "duplicate public key", { { "interfaces[0].peers[2].public_key", "\"" K1 "\"" } },
          .expect = "interfaces[0].peers[2].public_key: \"" K1 "\" is a duplicate public key (also peers[0] \"hub\")" },
        { "peer key is the node key", { { "interfaces[0].peers[2].public_key", "\"" K4 "\"" } },
          .expect = "interfaces[0].peers[2].public_key: \"" K4 "\" is this interface's own public key (WireGuard ignores such a peer)" },
        { "same prefix on two peers", { { "interfaces[0].peers[2].allowed_ips[2]", "\"192.168.0.0/16\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[2]: \"192.168.0.0/16\" is also an allowed IP of peer \"hub\" (one prefix, one peer)" },
        { "default route v4 only via exit", { { "interfaces[0].exit", "[]" } },
          .expect = "interfaces[0].peers[1].allowed_ips[0]: \"0.0.0.0/0\" would carry the default route and swallow the underlay; list peer \"exit1\" in interfaces[0].exit to allow it" },
        { "default route v6 only via exit", { { "interfaces[0].peers[1].allowed_ips[1]", NULL },
                                              { "interfaces[0].peers[2].allowed_ips[1]", "\"::/0\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[1]: \"::/0\" would carry the default route and swallow the underlay; list peer \"cgnat\" in interfaces[0].exit to allow it" },
        { "peer claims the node's address", { { "interfaces[0].peers[2].allowed_ips[2]", "\"10.0.0.1/32\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[2]: \"10.0.0.1/32\" contains this interface's own address 10.0.0.1/24 (addresses[0])" },
        { "peer claims the node's v6 subnet part", { { "interfaces[0].peers[2].allowed_ips[1]", "\"fd00::/96\"" } },
          .expect = "interfaces[0].peers[2].allowed_ips[1]: \"fd00::/96\" contains this interface's own address fd00::1/64 (addresses[1])" },
        { "endpoint inside allowed IPs", { { "interfaces[0].peers[0].endpoint", "\"10.1.0.9:51820\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"10.1.0.9:51820\" lies inside allowed IP 10.1.0.0/24 of peer \"cgnat\" (the tunnel would carry its own packets)" },
        { "endpoint inside allowed IPs (v6, own peer)", { { "interfaces[0].peers[0].endpoint", "\"[fd00:1::5]:51820\"" },
                                                          { "interfaces[0].peers[0].allowed_ips[2]", "\"fd00:1::/64\"" },
                                                          { "interfaces[0].peers[2].allowed_ips[1]", "\"fd00:2::/64\"" } },
          .expect = "interfaces[0].peers[0].endpoint: \"[fd00:1::5]:51820\" lies inside allowed IP fd00:1::/64 of peer \"hub\" (the tunnel would carry its own packets)" },
        { "exit names a peer", { { "interfaces[0].exit[1]", "\"nobody\"" } },
          .expect = "interfaces[0].exit[1]: \"nobody\" is not a peer of this interface" },
        { "exit duplicate", { { "interfaces[0].exit[1]", "\"exit1\"" } },
          .expect = "interfaces[0].exit[1]: \"exit1\" is listed twice (also exit[0])" },
        { "exit element type", { { "interfaces[0].exit[0]", "3" } }, .expect = "interfaces[0].exit[0]: 3 is not a string" },
        { "exit_policy value", { { "interfaces[0].exit_policy", "\"fastest\"" } },
          .expect = "interfaces[0].exit_policy: \"fastest\" is not an exit policy (\"latency\" or \"manual\")" },
        { "exit_policy type", { { "interfaces[0].exit_policy", "1" } },
          .expect = "interfaces[0].exit_policy: 1 is not a string" },
        { "exit_policy without exit", { { "interfaces[0].exit_policy", "\"latency\"" }, { "interfaces[0].exit", NULL } },
          .expect = "interfaces[0].exit_policy: \"latency\" is given without exit" },
        { "exit_sources CIDR", { { "interfaces[0].exit_sources", "[\"192.168.50.1/24\"]" } },
          .expect = "interfaces[0].exit_sources[0]: \"192.168.50.1/24\" has host bits set" },
        { "exit_sources default", { { "interfaces[0].exit_sources", "[\"192.168.50.0/24\", \"0.0.0.0/0\"]" } },
          .expect = "interfaces[0].exit_sources[1]: \"0.0.0.0/0\" is every source (leave exit_sources out instead)" },
        { "exit_sources twice", { { "interfaces[0].exit_sources", "[\"192.168.50.0/24\", \"192.168.50.0/24\"]" } },
          .expect = "interfaces[0].exit_sources[1]: \"192.168.50.0/24\" is listed twice (also exit_sources[0])" },
        { "exit_sources without exit", { { "interfaces[0].exit_sources", "[\"192.168.50.0/24\"]" }, { "interfaces[0].exit", NULL } },
          .expect = "interfaces[0].exit_sources: is given without exit" },
        { "exit_primary listed", { { "interfaces[0].exit_primary", "\"hub\"" } },
          .expect = "interfaces[0].exit_primary: \"hub\" is not listed in interfaces[0].exit" },
        { "route via names a peer", { { "interfaces[0].routes[0].via", "\"nobody\"" } },
          .expect = "interfaces[0].routes[0].via: \"nobody\" is not a peer of this interface" },
        { "route dst CIDR", { { "interfaces[0].routes[0].dst", "\"192.168.7.0/24x\"" } },
          .expect = "interfaces[0].routes[0].dst: \"192.168.7.0/24x\" has an invalid prefix length" },
        { "route dst host bits", { { "interfaces[0].routes[0].dst", "\"192.168.7.1/24\"" } },
          .expect = "interfaces[0].routes[0].dst: \"192.168.7.1/24\" has host bits set" },
        { "route dst inside via's allowed IPs", { { "interfaces[0].routes[0].dst", "\"172.16.0.0/12\"" } },
          .expect = "interfaces[0].routes[0].dst: \"172.16.0.0/12\" is not inside the allowed IPs of peer \"hub\" (WireGuard would drop it)" },
        { "route default only via exit", { { "interfaces[0].routes[0].dst", "\"0.0.0.0/0\"" } },
          .expect = "interfaces[0].routes[0].dst: \"0.0.0.0/0\" is the default route; list peer \"hub\" in interfaces[0].exit instead" },
        { "route duplicate", { { "interfaces[0].routes[1]", "{\"dst\": \"192.168.7.0/24\", \"via\": \"hub\"}" } },
          .expect = "interfaces[0].routes[1].dst: \"192.168.7.0/24\" is a duplicate route (also routes[0])" },
        { "route object type", { { "interfaces[0].routes[0]", "\"192.168.7.0/24\"" } },
          .expect = "interfaces[0].routes[0]: \"192.168.7.0/24\" is not an object" },
        /* gateway fields (rules 40-47) */
        { "forwarding is a boolean", { { "interfaces[0].forwarding", "1" } },
          .expect = "interfaces[0].forwarding: 1 is not a boolean" },
        { "masquerade is an object", { { "interfaces[0].masquerade", "\"eth0\"" } },
          .expect = "interfaces[0].masquerade: \"eth0\" is not an object" },
        { "masquerade out_interface required", { { "interfaces[0].masquerade", "{}" } },
          .expect = "interfaces[0].masquerade.out_interface: is missing (required)" },
        { "masquerade out_interface name", { { "interfaces[0].masquerade.out_interface", "\"eth/0\"" } },
          .expect = "interfaces[0].masquerade.out_interface: \"eth/0\" is not an interface name (1-15 printable ASCII bytes, no '/' or ':')" },
        { "masquerade out_interface not the tunnel", { { "interfaces[0].masquerade.out_interface", "\"wg0\"" } },
          .expect = "interfaces[0].masquerade.out_interface: \"wg0\" is this interface (masquerade is for traffic that leaves by another one)" },
        { "netmap is an array", { { "interfaces[0].netmap", "{}" } },
          .expect = "interfaces[0].netmap: an object is not an array" },
        { "netmap element object", { { "interfaces[0].netmap[0]", "\"192.168.1.0/24\"" } },
          .expect = "interfaces[0].netmap[0]: \"192.168.1.0/24\" is not an object" },
        { "netmap local CIDR", { { "interfaces[0].netmap[0].local", "\"192.168.1.0/33\"" } },
          .expect = "interfaces[0].netmap[0].local: \"192.168.1.0/33\" has an invalid prefix length" },
        { "netmap local host bits", { { "interfaces[0].netmap[0].local", "\"192.168.1.1/24\"" } },
          .expect = "interfaces[0].netmap[0].local: \"192.168.1.1/24\" has host bits set" },
        { "netmap overlay required", { { "interfaces[0].netmap[0].overlay", NULL } },
          .expect = "interfaces[0].netmap[0].overlay: is missing (required)" },
        { "netmap overlay special", { { "interfaces[0].netmap[0].overlay", "\"127.16.1.0/24\"" } },
          .expect = "interfaces[0].netmap[0].overlay: \"127.16.1.0/24\" is a loopback prefix ..." },
        { "netmap not a default route", { { "interfaces[0].netmap[0].local", "\"0.0.0.0/0\"" } },
          .expect = "interfaces[0].netmap[0].local: \"0.0.0.0/0\" is a default route, not a LAN" },
        { "netmap same prefix length", { { "interfaces[0].netmap[0].overlay", "\"172.16.1.0/25\"" } },
          .expect = "interfaces[0].netmap[0].overlay: \"172.16.1.0/25\" is not the same family and prefix length as local 192.168.1.0/24 (netmap maps address for address)" },
        { "netmap same family", { { "interfaces[0].netmap[0].overlay", "\"fd01::/24\"" } },
          .expect = "interfaces[0].netmap[0].overlay: \"fd01::/24\" is not the same family and prefix length as local 192.168.1.0/24 (netmap maps address for address)" },
        { "netmap overlay not the local prefix", { { "interfaces[0].netmap[0].overlay", "\"192.168.1.0/24\"" } },
          .expect = "interfaces[0].netmap[0].overlay: \"192.168.1.0/24\" overlaps netmap[0].local 192.168.1.0/24" },
        { "netmap entries disjoint", { { "interfaces[0].netmap[1]", "{\"local\": \"172.16.1.0/25\", \"overlay\": \"172.16.9.0/25\"}" } },
          .expect = "interfaces[0].netmap[1].local: \"172.16.1.0/25\" overlaps netmap[0].overlay 172.16.1.0/24" },
        { "netmap overlay is this node's", { { "interfaces[0].netmap[0].overlay", "\"10.1.0.0/24\"" } },
          .expect = "interfaces[0].netmap[0].overlay: \"10.1.0.0/24\" contains allowed IP 10.1.0.0/24 of peer \"cgnat\" (the overlay prefix is this node's)" },
        { "netmap local stays on the LAN", { { "interfaces[0].netmap[0].local", "\"10.1.0.0/16\"" },
                                             { "interfaces[0].netmap[0].overlay", "\"172.17.0.0/16\"" } },
          .expect = "interfaces[0].netmap[0].local: \"10.1.0.0/16\" contains allowed IP 10.1.0.0/24 of peer \"cgnat\" (the local prefix is this node's)" },
        { "service element object", { { "interfaces[0].services[0]", "[]" } },
          .expect = "interfaces[0].services[0]: an array is not an object" },
        { "service name", { { "interfaces[0].services[0].name", "\"-web\"" } },
          .expect = "interfaces[0].services[0].name: \"-web\" is not a service name (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)" },
        { "service address single", { { "interfaces[0].services[0].address", "\"10.0.5.0/24\"" } },
          .expect = "interfaces[0].services[0].address: \"10.0.5.0/24\" is not a single address" },
        { "service address special", { { "interfaces[0].services[0].address", "\"224.0.0.7\"" } },
          .expect = "interfaces[0].services[0].address: \"224.0.0.7\" is a multicast prefix ..." },
        { "service protocol", { { "interfaces[0].services[0].protocol", "\"sctp\"" } },
          .expect = "interfaces[0].services[0].protocol: \"sctp\" is not \"tcp\" or \"udp\"" },
        { "service port", { { "interfaces[0].services[0].port", "0" } },
          .expect = "interfaces[0].services[0].port: 0 is not a port (1-65535)" },
        { "service target port", { { "interfaces[0].services[0].target", "\"192.168.1.10\"" } },
          .expect = "interfaces[0].services[0].target: \"192.168.1.10\" is not an address:port (e.g. 192.168.1.10:8443)" },
        { "service target address", { { "interfaces[0].services[0].target", "\"nas.lan:8443\"" } },
          .expect = "interfaces[0].services[0].target: \"nas.lan:8443\" is not an address:port (the host must be an IP address)" },
        { "service target family", { { "interfaces[0].services[0].target", "\"[fd00:1::5]:8443\"" } },
          .expect = "interfaces[0].services[0].target: \"[fd00:1::5]:8443\" is not in the address family of address" },
        { "service duplicate name", { { "interfaces[0].services[1]", "{\"name\": \"nas-web\", \"address\": \"10.0.5.8\", \"protocol\": \"tcp\", \"port\": 443, \"target\": \"192.168.1.10:443\"}" } },
          .expect = "interfaces[0].services[1].name: \"nas-web\" is a duplicate service name (also services[0])" },
        { "service duplicate port", { { "interfaces[0].services[1]", "{\"name\": \"nas2\", \"address\": \"10.0.5.7\", \"protocol\": \"tcp\", \"port\": 443, \"target\": \"192.168.1.11:443\"}" } },
          .expect = "interfaces[0].services[1].port: 443 is also the tcp port of services[0] \"nas-web\" at 10.0.5.7/32" },
        { "service address is this node's", { { "interfaces[0].peers[2].allowed_ips[2]", "\"10.0.5.7/32\"" } },
          .expect = "interfaces[0].services[0].address: \"10.0.5.7\" is an allowed IP of peer \"cgnat\" (a service address is this node's)" },
        /* rendering of values in messages */
        { "long values are cut on a character boundary", { { "node", "\"éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé\"" } },
          .expect = "node: \"ééééééééééééééééééééééééééééééééééééééé...\" is not a node name ..." },
        { "long values are cut", { { "node", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa x\"" } },
          .expect = "node: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is not a node name ..." },
};

/* Sets (or with value NULL deletes) the element at a dotted path with [n] indices. */
static int mutate(json_t *root, const char *path, const char *value) {
        char buf[256], *p = buf;
        json_t *cur = root;

        snprintf(buf, sizeof(buf), "%s", path);
        for (;;) {
                char key[64];
                size_t n = strcspn(p, ".[");
                bool idx = false;
                size_t i = 0;

                if (n > 0) {
                        snprintf(key, sizeof(key), "%.*s", (int)n, p);
                        p += n;
                } else if (*p == '[') {
                        i = strtoul(p + 1, &p, 10);
                        p++; /* ']' */
                        idx = true;
                }
                if (*p == '.')
                        p++;
                if (*p == '\0') {
                        json_t *v = NULL;
                        if (value) {
                                json_error_t err;
                                v = json_loads(value, JSON_DECODE_ANY, &err);
                                if (!v)
                                        return -1;
                        }
                        if (idx) {
                                if (!v)
                                        return json_array_remove(cur, i);
                                if (i == json_array_size(cur))
                                        return json_array_append_new(cur, v);
                                return json_array_set_new(cur, i, v);
                        }
                        if (!v)
                                return json_object_del(cur, key);
                        return json_object_set_new(cur, key, v);
                }
                cur = idx ? json_array_get(cur, i) : json_object_get(cur, key);
                if (!cur)
                        return -1;
        }
}

static char *build(const struct rule_case *c) {
        json_error_t err;
        json_t *root = json_loads(base_doc, 0, &err);
        char *s;

        if (!root) {
                fprintf(stderr, "base document: %s\n", err.text);
                abort();
        }
        for (size_t i = 0; i < ELEMENTSOF(c->muts) && c->muts[i].path; i++)
                if (mutate(root, c->muts[i].path, c->muts[i].value) < 0) {
                        fprintf(stderr, "%s: cannot apply %s\n", c->rule, c->muts[i].path);
                        abort();
                }
        s = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        return s;
}

/* An expectation ending in "..." is a prefix; otherwise the whole message must match. */
static bool msg_matches(const char *msg, const char *expect) {
        size_t n = strlen(expect);

        if (n > 3 && strcmp(expect + n - 3, "...") == 0)
                return strncmp(msg, expect, n - 3) == 0;
        return strcmp(msg, expect) == 0;
}

static void test_rules(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const struct rule_case *c = &cases[i];
                _cleanup_free_ char *text = c->raw ? strdup(c->raw) : build(c);
                struct wf_doc *d = NULL;
                struct wf_err e = {};
                int r;

                r = doc_parse(text, strlen(text), &d, &e, NULL, NULL);
                /* one line, valid UTF-8 (json_string() refuses anything else) */
                json_t *utf8 = json_string(e.msg);
                if (r != -EINVAL || d || !msg_matches(e.msg, c->expect) || strchr(e.msg, '\n') || !utf8) {
                        fprintf(stderr, "not ok %zu - %s\n  r=%d\n  got:  %s\n  want: %s\n", i + 1, c->rule,
                                r, e.msg, c->expect);
                        tap_failures++;
                } else
                        printf("ok %zu - %s: %s\n", i + 1, c->rule, e.msg);
                json_decref(utf8);
                wf_doc_free(d);
        }
}

static void test_valid(void) {
        struct rule_case none = { "valid" };
        _cleanup_free_ char *text = build(&none);
        struct wf_doc *d = NULL;
        struct wf_err e = {};
        struct tap_warnings w = {};
        const struct wf_iface *f;

        CHECK(doc_parse(text, strlen(text), &d, &e, tap_collect, &w) == 0);
        if (!d) {
                fprintf(stderr, "base document rejected: %s\n", e.msg);
                tap_failures++;
                return;
        }
        CHECK(w.n == 0);
        CHECK(strcmp(d->node, "n1") == 0 && d->revision == 7);
        CHECK(d->issued_at == 1795305600 && d->expires_at == 2110924800);
        CHECK(d->n_ifaces == 1);
        f = &d->ifaces[0];
        CHECK(strcmp(f->name, "wg0") == 0 && f->listen_port == 51820 && f->mtu == 1420 && f->fwmark == 51820);
        CHECK(f->route_table == 254 && f->route_metric == WF_DEFAULT_METRIC);
        CHECK(f->has_public_key && f->public_key[0] == 4 && f->public_key[31] == 4);
        CHECK(f->n_addresses == 2 && f->addresses[0].len == 24 && f->addresses[0].addr[3] == 1);
        CHECK(f->n_peers == 3 && f->n_routes == 1 && f->n_exit == 1 && strcmp(f->exit[0], "exit1") == 0);
        CHECK(strcmp(f->peers[0].endpoint_host, "192.0.2.1") == 0 && f->peers[0].endpoint_port == 51820);
        CHECK(f->peers[0].n_endpoint_alt == 1 && strcmp(f->peers[0].endpoint_alt[0], "hub.example.net:51820") == 0);
        CHECK(f->peers[0].persistent_keepalive == 25 && f->peers[1].persistent_keepalive == -1);
        CHECK(strcmp(f->peers[1].endpoint_host, "2001:db8::1") == 0);
        CHECK(f->peers[2].endpoint == NULL && strcmp(f->peers[2].preshared_key_ref, "cgnat.psk") == 0);
        CHECK(f->peers[1].n_allowed_ips == 2 && f->peers[1].allowed_ips[0].len == 0);
        CHECK(strcmp(f->routes[0].via, "hub") == 0 && f->routes[0].dst.len == 24);
        CHECK(f->forwarding && strcmp(f->masquerade_out, "eth0") == 0);
        CHECK(f->n_netmap == 1 && f->netmap[0].local.addr[0] == 192 && f->netmap[0].overlay.addr[0] == 172 &&
              f->netmap[0].overlay.len == 24);
        CHECK(f->n_services == 1 && strcmp(f->services[0].name, "nas-web") == 0 && f->services[0].port == 443 &&
              f->services[0].protocol == IPPROTO_TCP && f->services[0].address.len == 32 &&
              f->services[0].target.addr[3] == 10 && f->services[0].target_port == 8443);
        CHECK(doc_count_peers(d) == 3);
        wf_doc_free(d);
}

static void test_variants(void) {
        /* Accepted variations: numbers for route_table, null for optional fields, unknown
         * fields (warned), an empty interface list (the node runs no tunnels). */
        struct rule_case c1 = { "table", { { "interfaces[0].route_table", "100" }, { "interfaces[0].route_metric", "0" },
                                           { "interfaces[0].peers[0].endpoint_alt", "null" } } };
        struct rule_case c2 = { "unknown", { { "future_field", "{\"x\": 1}" }, { "interfaces[0].peers[0].color", "\"red\"" },
                                             { "interfaces[0].a\nb", "1" } } };
        struct rule_case c3 = { "empty", { { "interfaces", "[]" } } };
        struct rule_case c4 = { "hub /16 around the node's /24, link-local on a peer",
                                { { "interfaces[0].peers[0].allowed_ips[0]", "\"10.0.0.0/16\"" },
                                  { "interfaces[0].peers[2].allowed_ips[2]", "\"fe80::2/128\"" } } };
        struct rule_case c5 = { "two interfaces, one prefix in two tables",
                                { { "interfaces[1]", IFACE2 }, { "interfaces[1].route_table", "100" },
                                  { "interfaces[1].peers[0]", "{\"name\": \"x\", \"public_key\": \"" K5 "\", \"allowed_ips\": [\"192.168.0.0/16\"]}" } } };
        struct wf_doc *d = NULL;
        struct wf_err e = {};
        struct tap_warnings w = {};
        char *t;

        t = build(&c1);
        CHECK(doc_parse(t, strlen(t), &d, &e, NULL, NULL) == 0);
        CHECK(d && d->ifaces[0].route_table == 100 && d->ifaces[0].route_metric == 0);
        CHECK(d && d->ifaces[0].peers[0].n_endpoint_alt == 0);
        wf_doc_free(d);
        d = NULL;
        free(t);

        t = build(&c2);
        CHECK(doc_parse(t, strlen(t), &d, &e, tap_collect, &w) == 0);
        CHECK(w.n == 3);
        CHECK(strstr(w.all, "future_field: unknown field, ignored\n"));
        CHECK(strstr(w.all, "interfaces[0].peers[0].color: unknown field, ignored\n"));
        CHECK(strstr(w.all, "interfaces[0].\"a\\x0ab\": unknown field, ignored\n"));
        wf_doc_free(d);
        d = NULL;
        free(t);

        t = build(&c3);
        CHECK(doc_parse(t, strlen(t), &d, &e, NULL, NULL) == 0);
        CHECK(d && d->n_ifaces == 0);
        wf_doc_free(d);
        d = NULL;
        free(t);

        t = build(&c4);
        CHECK(doc_parse(t, strlen(t), &d, &e, NULL, NULL) == 0);
        wf_doc_free(d);
        d = NULL;
        free(t);

        t = build(&c5);
        CHECK(doc_parse(t, strlen(t), &d, &e, NULL, NULL) == 0);
        CHECK(d && d->n_ifaces == 2 && d->ifaces[1].n_peers == 1 && d->ifaces[1].route_table == 100);
        wf_doc_free(d);
        d = NULL;
        free(t);
}

/* Peers are read one at a time (document-stream.c); a document that fails there is read again
 * as one tree: the message names the value and no warning is given twice. */
static void test_peer_stream(void) {
        struct rule_case late = { "late error", { { "interfaces[0].peers[0].color", "\"red\"" },
                                                  { "interfaces[0].peers[2].public_key", "\"x\"" } } };
        struct rule_case dup = { "cross-peer rule", { { "interfaces[0].peers[0].color", "\"red\"" },
                                                      { "interfaces[0].peers[1].name", "\"hub\"" } } };
        const char *spaced = "{\"schema\":\"wgfleet/desired-state/v1\",\"node\":\"n1\",\"revision\":1,"
                             "\"issued_at\":\"2026-11-22T00:00:00Z\",\"expires_at\":\"2036-11-22T00:00:00Z\","
                             "\"interfaces\":[{\"name\":\"wg0\",\"listen_port\":1,\"addresses\":[\"10.9.0.1/32\"],"
                             "\"peers\" : [ \n {\"name\":\"a\",\"public_key\":\"" K1 "\",\"allowed_ips\":[\"10.1.0.0/16\"]} ,"
                             "\t{\"name\":\"b\",\"public_key\":\"" K2 "\",\"allowed_ips\":[\"10.2.0.0/16\"],\"x\":[]}\r\n]}]}";
        struct wf_doc *d = NULL;
        struct wf_err e = {};
        struct tap_warnings w = {};
        char *t;

        t = build(&late);
        CHECK(doc_parse(t, strlen(t), &d, &e, tap_collect, &w) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "interfaces[0].peers[2].public_key: \"x\" ");
        CHECK(w.n == 1 && strstr(w.all, "interfaces[0].peers[0].color: unknown field, ignored\n"));
        free(t);
        w = (struct tap_warnings){};
        t = build(&dup);
        CHECK(doc_parse(t, strlen(t), &d, &e, tap_collect, &w) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "interfaces[0].peers[1].name: \"hub\" is a duplicate peer name");
        CHECK(w.n == 1);
        free(t);
        w = (struct tap_warnings){};
        CHECK(doc_parse(spaced, strlen(spaced), &d, &e, tap_collect, &w) == 0);
        CHECK(d && d->ifaces[0].n_peers == 2 && strcmp(d->ifaces[0].peers[1].name, "b") == 0 &&
              d->ifaces[0].peers[1].allowed_ips[0].addr[1] == 2);
        CHECK(w.n == 1 && strstr(w.all, "interfaces[0].peers[1].x: unknown field, ignored\n"));
        wf_doc_free(d);
}

static void test_deep_nesting(void) {
        /* Far beyond jansson's 2048 limit, in every position: must fail cleanly. */
        size_t n = 100000;
        char *s = malloc(2 * n + 32);
        struct wf_doc *d = NULL;
        struct wf_err e = {};

        memset(s, '[', n);
        memset(s + n, ']', n);
        CHECK(doc_parse(s, 2 * n, &d, &e, NULL, NULL) == -EINVAL);
        CHECK_STR_CONTAINS(e.msg, "maximum parsing depth reached");
        memcpy(s, "{\"x\":", 5);
        for (size_t i = 5; i < n; i++)
                s[i] = '{';
        CHECK(doc_parse(s, n, &d, &e, NULL, NULL) == -EINVAL);
        free(s);
        CHECK(d == NULL);
}

static void test_fresh(void) {
        struct rule_case none = { "valid" };
        _cleanup_free_ char *text = build(&none);
        struct wf_doc *d = NULL;
        struct wf_err e = {};
        struct wf_prefix ctl;
        const char *why;

        CHECK(doc_parse(text, strlen(text), &d, &e, NULL, NULL) == 0);
        if (!d)
                return;
        CHECK(doc_check_fresh(d, "n1", 1795305600, &e) == 0);
        CHECK(doc_check_fresh(d, NULL, 2110924799, &e) == 0);
        CHECK(doc_check_fresh(d, "n1", 2110924800, &e) == -ESTALE);
        CHECK(strcmp(e.msg, "expires_at: \"2036-11-22T00:00:00Z\" has passed (0 s ago)") == 0);
        CHECK(doc_check_fresh(d, "n2", 1795305600, &e) == -EINVAL);
        CHECK(strcmp(e.msg, "node: \"n1\" is not this node (\"n2\")") == 0);

        CHECK(wf_prefix_parse("198.51.100.7", false, &ctl, &why) == 0);
        CHECK(doc_check_underlay(d, &ctl, "the controller", &e) == 0); /* only an exit's /0 covers it */
        CHECK(wf_prefix_parse("192.168.3.4", false, &ctl, &why) == 0);
        CHECK(doc_check_underlay(d, &ctl, "the controller", &e) == -EINVAL);
        CHECK(strcmp(e.msg, "interfaces[0].peers[0].allowed_ips[1]: \"192.168.0.0/16\" covers the controller "
                            "192.168.3.4/32 (lockout)") == 0);
        /* inside the tunnel subnet of wg0 (fd00::1/64), which no peer carries: a connected
         * route on the tunnel, where packets for it are dropped */
        CHECK(wf_prefix_parse("fd00::77", false, &ctl, &why) == 0);
        CHECK(doc_check_underlay(d, &ctl, "the controller", &e) == -EINVAL);
        CHECK(strcmp(e.msg, "interfaces[0].addresses[1]: \"fd00::1/64\" puts the controller fd00::77/128 "
                            "on the tunnel (lockout)") == 0);
        wf_doc_free(d);
}

int main(void) {
        test_rules();
        test_valid();
        test_variants();
        test_peer_stream();
        test_deep_nesting();
        test_fresh();
        printf("%zu rule cases\n", ELEMENTSOF(cases));
        return TAP_DONE();
}
